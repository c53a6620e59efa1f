using System.Collections.Concurrent;
using System.Text;
using WasmOperator.ProxyWasm.Abi;
using WasmOperator.ProxyWasm.Host;

namespace WasmOperator.ProxyWasm.Tests.Support;

/// <summary>A plugin host that records log lines and answers callouts with a test-supplied handler.</summary>
internal sealed class TestPluginHost : IPluginHost
{
    public ConcurrentQueue<(ProxyLogLevel Level, string Message)> Logs { get; } = new();

    public ConcurrentQueue<HttpCalloutRequest> HttpCallouts { get; } = new();

    /// <summary>The cancellation handed to each HTTP callout, in call order.</summary>
    public ConcurrentQueue<CancellationToken> HttpCalloutCancellations { get; } = new();

    public Func<HttpCalloutRequest, Task<HttpCalloutResponse>> HttpHandler { get; set; } =
        _ => Task.FromException<HttpCalloutResponse>(new InvalidOperationException("no upstream"));

    public Func<GrpcCalloutRequest, Task<GrpcCalloutResponse>> GrpcHandler { get; set; } =
        _ => Task.FromException<GrpcCalloutResponse>(new InvalidOperationException("no upstream"));

    public Dictionary<string, string> Properties { get; } = [];

    public Task<HttpCalloutResponse> SendHttpCalloutAsync(HttpCalloutRequest request, CancellationToken cancellationToken)
    {
        HttpCallouts.Enqueue(request);
        HttpCalloutCancellations.Enqueue(cancellationToken);
        return HttpHandler(request);
    }

    public Task<GrpcCalloutResponse> SendGrpcCalloutAsync(GrpcCalloutRequest request, CancellationToken cancellationToken) =>
        GrpcHandler(request);

    public bool TryGetProperty(string path, out byte[] value)
    {
        if (Properties.TryGetValue(path, out var text))
        {
            value = Encoding.UTF8.GetBytes(text);
            return true;
        }

        value = [];
        return false;
    }

    public void Log(ProxyLogLevel level, string message) => Logs.Enqueue((level, message));

    public List<string> Messages() => Logs.Select(l => l.Message).ToList();

    /// <summary>Waits (bounded, not a timing assertion) until a log line satisfies <paramref name="predicate"/>.</summary>
    public async Task<bool> WaitForLogAsync(Func<string, bool> predicate, int timeoutMs = 10_000)
    {
        var until = DateTime.UtcNow.AddMilliseconds(timeoutMs);
        while (DateTime.UtcNow < until)
        {
            if (Logs.Any(l => predicate(l.Message)))
            {
                return true;
            }

            await Task.Delay(10);
        }

        return false;
    }
}
