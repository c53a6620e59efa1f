namespace WasmOperator.Modules.Failures;

/// <summary>The module bytes could not be downloaded intact (after retries).</summary>
public sealed class DownloadFailureException : ModuleFetchException
{
    /// <summary>Creates the error.</summary>
    public DownloadFailureException(string url, string detail, Exception? inner = null)
        : base(url, $"{url}: download failed: {detail}; check that the source is reachable and serves the complete content, then retry", inner)
    {
    }

    /// <inheritdoc />
    public override string Result => "download_failure";
}
