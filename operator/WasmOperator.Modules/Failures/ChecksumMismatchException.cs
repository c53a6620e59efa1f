namespace WasmOperator.Modules.Failures;

/// <summary>The bytes fetched do not have the digest the user asked for.</summary>
public sealed class ChecksumMismatchException : ModuleFetchException
{
    /// <summary>Creates the error; <paramref name="what"/> says which digest was compared.</summary>
    public ChecksumMismatchException(string url, string expected, string actual, string what)
        : base(url, $"{what} of {url} is {actual} but sha256 requires {expected}; fix spec.sha256 or the url, or check that the artifact was not re-pushed")
    {
        Expected = expected;
        Actual = actual;
    }

    private ChecksumMismatchException(string url, string message)
        : base(url, message)
    {
    }

    /// <summary>The digest that was required (<c>sha256:…</c>).</summary>
    public string Expected { get; private init; } = string.Empty;

    /// <summary>The digest of what was actually fetched (<c>sha256:…</c>).</summary>
    public string Actual { get; private init; } = string.Empty;

    /// <summary>
    /// spec.sha256 of an oci url is the digest of what the module (its layer) is, not of the manifest it must name:
    /// said so, with the manifest digest to put there instead.
    /// </summary>
    internal static ChecksumMismatchException ModuleDigestGivenForOci(string url, string given, string manifestDigest) => new(
        url,
        $"sha256 {given} is the digest of the module in {url}, not of its manifest: for an oci url spec.sha256 is the manifest digest, "
        + $"here {manifestDigest}; set spec.sha256 to {Verification.Sha256Digest.Hex(manifestDigest)}")
    {
        Expected = given,
        Actual = manifestDigest,
    };

    /// <inheritdoc />
    public override string Result => "checksum_mismatch";
}
