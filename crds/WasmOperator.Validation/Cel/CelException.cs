namespace WasmOperator.Validation.Cel;

/// <summary>A CEL expression failed to parse or to evaluate.</summary>
internal sealed class CelException : Exception
{
    public CelException(string message)
        : base(message)
    {
    }

    public CelException()
    {
    }

    public CelException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
