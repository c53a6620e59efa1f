using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using Microsoft.AspNetCore.Connections.Features;
using WasmOperator.Proxy.Forwarding;
using WasmOperator.ProxyWasm.Host;

namespace WasmOperator.Proxy.Proxying;

/// <summary>The Envoy attributes plugins read of the exchange (<c>proxy_get_property</c>) and the filter state they set.</summary>
internal sealed partial class Exchange
{
    private long _responseFlags;
    private string? _transportFailure;
    private Http1Connection? _upstreamConnection;
    private int _retries;

    // What the properties read of the HttpContext, kept when the exchange completes while a LOG_ONLY plugin's stream
    // context lingers (StreamHost.Linger): Kestrel reuses the context once the request is over. Null until then.
    private volatile ContextFacts? _facts;

    private sealed record ContextFacts(
        string Protocol, int StatusCode, IPAddress? RemoteAddress, int RemotePort, IPAddress? LocalAddress, int LocalPort, long ConnectionId, string Cluster);

    private ContextFacts KeepContextFacts()
    {
        var connection = Context.Connection;
        return new ContextFacts(Context.Request.Protocol, Context.Response.StatusCode, connection.RemoteIpAddress, connection.RemotePort,
            connection.LocalIpAddress, connection.LocalPort, ConnectionId(), _options.ClusterFor(Context.Request.Path));
    }

    void IUpstreamResponseObserver.OnUpstreamConnection(Http1Connection connection)
    {
        _upstreamConnection = connection;
        ForwardingOn(connection);
    }

    void IUpstreamResponseObserver.OnRetry() => Interlocked.Increment(ref _retries);

    /// <summary>Records a response flag (<see cref="ResponseFlags"/>) for <c>response.flags</c>; flags accumulate, as Envoy's do.</summary>
    public void SetResponseFlag(long flag) => _responseFlags |= flag;

    /// <summary>
    /// Records how forwarding failed: its response flag, and for a connection that could not be made what went wrong
    /// (<c>upstream.transport_failure_reason</c>, Envoy's reason the connection pool failed).
    /// </summary>
    public void ForwardFailed(ForwardResult result, string? detail)
    {
        _responseFlags |= ResponseFlags.For(result);
        if (result is ForwardResult.ConnectFailed or ForwardResult.ConnectTimedOut)
        {
            _transportFailure = detail;
        }
    }

