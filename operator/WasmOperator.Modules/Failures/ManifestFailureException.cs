namespace WasmOperator.Modules.Failures;

/// <summary>The reference could not be resolved to a usable manifest.</summary>
public sealed class ManifestFailureException : ModuleFetchException
{
    /// <summary>Creates the error; <paramref name="notFound"/> when the registry answered that the tag or digest does not exist (404).</summary>
    public ManifestFailureException(string url, string detail, Exception? inner = null, bool notFound = false)
        : base(url, $"{url}: cannot get the manifest: {detail}; check that the repository and tag or digest exist and the registry is reachable", inner)
    {
        NotFound = notFound;
    }

    /// <summary>The registry answered 404 for the manifest: the tag may not be pushed yet (a GitOps apply ahead of the image).</summary>
    public bool NotFound { get; }

    /// <inheritdoc />
    public override string Result => "manifest_failure";
}
