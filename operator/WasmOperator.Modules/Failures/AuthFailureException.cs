namespace WasmOperator.Modules.Failures;

/// <summary>The registry refused the credentials (or none were given and it wants some).</summary>
public sealed class AuthFailureException : ModuleFetchException
{
    /// <summary>Creates the error.</summary>
    public AuthFailureException(string url, string detail, Exception? inner = null)
        : this(url, detail, "check imagePullSecret (a kubernetes.io/dockerconfigjson Secret with an entry for this registry host)", inner)
    {
    }

    private AuthFailureException(string url, string detail, string remedy, Exception? inner)
        : base(url, $"{url}: authentication failed: {detail}; {remedy}", inner)
    {
    }

    /// <summary>
    /// The registry wants credentials and the request went without: no pull secret, or none of its entries is for
    /// <paramref name="registry"/>. Said so, as "refused the credentials" blamed credentials never sent.
    /// </summary>
    internal static AuthFailureException NoCredentialsSent(string url, string registry, string refusal) => new(
        url,
        $"{refusal}; no credentials were sent, as the plugin has no spec.imagePullSecret or its Secret has no entry for {registry}",
        $"set spec.imagePullSecret to a Secret of type kubernetes.io/dockerconfigjson in the plugin's namespace with an entry for {registry}",
        null);

    /// <summary>The pull secret's payload is not a dockerconfigjson document: <paramref name="detail"/> says why and where, <paramref name="remedy"/> how to recreate it.</summary>
    internal static AuthFailureException UnreadablePullSecret(string url, string detail, string remedy) => new(url, detail, remedy, null);

    /// <inheritdoc />
    public override string Result => "auth_failure";
}