    /// <summary>
    /// Envoy attribute paths, encoded as Envoy does: strings as UTF-8, integers, timestamps and durations
    /// (nanoseconds) as 8-byte little-endian, booleans as one byte, header maps in the pairs encoding.
    /// </summary>
    public bool TryGetProperty(StreamHost? host, string path, out byte[] value)
    {
        var facts = _facts;
        var headers = host?.RequestHeaders ?? RequestHeaders;
        var responseHeaders = host?.ResponseHeaders ?? ResponseHeaders;
        string? text = null;
        long? number = null;
        byte[]? raw = null;
        switch (path)
        {
            case "request.path": text = headers.Get(":path"); break;
            case "request.url_path":
                text = headers.Get(":path");
                var q = text?.IndexOf('?', StringComparison.Ordinal) ?? -1;
                text = q >= 0 ? text![..q] : text;
                break;
            case "request.query":
                text = headers.Get(":path");
                var question = text?.IndexOf('?', StringComparison.Ordinal) ?? -1;
                text = text is null ? null : question >= 0 ? text[(question + 1)..] : "";
                break;
            case "request.host": text = headers.Get(":authority"); break;
            case "request.scheme": text = headers.Get(":scheme"); break;
            case "request.method": text = headers.Get(":method"); break;
            case "request.id": text = headers.Get("x-request-id"); break;
            case "request.protocol": text = facts?.Protocol ?? Context.Request.Protocol; break;
            case "request.referer": text = headers.Get("referer"); break;
            case "request.useragent": text = headers.Get("user-agent"); break;
            case "request.headers": raw = HeaderProperty(headers); break;
            case "request.size": number = RequestSize(headers); break;
            case "request.total_size": number = headers.ByteSize + RequestBytes; break;
            case "request.time": number = StartTime(); break;
            // Known once the exchange is complete (in on_log and on_done), as in Envoy.
            case "request.duration": number = _completed == 0 ? null : (long)Stopwatch.GetElapsedTime(_started, _completed).Ticks * 100; break;
            case "response.code": number = responseHeaders is null ? null : facts?.StatusCode ?? Context.Response.StatusCode; break;
            // Envoy's details for a stream whose client left before any response: downstream_remote_disconnect.
            case "response.code_details":
                text = Reply?.Details ?? (responseHeaders is not null ? "via_upstream"
                    : (_responseFlags & ResponseFlags.DownstreamConnectionTermination) != 0 ? "downstream_remote_disconnect" : null);
                break;
            // Envoy's getGrpcStatus: the trailers', else the headers' (a trailers-only reply), else the HTTP status mapped.
            case "response.grpc_status":
                number = GrpcStatusOf(host?.ResponseTrailers ?? ResponseTrailers) ?? GrpcStatusOf(responseHeaders) ??
                    (responseHeaders is null ? null : GrpcStatus.FromHttp(facts?.StatusCode ?? Context.Response.StatusCode));
                break;
            case "response.headers": raw = responseHeaders is null ? null : HeaderProperty(responseHeaders); break;
            case "response.trailers": raw = (host?.ResponseTrailers ?? ResponseTrailers) is { } trailers ? HeaderProperty(trailers) : null; break;
            case "response.flags": number = _responseFlags | (EndedByStreamIdleTimeout ? ResponseFlags.StreamIdleTimeout : 0); break;
            case "response.size": number = ResponseBytes; break;
            case "response.total_size": number = responseHeaders is null ? null : responseHeaders.ByteSize + ResponseBytes; break;
            case "source.address":
                text = facts is null ? AddressText(Context.Connection.RemoteIpAddress, Context.Connection.RemotePort) : AddressText(facts.RemoteAddress, facts.RemotePort);
                break;
            case "source.port": number = facts?.RemotePort ?? Context.Connection.RemotePort; break;
            case "destination.address":
                text = facts is null ? AddressText(Context.Connection.LocalIpAddress, Context.Connection.LocalPort) : AddressText(facts.LocalAddress, facts.LocalPort);
                break;
            case "destination.port": number = facts?.LocalPort ?? Context.Connection.LocalPort; break;
            case "connection.id" or "connection_id": number = facts?.ConnectionId ?? ConnectionId(); break;
            // The listeners are plain text: no TLS, so no peer certificate and no SNI either (Envoy's "" for no SNI).
            case "connection.mtls": raw = [0]; break;
            case "connection.requested_server_name": text = ""; break;
            // The address connected to when the HTTP/1.1 forwarder made the connection; through YARP (gRPC, TLS
            // upstreams), the cluster's host and port as configured.
            case "upstream.address":
                text = _upstreamConnection?.RemoteEndPoint is { } remote ? AddressText(remote.Address, remote.Port)
                    : Upstream is { } upstream ? $"{upstream.Address.Host}:{upstream.Address.Port}" : null;
                break;
            case "upstream.port": number = _upstreamConnection?.RemoteEndPoint?.Port ?? Upstream?.Address.Port; break;
            case "upstream.local_address": text = _upstreamConnection?.LocalEndPoint is { } local ? AddressText(local.Address, local.Port) : null; break;
            // Once forwarded; "" when the connection was made (Envoy's, without TLS).
            case "upstream.transport_failure_reason": text = Upstream is null ? null : _transportFailure ?? ""; break;
            // Envoy's attempt count: 2 once the HTTP/1.1 forwarder sent the request again after a stale connection
            // (HttpClient's own retries, on YARP's path, are not seen).
            case "upstream.request_attempt_count": number = Upstream is null ? 0 : 1 + Volatile.Read(ref _retries); break;
            // Known from the request's route before it is forwarded, as Envoy's (routes match on the path as plugins left it).
            case "cluster_name" or "xds.cluster_name": text = Upstream?.Name ?? facts?.Cluster ?? _options.ClusterFor(Context.Request.Path); break;
            // Routes have no names: Envoy's "" for an unnamed route.
            case "route_name" or "xds.route_name" or "xds.filter_chain_name": text = ""; break;
            // Metadata messages (envoy.config.core.v3.Metadata) this proxy's routes, clusters, hosts and requests carry none of.
            case "metadata" or "cluster_metadata" or "xds.cluster_metadata" or "route_metadata" or "xds.route_metadata": raw = []; break;
            case "upstream_host_metadata" or "xds.upstream_host_metadata": raw = Upstream is null ? null : []; break;
            default:
                if (path.StartsWith("request.headers.", StringComparison.Ordinal))
                {
                    text = AllValues(headers, path["request.headers.".Length..]);
                }
                else if (path.StartsWith("response.headers.", StringComparison.Ordinal))
                {
                    text = AllValues(responseHeaders, path["response.headers.".Length..]);
                }
                else if (path.StartsWith("response.trailers.", StringComparison.Ordinal))
                {
                    text = AllValues(host?.ResponseTrailers ?? ResponseTrailers, path["response.trailers.".Length..]);
                }
                else if (TryGetFilterState(host, path.StartsWith(WasmFilterState, StringComparison.Ordinal) ? path[WasmFilterState.Length..] : path, out value))
                {
                    return true;
                }

                break;
        }

        if (number is { } n)
        {
            value = PropertyValues.Int64(n);
            return true;
        }

        if (raw is not null)
        {
            value = raw;
            return true;
        }

        // Values that came from header fields are bytes already (HeaderMap's remarks); the rest is text.
        value = text is null ? [] : path.StartsWith("request.", StringComparison.Ordinal) || path.StartsWith("response.headers.", StringComparison.Ordinal) || path.StartsWith("response.trailers.", StringComparison.Ordinal)
            ? Encoding.Latin1.GetBytes(text)
            : Encoding.UTF8.GetBytes(text);
        return text is not null;
    }

