using System.Collections.Concurrent;
using WasmOperator.ProxyWasm.Abi;
using WasmOperator.ProxyWasm.Host;

namespace WasmOperator.ProxyWasm.Tests.Support;

/// <summary>
/// A plugin host with streaming gRPC: "grpc-cluster" accepts streams and, when the plugin ends its side
/// (end_stream on a send), answers synchronously from inside the send with initial metadata x=y, messages
/// "r1" and "r2", trailing metadata t=tv and close status 0 "done"; Close answers close status 0
/// "closed". Any other upstream is unknown (null). Every call is recorded in <see cref="Calls"/>.
/// </summary>
internal sealed class StreamingPluginHost : IPluginHost
{
    public TestPluginHost Inner { get; } = new();

    public ConcurrentQueue<string> Calls { get; } = new();

    public ConcurrentQueue<GrpcStreamRequest> Opened { get; } = new();

    public Task<HttpCalloutResponse> SendHttpCalloutAsync(HttpCalloutRequest request, CancellationToken cancellationToken) =>
        Inner.SendHttpCalloutAsync(request, cancellationToken);

    public Task<GrpcCalloutResponse> SendGrpcCalloutAsync(GrpcCalloutRequest request, CancellationToken cancellationToken) =>
        Inner.SendGrpcCalloutAsync(request, cancellationToken);

    public IGrpcStream? OpenGrpcStream(GrpcStreamRequest request, IGrpcStreamEvents events)
    {
        Opened.Enqueue(request);
        return request.Upstream == "grpc-cluster" ? new Stream(this, events) : null;
    }

    public bool TryGetProperty(string path, out byte[] value) => Inner.TryGetProperty(path, out value);

    public void Log(ProxyLogLevel level, string message) => Inner.Log(level, message);

    private sealed class Stream(StreamingPluginHost host, IGrpcStreamEvents events) : IGrpcStream
    {
        public void Send(byte[] message, bool endOfStream)
        {
            host.Calls.Enqueue($"send {System.Text.Encoding.UTF8.GetString(message)} {endOfStream}");
            if (endOfStream)
            {
                var initial = new HeaderMap();
                initial.Add("x", "y");
                events.OnInitialMetadata(initial);
                events.OnMessage("r1"u8.ToArray());
                events.OnMessage("r2"u8.ToArray());
                var trailing = new HeaderMap();
                trailing.Add("t", "tv");
                events.OnTrailingMetadata(trailing);
                events.OnClose(0, "done");
            }
        }

        public void Close()
        {
            host.Calls.Enqueue("close");
            events.OnClose(0, "closed");
        }

        public void Cancel() => host.Calls.Enqueue("cancel");
    }
}
