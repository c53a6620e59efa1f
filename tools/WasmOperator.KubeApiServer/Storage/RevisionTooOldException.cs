namespace WasmOperator.KubeApiServer.Storage;

/// <summary>A watch asked for a revision older than the kept history (kube-apiserver answers 410 Expired).</summary>
internal sealed class RevisionTooOldException : Exception
{
    public RevisionTooOldException()
    {
    }

    public RevisionTooOldException(string message)
        : base(message)
    {
    }

    public RevisionTooOldException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public RevisionTooOldException(long requested, long oldest)
        : base($"too old resource version: {requested} ({oldest})")
    {
    }
}
