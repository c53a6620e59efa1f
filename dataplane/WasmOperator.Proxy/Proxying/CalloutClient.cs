using System.Buffers.Binary;
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

    public async Task<GrpcCalloutResponse> SendGrpcAsync(GrpcCalloutRequest request, CancellationToken cancellationToken)
    {
        var cluster = Resolve(request.Upstream);
        using var message = new HttpRequestMessage(HttpMethod.Post, new Uri(cluster, $"/{request.Service}/{request.Method}"))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        var frame = new byte[5 + request.Message.Length];
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)request.Message.Length);
        request.Message.CopyTo(frame.AsSpan(5));
        message.Content = new ByteArrayContent(frame);
        message.Content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        message.Headers.TryAddWithoutValidation("te", "trailers");
        foreach (var (name, value) in request.InitialMetadata.Entries)
        {
            message.Headers.TryAddWithoutValidation(name, value);
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(request.Timeout > TimeSpan.Zero ? request.Timeout : TimeSpan.FromSeconds(5));
        using var response = await _client.SendAsync(message, HttpCompletionOption.ResponseContentRead, timeout.Token).ConfigureAwait(false);
        var body = await response.Content.ReadAsByteArrayAsync(timeout.Token).ConfigureAwait(false);
        var initial = new HeaderMap();
        Copy(response.Headers, initial);
        var trailing = new HeaderMap();
        Copy(response.TrailingHeaders, trailing);
        var statusText = trailing.Get("grpc-status") ?? initial.Get("grpc-status");
        var status = int.TryParse(statusText, out var s) ? s : response.IsSuccessStatusCode ? 2 : 14;
        byte[]? payload = null;
        if (body.Length >= 5)
        {
            var length = (int)BinaryPrimitives.ReadUInt32BigEndian(body.AsSpan(1));
            payload = body.AsSpan(5, Math.Min(length, body.Length - 5)).ToArray();
        }

        return new GrpcCalloutResponse(status, trailing.Get("grpc-message") ?? initial.Get("grpc-message") ?? "", payload, initial, trailing);
    }

    private Uri Resolve(string upstream)
    {
        if (_options.Clusters.TryGetValue(upstream, out var uri))
        {
            return uri;
        }

        throw new InvalidOperationException($"callout to unknown cluster '{upstream}'; configured clusters: {string.Join(", ", _options.Clusters.Keys)}");
    }

    private static void Copy(HttpHeaders from, HeaderMap to)
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
