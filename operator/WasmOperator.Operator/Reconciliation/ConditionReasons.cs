namespace WasmOperator.Operator.Reconciliation;

/// <summary>The CamelCase reasons written on the status conditions (the types are the API's ConditionTypes).</summary>
internal static class ConditionReasons
{
    public const string Succeeded = "Succeeded";
    public const string Progressing = "Progressing";
    public const string InvalidSpec = "InvalidSpec";
    public const string Unsupported = "Unsupported";
    public const string InvalidUrl = "InvalidUrl";
    public const string DigestMismatch = "DigestMismatch";
    public const string AbiRejected = "AbiRejected";
    public const string FetchFailed = "FetchFailed";
    public const string AuthFailed = "AuthFailed";
    public const string PullSecretNotFound = "PullSecretNotFound";
}
