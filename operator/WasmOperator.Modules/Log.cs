using Microsoft.Extensions.Logging;

namespace WasmOperator.Modules;

/// <summary>Structured log messages of the fetcher and cache.</summary>
internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Information, "Fetched {Url} as {ModuleDigest} ({Size} bytes, {Format}) from {ResolvedRef}")]
    public static partial void Fetched(ILogger logger, string url, string moduleDigest, long size, ModuleFormat format, string resolvedRef);

    [LoggerMessage(2, LogLevel.Debug, "Cache hit for {Url}: {ModuleDigest}")]
    public static partial void CacheHit(ILogger logger, string url, string moduleDigest);

    [LoggerMessage(3, LogLevel.Warning, "Fetch of {Url} failed ({Result}): {Message}")]
    public static partial void FetchFailed(ILogger logger, string url, string result, string message);

    [LoggerMessage(4, LogLevel.Warning, "Cached module {ModuleDigest} is corrupt (hashes to {Actual}); it is removed and will be fetched again")]
    public static partial void CorruptEntry(ILogger logger, string moduleDigest, string actual);

    [LoggerMessage(5, LogLevel.Information, "Evicted unpinned module {ModuleDigest} from the cache")]
    public static partial void Evicted(ILogger logger, string moduleDigest);

    [LoggerMessage(6, LogLevel.Warning, "Could not delete cached module {ModuleDigest}: {Message}")]
    public static partial void DeleteFailed(ILogger logger, string moduleDigest, string message);

    [LoggerMessage(7, LogLevel.Warning, "Cache index {Path} is unreadable and is ignored: {Message}")]
    public static partial void IndexUnreadable(ILogger logger, string path, string message);

    [LoggerMessage(8, LogLevel.Warning, "Pull verifications {Path} are unreadable and are ignored; each credential asks the registry again: {Message}")]
    public static partial void VerificationsUnreadable(ILogger logger, string path, string message);

    [LoggerMessage(9, LogLevel.Warning, "Pull verifications could not be saved to {Path}; after a restart each credential asks the registry again: {Message}")]
    public static partial void VerificationsNotSaved(ILogger logger, string path, string message);

    [LoggerMessage(10, LogLevel.Warning, "Registry {Host} is failing ({Failures} attempts in a row since {FailingSince:u}, last: {LastError}): fetches from it fail at once until {RetryAt:u}, then one is tried")]
    public static partial void CircuitOpened(ILogger logger, string host, int failures, DateTimeOffset failingSince, string lastError, DateTimeOffset retryAt);

    [LoggerMessage(11, LogLevel.Information, "Registry {Host} answers again (failing since {FailingSince:u}): fetches from it go ahead")]
    public static partial void CircuitClosed(ILogger logger, string host, DateTimeOffset failingSince);

    [LoggerMessage(12, LogLevel.Debug, "Registry {Host} still fails ({LastError}); tried again at {RetryAt:u}")]
    public static partial void CircuitStillOpen(ILogger logger, string host, string lastError, DateTimeOffset retryAt);
}
