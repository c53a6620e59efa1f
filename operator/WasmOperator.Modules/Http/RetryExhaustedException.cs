namespace WasmOperator.Modules.Http;

/// <summary>Every attempt failed transiently; the caller turns it into a manifest or download failure.</summary>
internal sealed class RetryExhaustedException(int attempts, Exception last)
    : Exception($"{Describe(last)} (after {attempts} attempt{(attempts == 1 ? string.Empty : "s")})", last)
{
    public int Attempts { get; } = attempts;

    private static string Describe(Exception last) => last switch
    {
        OperationCanceledException => "the request timed out",
        HttpRequestException { InnerException: { } inner } http => $"{http.Message} {inner.Message}",
        _ => last.Message,
    };
}