    /// <summary>
    /// An address as Envoy prints it: <c>10.1.2.3:40000</c>, <c>[::1]:40000</c> with brackets for IPv6, and an IPv4 client of
    /// a dual-stack listener (<c>--listen ::</c>) as plain IPv4, not <c>::ffff:10.1.2.3</c> (Envoy's addressFromSockAddr).
    /// </summary>
    private static string? AddressText(IPAddress? address, int port)
    {
        if (address is null)
        {
            return null;
        }

        return new IPEndPoint(address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address, port).ToString();
    }

    /// <summary>
    /// Envoy's request.size: the request's content-length (a plugin reading it in on_request_headers learns the size
    /// of a body not read yet), else the body bytes so far; none for a content-length that is not a number.
    /// </summary>
    private long? RequestSize(HeaderMap headers) => headers.Get("content-length") is not { } declared ? RequestBytes
        : long.TryParse(declared, NumberStyles.None, CultureInfo.InvariantCulture, out var length) ? length : null;

    /// <summary>
    /// Every value of the field <paramref name="name"/> joined with ',' (Envoy's getAllOfHeaderAsString: a repeated
    /// field, an x-forwarded-for sent twice, reads as one list); null when it is absent.
    /// </summary>
    private static string? AllValues(HeaderMap? map, string name)
    {
        if (map is null)
        {
            return null;
        }

        name = name.ToLowerInvariant();
        string? first = null;
        StringBuilder? joined = null;
        foreach (var (key, value) in map.Entries)
        {
            if (string.Equals(key, name, StringComparison.Ordinal))
            {
                if (first is null)
                {
                    first = value;
                }
                else
                {
                    (joined ??= new StringBuilder(first)).Append(',').Append(value);
                }
            }
        }

        return joined?.ToString() ?? first;
    }

