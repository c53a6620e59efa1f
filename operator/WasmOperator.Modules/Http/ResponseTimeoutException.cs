namespace WasmOperator.Modules.Http;

/// <summary>A server stalled a request (no response head, or a pause in the body); an IOException so it is retried as a transport error.</summary>
internal sealed class ResponseTimeoutException(string where, string symptom, Exception? inner = null) : IOException($"{where} {symptom}", inner)
{
    /// <summary>The URL that stalled.</summary>
    public string Where { get; } = where;

    /// <summary>What the server did, without where: "did not answer within 300 ms".</summary>
    public string Symptom { get; } = symptom;
}
