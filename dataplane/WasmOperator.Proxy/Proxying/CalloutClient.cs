using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Net.Http.Headers;
using WasmOperator.Proxy.Configuration;
using WasmOperator.ProxyWasm.Host;

namespace WasmOperator.Proxy.Proxying;

/// <summary>
/// Sends plugin callouts (HTTP and unary gRPC) to the named clusters of the configuration through
/// one pooled <see cref="HttpClient"/>, each with the timeout the plugin asked for.
/// </summary>
internal sealed class CalloutClient : IDisposable
{
    private readonly HttpClient _client;
    private readonly ProxyOptions _options;

    public CalloutClient(ProxyOptions options)
    {
        _options = options;
        _client = new HttpClient(new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            UseCookies = false,
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            ConnectTimeout = TimeSpan.FromSeconds(5),
        })
        { Timeout = Timeout.InfiniteTimeSpan };
    }

    public async Task<HttpCalloutResponse> SendHttpAsync(HttpCalloutRequest request, CancellationToken cancellationToken)
    {
        var cluster = Resolve(request.Upstream);
        var path = request.Headers.Get(":path") ?? "/";
        using var message = new HttpRequestMessage(new HttpMethod(request.Headers.Get(":method") ?? "GET"), new Uri(cluster, path));
        if (request.Body.Length > 0)
        {
            message.Content = new ByteArrayContent(request.Body);
        }

        foreach (var (name, value) in request.Headers.Entries)
        {
            if (name.StartsWith(':'))
            {
                continue;
            }

            if (!message.Headers.TryAddWithoutValidation(name, value))
            {
                message.Content ??= new ByteArrayContent([]);
                message.Content.Headers.TryAddWithoutValidation(name, value);
            }
        }

        if (request.Headers.Get(":authority") is { } authority)
        {
            message.Headers.Host = authority;
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(request.Timeout > TimeSpan.Zero ? request.Timeout : TimeSpan.FromSeconds(5));
        using var response = await _client.SendAsync(message, HttpCompletionOption.ResponseContentRead, timeout.Token).ConfigureAwait(false);
        var headers = new HeaderMap();
        headers.Add(":status", ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture));
        Copy(response.Headers, headers);
        Copy(response.Content.Headers, headers);
        var body = await response.Content.ReadAsByteArrayAsync(timeout.Token).ConfigureAwait(false);
        var trailers = new HeaderMap();
        Copy(response.TrailingHeaders, trailers);
        return new HttpCalloutResponse(headers, body, trailers);
    }

    /// <summary>
    /// A unary gRPC call: the plugin's serialized message in one 5-byte-prefixed frame, the first
    /// response message out; status and message from the trailers (or a trailers-only reply). An
    /// unknown cluster or an unreachable upstream is status 14 (UNAVAILABLE), the timeout 4
    /// (DEADLINE_EXCEEDED), as Envoy's async client reports them.
    /// </summary>
    public async Task<GrpcCalloutResponse> SendGrpcAsync(GrpcCalloutRequest request, CancellationToken cancellationToken)
    {
        if (!TryResolve(request.Upstream, out var cluster, out var unknown))
        {
            return Failed(GrpcStatus.Unavailable, unknown);
        }

        using var message = GrpcRequest(cluster, request.Service, request.Method, request.InitialMetadata);
        message.Content = new ByteArrayContent(GrpcFraming.Frame(request.Message));
        message.Content.Headers.ContentType = GrpcContentType;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(request.Timeout > TimeSpan.Zero ? request.Timeout : TimeSpan.FromSeconds(5));
        try
        {
            using var response = await _client.SendAsync(message, HttpCompletionOption.ResponseContentRead, timeout.Token).ConfigureAwait(false);
            var body = await response.Content.ReadAsByteArrayAsync(timeout.Token).ConfigureAwait(false);
            var initial = ToMap(response.Headers, response.Content.Headers);
            var trailing = new HeaderMap();
            Copy(response.TrailingHeaders, trailing);
            var (status, statusMessage) = GrpcStatus.From(response, initial, trailing);
            byte[]? payload = null;
            if (GrpcFraming.TryRead(body, out var first, out _))
            {
                payload = first;
            }

            return new GrpcCalloutResponse(status, statusMessage, payload, initial, trailing);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return Failed(GrpcStatus.DeadlineExceeded, $"gRPC call {request.Service}/{request.Method} to cluster '{request.Upstream}' exceeded its {request.Timeout.TotalMilliseconds:F0} ms timeout");
        }
        catch (HttpRequestException ex)
        {
            return Failed(GrpcStatus.Unavailable, $"gRPC call to cluster '{request.Upstream}' failed: {ex.Message}");
        }
    }

    /// <summary>Opens a streaming gRPC call (<c>proxy_grpc_stream</c>); responses are reported to <paramref name="events"/>.</summary>
    public IGrpcStream OpenGrpcStream(GrpcStreamRequest request, IGrpcStreamEvents events)
    {
        if (!TryResolve(request.Upstream, out var cluster, out var unknown))
        {
            events.OnClose(GrpcStatus.Unavailable, unknown);
            return GrpcStreamCall.Closed;
        }

        var message = GrpcRequest(cluster, request.Service, request.Method, request.InitialMetadata);
        return GrpcStreamCall.Start(_client, message, events);
    }

    private static HttpRequestMessage GrpcRequest(Uri cluster, string service, string method, HeaderMap metadata)
    {
        var message = new HttpRequestMessage(HttpMethod.Post, new Uri(cluster, $"/{service}/{method}"))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        message.Headers.TryAddWithoutValidation("te", "trailers");
        foreach (var (name, value) in metadata.Entries)
        {
            if (!name.StartsWith(':'))
            {
                message.Headers.TryAddWithoutValidation(name, value);
            }
        }

        return message;
    }

    private static GrpcCalloutResponse Failed(int status, string message) => new(status, message, null, new HeaderMap(0), new HeaderMap(0));

    internal static MediaTypeHeaderValue GrpcContentType { get; } = new("application/grpc");

    internal static HeaderMap ToMap(HttpHeaders headers, HttpHeaders contentHeaders)
    {
        var map = new HeaderMap();
        Copy(headers, map);
        Copy(contentHeaders, map);
        return map;
    }

    private bool TryResolve(string upstream, [NotNullWhen(true)] out Uri? cluster, out string error)
    {
        if (_options.Clusters.TryGetValue(upstream, out cluster))
        {
            error = "";
            return true;
        }

        error = $"unknown cluster '{upstream}'; configured clusters: {string.Join(", ", _options.Clusters.Keys)}";
        return false;
    }

    private Uri Resolve(string upstream)
    {
        if (_options.Clusters.TryGetValue(upstream, out var uri))
        {
            return uri;
        }

        throw new InvalidOperationException($"callout to unknown cluster '{upstream}'; configured clusters: {string.Join(", ", _options.Clusters.Keys)}");
    }

    internal static void Copy(HttpHeaders from, HeaderMap to)
    {
        foreach (var header in from.NonValidated)
        {
            foreach (var value in header.Value)
            {
                to.Add(header.Key, value);
            }
        }
    }

    public void Dispose() => _client.Dispose();
}
