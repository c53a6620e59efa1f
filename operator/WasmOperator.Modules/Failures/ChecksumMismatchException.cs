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

    /// <summary>The digest that was required (<c>sha256:…</c>).</summary>
    public string Expected { get; }

    /// <summary>The digest of what was actually fetched (<c>sha256:…</c>).</summary>
    public string Actual { get; }

    /// <inheritdoc />
    public override string Result => "checksum_mismatch";
}