    /// <summary>
    /// A header map as Envoy gives it (its CEL map of the headers): each name once, with all its values joined by ','.
    /// A map without a repeated name is its pairs as they are.
    /// </summary>
    private static byte[] HeaderProperty(HeaderMap map)
    {
        var names = new HashSet<string>(map.Count, StringComparer.Ordinal);
        foreach (var (key, _) in map.Entries)
        {
            if (!names.Add(key))
            {
                return JoinedPairs(map);
            }
        }

        return map.ToPairs();
    }

    private static byte[] JoinedPairs(HeaderMap map)
    {
        var entries = new List<KeyValuePair<byte[], byte[]>>(map.Count);
        var seen = new HashSet<string>(map.Count, StringComparer.Ordinal);
        foreach (var (key, _) in map.Entries)
        {
            if (seen.Add(key))
            {
                entries.Add(new(Encoding.Latin1.GetBytes(key), Encoding.Latin1.GetBytes(AllValues(map, key)!)));
            }
        }

        return PropertyValues.Map(entries);
    }

    private static long UnixNanoseconds(DateTimeOffset time) => (time - DateTimeOffset.UnixEpoch).Ticks * 100;

    /// <summary>
    /// <c>request.time</c>: when the request began, fixed for the stream as Envoy's start time is. Worked out from the
    /// stream's monotonic start the first time a plugin asks (no wall clock read for requests no plugin asks about),
    /// then kept: derived afresh each time, the clock's reading and the elapsed time drifted apart by a few hundred
    /// nanoseconds, so on_log could see another start than on_request_headers.
    /// </summary>
    private long StartTime()
    {
        var known = Volatile.Read(ref _startTime);
        if (known != 0)
        {
            return known;
        }

        var computed = UnixNanoseconds(DateTimeOffset.UtcNow - Stopwatch.GetElapsedTime(_started));
        var first = Interlocked.CompareExchange(ref _startTime, computed, 0);
        return first == 0 ? computed : first;
    }

    /// <summary>A map's grpc-status: none when absent or empty, -1 (Envoy's InvalidCode) when not a code from 0 to 16.</summary>
    private static long? GrpcStatusOf(HeaderMap? map) => map?.Get("grpc-status") is not { Length: > 0 } status ? null
        : long.TryParse(status, NumberStyles.None, CultureInfo.InvariantCulture, out var code) && code <= 16 ? code : -1;

    private const string WasmFilterState = "filter_state.wasm.";

    /// <summary>
    /// What a plugin set with <c>proxy_set_property(key)</c>, Envoy's filter state <c>wasm.&lt;key&gt;</c>: read back by
    /// its key, and as <c>filter_state.wasm.&lt;key&gt;</c>. A LOG_ONLY plugin reads its own.
    /// </summary>
    private bool TryGetFilterState(StreamHost? host, string key, out byte[] value)
    {
        if (host is not null && host.TryGetOwnProperty(key, out value))
        {
            return true;
        }

        if (_filterState is not null && _filterState.TryGetValue(key, out var stored))
        {
            value = stored;
            return true;
        }

        value = [];
        return false;
    }

    public bool TrySetProperty(string path, ReadOnlySpan<byte> value)
    {
        var state = LazyInitializer.EnsureInitialized(ref _filterState, () => new ConcurrentDictionary<string, byte[]>(StringComparer.Ordinal));
        state[path] = value.ToArray();
        return true;
    }

    private long ConnectionId()
    {
        var items = Context.Features.Get<IConnectionItemsFeature>()?.Items;
        if (items is null)
        {
            return 0;
        }

        // One dictionary per connection, shared by all its HTTP/2 streams, whose exchanges may ask at the same moment.
        lock (items)
        {
            if (items.TryGetValue(typeof(Exchange), out var id) && id is long existing)
            {
                return existing;
            }

            var next = Interlocked.Increment(ref _connectionIds);
            items[typeof(Exchange)] = next;
            return next;
        }
    }
}
