namespace WasmOperator.Modules.Failures;

/// <summary>The module (or the layer holding it) is bigger than the configured maximum.</summary>
public sealed class ModuleTooLargeException : ModuleFetchException
{
    /// <summary>Creates the error; the message tells to raise <c>setting</c> (<see cref="ModuleFetcherOptions.MaxModuleBytesSetting"/>).</summary>
    public ModuleTooLargeException(string url, long size, long limit, string setting)
        : base(url, $"{url}: the module is larger than the limit of {limit} bytes (at least {size} bytes); shrink the module, or raise {setting}")
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
}
