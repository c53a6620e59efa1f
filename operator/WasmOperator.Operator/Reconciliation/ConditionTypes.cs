namespace WasmOperator.Operator.Reconciliation;

/// <summary>The condition types and reasons written to status (kstatus: Ready, Reconciling, Stalled).</summary>
internal static class ConditionTypes
{
    public const string Ready = "Ready";
    public const string Reconciling = "Reconciling";
    public const string Stalled = "Stalled";
    public const string ModuleVerified = "ModuleVerified";

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
