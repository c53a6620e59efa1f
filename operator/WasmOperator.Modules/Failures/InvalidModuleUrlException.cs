namespace WasmOperator.Modules.Failures;

/// <summary>The URL, the sha256 or their combination is not acceptable.</summary>
public sealed class InvalidModuleUrlException : ModuleFetchException
{
    /// <summary>Creates the error.</summary>
    public InvalidModuleUrlException(string url, string detail)
        : base(url, $"{url}: {detail}")
    {
    }

    /// <inheritdoc />
    public override string Result => "invalid_url";
}
