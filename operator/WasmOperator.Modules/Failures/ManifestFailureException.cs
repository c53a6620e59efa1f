namespace WasmOperator.Modules.Failures;

/// <summary>The reference could not be resolved to a usable manifest.</summary>
public sealed class ManifestFailureException : ModuleFetchException
{
    /// <summary>Creates the error.</summary>
    public ManifestFailureException(string url, string detail, Exception? inner = null)
        : base(url, $"{url}: cannot get the manifest: {detail}; check that the repository and tag or digest exist and the registry is reachable", inner)
    {
    }

    /// <inheritdoc />
    public override string Result => "manifest_failure";
}
