namespace WasmOperator.Modules.Failures;

/// <summary>The registry refused the credentials (or none were given and it wants some).</summary>
public sealed class AuthFailureException : ModuleFetchException
{
    /// <summary>Creates the error.</summary>
    public AuthFailureException(string url, string detail, Exception? inner = null)
        : base(url, $"{url}: authentication failed: {detail}; check imagePullSecret (a kubernetes.io/dockerconfigjson Secret with an entry for this registry host)", inner)
    {
    }

    /// <inheritdoc />
    public override string Result => "auth_failure";
}
