namespace WasmOperator.Modules.Failures;

/// <summary>The module (or the layer holding it) is bigger than the configured maximum.</summary>
public sealed class ModuleTooLargeException : ModuleFetchException
{
    /// <summary>Creates the error.</summary>
    public ModuleTooLargeException(string url, long size, long limit)
        : base(url, $"{url}: the module is larger than the limit of {limit} bytes (at least {size} bytes); " + Remedy(limit))
    {
        Size = size;
        Limit = limit;
    }

    /// <summary>Bytes seen (announced or read) when the limit was crossed.</summary>
    public long Size { get; }

    /// <summary>The configured maximum.</summary>
    public long Limit { get; }

    /// <inheritdoc />
    public override string Result => "download_failure";

    // The operator's limit is fixed at 256 MiB and lowered only by a smaller cache (--cache-max-bytes): there is no setting to raise it further.
    private static string Remedy(long limit) => limit < ModuleFetcherOptions.DefaultMaxModuleBytes
        ? $"shrink the module, or raise the operator's --cache-max-bytes (env WASMOP_CACHE_MAX_BYTES), which caps the module size below the fixed maximum of {ModuleFetcherOptions.DefaultMaxModuleBytes} bytes (256 MiB)"
        : "shrink the module: the operator accepts modules up to 256 MiB, a fixed maximum";
}
