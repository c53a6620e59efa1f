using System.Text;
using WasmOperator.ProxyWasm.Abi;
using WasmOperator.ProxyWasm.Host;
using WasmOperator.ProxyWasm.Runtime;

namespace WasmOperator.ProxyWasm.Tests.Support;

/// <summary>One request as a proxy would present it, recording what the plugin asked for later.</summary>
internal sealed class TestStreamHost : IHttpStreamHost
{
    private readonly TaskCompletionSource<string> _resumed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>A request padded to <paramref name="count"/> headers: the trap fixtures pick their behaviour by header count.</summary>
    public static TestStreamHost WithRequestHeaders(int count)
    {
        var request = new TestStreamHost();
        for (var i = request.RequestHeaders.Count; i < count; i++)
        {
            request.RequestHeaders.Add($"x-h{i}", "v");
        }

        return request;
    }

    public TestStreamHost(string method = "GET", string path = "/", string authority = "example.test")
    {
        RequestHeaders.Add(":method", method);
        RequestHeaders.Add(":path", path);
        RequestHeaders.Add(":authority", authority);
        RequestHeaders.Add(":scheme", "http");
        ResponseHeaders.Add(":status", "200");
        Properties["request.path"] = path;
    }

    public HeaderMap RequestHeaders { get; } = new();

    public HeaderMap ResponseHeaders { get; } = new();

    public HeaderMap RequestTrailers { get; } = new();

    public HeaderMap ResponseTrailers { get; } = new();

    /// <summary>
    /// False for a request (and response) that has no trailers, as a proxy presents one before trailers came or
    /// when none will: the trailer maps are then not there at all (null), not empty.
    /// </summary>
    public bool HasTrailers { get; init; } = true;

    public BodyBuffer RequestBody { get; } = new();

    public BodyBuffer ResponseBody { get; } = new();

    public Dictionary<string, string> Properties { get; } = [];

    public LocalResponse? LocalResponse { get; private set; }

    public PluginFailure? Failure { get; private set; }

    public List<StreamType> Continued { get; } = [];

    /// <summary>Completes with "continue", "local" or "failure" when the plugin resumes a paused stream.</summary>
    public Task<string> Resumed => _resumed.Task;

    public HeaderMap? GetHeaderMap(MapType type) => type switch
    {
        MapType.RequestHeaders => RequestHeaders,
        MapType.ResponseHeaders => ResponseHeaders,
        MapType.RequestTrailers => HasTrailers ? RequestTrailers : null,
        MapType.ResponseTrailers => HasTrailers ? ResponseTrailers : null,
        _ => null,
    };

    public BodyBuffer? GetBody(BufferType type) => type switch
    {
        BufferType.RequestBody => RequestBody,
        BufferType.ResponseBody => ResponseBody,
        _ => null,
    };

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

    public bool TrySetProperty(string path, ReadOnlySpan<byte> value)
    {
        Properties[path] = Encoding.UTF8.GetString(value);
        return true;
    }

    public void ContinueStream(StreamType type)
    {
        lock (Continued)
        {
            Continued.Add(type);
        }

        _resumed.TrySetResult("continue");
    }

    public void CloseStream(StreamType type) => _resumed.TrySetResult("close");

    public void SendLocalResponse(LocalResponse response)
    {
        LocalResponse = response;
        _resumed.TrySetResult("local");
    }

    public void OnPluginFailure(PluginFailure failure)
    {
        Failure = failure;
        _resumed.TrySetResult("failure");
    }
}
