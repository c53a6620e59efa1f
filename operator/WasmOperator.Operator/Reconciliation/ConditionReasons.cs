namespace WasmOperator.Operator.Reconciliation;

/// <summary>The CamelCase reasons written on the status conditions (the types are the API's ConditionTypes).</summary>
internal static class ConditionReasons
{
    public const string Succeeded = "Succeeded";
    public const string Progressing = "Progressing";
    public const string InvalidSpec = "InvalidSpec";
    public const string Unsupported = "Unsupported";
    public const string InvalidUrl = "InvalidUrl";

    /// <summary>The url serves something that is not a Wasm module (or not in a format the operator reads).</summary>
    public const string NotWasm = "NotWasm";

    /// <summary>The url serves a module over the operator's size limit.</summary>
    public const string ModuleTooLarge = "ModuleTooLarge";
    public const string DigestMismatch = "DigestMismatch";
    public const string AbiRejected = "AbiRejected";
    public const string FetchFailed = "FetchFailed";

    /// <summary>The module's registry keeps failing; it is not tried until its circuit breaker's cooldown ends.</summary>
    public const string RegistryUnavailable = "RegistryUnavailable";
    public const string AuthFailed = "AuthFailed";

    /// <summary>
    /// The TLS certificate of the module's server or registry is not trusted, expired or for another name: retrying soon
    /// gets the same one, so the plugin is stalled, and its url tried again on the re-resolve interval.
    /// </summary>
    public const string CertificateRejected = "CertificateRejected";
    public const string PullSecretNotFound = "PullSecretNotFound";
}
