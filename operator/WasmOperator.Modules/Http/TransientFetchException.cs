namespace WasmOperator.Modules.Http;

/// <summary>An attempt failed in a way worth retrying (5xx, 429, a cut or corrupt transfer).</summary>
internal sealed class TransientFetchException(string message, TimeSpan? retryAfter = null, Exception? inner = null)
    : Exception(message, inner)
{
    public TimeSpan? RetryAfter { get; } = retryAfter;
}
