using System.Net;
using Microsoft.AspNetCore.Http;
using WasmOperator.ProxyWasm.Abi;
using WasmOperator.ProxyWasm.Runtime;

namespace WasmOperator.Proxy.Configuration;

/// <summary>How the proxy listens, where it forwards and where it finds its plugins.</summary>
internal sealed class ProxyOptions
{
    /// <summary>Address the data listeners and the status port bind to.</summary>
    public IPAddress ListenAddress { get; set; } = IPAddress.Any;

    /// <summary>
    /// Address the admin listener binds to: loopback, as Istio binds Envoy's admin (15000). It serves
    /// <c>/config_dump</c> (plugin configuration, which may hold credentials) and <c>/logging</c> (changes the log
    /// level); probes and scrapers from outside the pod use <see cref="StatusPort"/>.
    /// </summary>
    public IPAddress AdminAddress { get; set; } = IPAddress.Loopback;

    /// <summary>Data-plane port for HTTP/1.1 (h2c needs its own port: <see cref="H2cPort"/>).</summary>
    public int Port { get; set; } = 15001;

    /// <summary>
    /// Data-plane port for HTTP/2 with prior knowledge (h2c, gRPC); 0 disables it. Kestrel only
    /// speaks h2c on an HTTP/2-only endpoint, so it is a port of its own.
    /// </summary>
    public int H2cPort { get; set; } = 15002;

    /// <summary>Admin port (/ready, /healthz, /config_dump, /logging, /stats/prometheus), on <see cref="AdminAddress"/>.</summary>
    public int AdminPort { get; set; } = 15000;

    /// <summary>
    /// Status port on <see cref="ListenAddress"/>: the read-only admin endpoints a kubelet probe or a Prometheus scrape
    /// needs from outside the pod (/ready, /healthz, /healthz/ready, /stats/prometheus), as Istio's 15021 and 15090;
    /// 0 disables it.
    /// </summary>
    public int StatusPort { get; set; } = 15021;

    /// <summary>Named clusters (upstreams and callout targets): name → base URI.</summary>
    public Dictionary<string, Uri> Clusters { get; } = new(StringComparer.Ordinal)
    {
        [DefaultCluster] = new Uri("http://127.0.0.1:8080"),
    };

    /// <summary>Path-prefix routes to clusters, first match wins; unmatched requests go to <see cref="DefaultCluster"/>.</summary>
    public List<RouteOption> Routes { get; } = [];

    /// <summary>The first route whose prefix matches and whose cluster exists; null when none does (the default cluster's).</summary>
    public RouteOption? RouteFor(PathString path)
    {
        foreach (var route in Routes)
        {
            if (IsUnder(path, route.PathPrefix) && Clusters.ContainsKey(route.Cluster))
            {
                return route;
            }
        }

        return null;
    }

    /// <summary>
    /// Whether <paramref name="path"/> is under <paramref name="prefix"/>: segment by segment (<c>/api</c> takes
    /// <c>/api</c> and <c>/api/x</c>, not <c>/apix</c>), and a prefix ending in <c>/</c> takes every path that starts
    /// with it (<c>/api/</c> takes <c>/api/users</c>; <c>/</c> takes everything), as Envoy's <c>prefix: /</c> does.
    /// </summary>
    public static bool IsUnder(PathString path, PathString prefix) =>
        prefix.Value is { Length: > 0 } p && p[^1] == '/'
            ? (path.HasValue ? path.Value! : "/").StartsWith(p, StringComparison.Ordinal)
            : path.StartsWithSegments(prefix, StringComparison.Ordinal);

    /// <summary>The cluster of <see cref="RouteFor"/>, else the default cluster.</summary>
    public string ClusterFor(PathString path) => RouteFor(path)?.Cluster ?? DefaultCluster;

    /// <summary>Stand-alone mode: YAML plugin file, watched and hot-reloaded.</summary>
    public string? PluginsFile { get; set; }

    /// <summary>Largest body buffered for plugins (a larger request gets 413), and made by one (proxy_set_buffer_bytes past it answers BAD_ARGUMENT).</summary>
    public int MaxBufferedBodyBytes { get; set; } = 1024 * 1024;

    /// <summary>
    /// Most bytes of bodies kept, across the proxy, for LOG_ONLY plugins whose request-headers pause is unresolved (their
    /// callbacks wait for it); a body that would pass it is dropped for its plugin and counted as <c>deferred_body_dropped</c>.
    /// </summary>
    public int MaxDeferredBodyBytes { get; set; } = 64 * 1024 * 1024;

    /// <summary>
    /// Largest request head a client may send, in KiB, after Envoy's <c>max_request_headers_kb</c> (60 by default, at most
    /// 8192): the header fields together and any one field over HTTP/2 get 431 past it, a request line (its URL) 414.
    /// Envoy counts the line and the fields together; Kestrel bounds them apart, so an HTTP/1.1 head may reach twice this.
    /// Kestrel's own defaults (8 KiB of request line, 32 KiB of fields) turned away the large cookies and tokens a request
    /// through Envoy carries.
    /// </summary>
    public int MaxRequestHeadersKb { get; set; } = 60;

    /// <summary>
    /// Streams an HTTP/2 client may have open at once on one connection (SETTINGS_MAX_CONCURRENT_STREAMS; Envoy's
    /// <c>max_concurrent_streams</c>). Kestrel's 100 made the 101st call of a client that multiplexes long-lived streams
    /// (gRPC watches) wait for one to end; Envoy's default is 2^31-1. Kept bounded because Kestrel tracks twice this
    /// many streams per connection, closed ones included, before it tells a client resetting streams to calm down.
    /// </summary>
    public int MaxConcurrentStreams { get; set; } = 1024;

    /// <summary>
    /// Client connections open at once on the data ports; one more is closed as it arrives (Envoy's
    /// <c>global_downstream_max_connections</c>). Null: what the open-file limit leaves room for (<see cref="OpenFileLimit"/>).
    /// </summary>
    public int? MaxConnections { get; set; }

    /// <summary>Longest a stream waits for a plugin that paused it (callout, say) before a 503.</summary>
    public TimeSpan PauseTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Which side of the workload this proxy sits on (matched against <c>match[].mode</c>).</summary>
    public string TrafficMode { get; set; } = "SERVER";

    /// <summary>
    /// VM shards per plugin: by default one per socket event thread (one per core), as Envoy runs one VM per
    /// worker, so an event thread never waits for another to leave a VM.
    /// </summary>
    public int ShardsPerPlugin { get; set; } = Environment.ProcessorCount;

    /// <summary>The workload's labels: property <c>node.metadata.LABELS</c>, where Istio's bootstrap puts the pod's labels.</summary>
    public Dictionary<string, string> NodeLabels { get; } = new(StringComparer.Ordinal);

    /// <summary>
    /// The node metadata beside the labels, as Istio's bootstrap sets it (NAMESPACE, WORKLOAD_NAME, CLUSTER_ID, MESH_ID,
    /// INSTANCE_IPS, …): property <c>node.metadata.&lt;KEY&gt;</c>, string values.
    /// </summary>
    public Dictionary<string, string> NodeMetadata { get; } = new(StringComparer.Ordinal);

    /// <summary>Node id (property <c>node.id</c>; Istio's is <c>sidecar~&lt;ip&gt;~&lt;pod&gt;.&lt;namespace&gt;~&lt;namespace&gt;.svc.cluster.local</c>).</summary>
    public string NodeId { get; set; } = Environment.MachineName;

    /// <summary>
    /// On SIGTERM, how long the data listeners keep accepting (not ready; GOAWAY, <c>Connection: close</c> on each HTTP/1.1
    /// response) before they stop and close the connections left idle: Envoy's drain time, Istio's
    /// <c>terminationDrainDuration</c> (5 s).
    /// </summary>
    public TimeSpan DrainTime { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Once the data listeners stopped, how long shutdown waits for in-flight requests before aborting them.</summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>
    /// Plugin callouts (HTTP and gRPC, calls and open streams) one cluster may have in flight; one more is refused
    /// inside the hostcall with INTERNAL_FAILURE and never answered, as Envoy's circuit breaker fails the send at once
    /// (its async client returns no request). Envoy's circuit-breaker defaults: 1024 connections plus 1024 requests
    /// waiting for one. Connections per cluster are capped at 1024.
    /// </summary>
    public int MaxCalloutsPerCluster { get; set; } = 2048;

    /// <summary>Envoy's <c>http.async_response_buffer_limit</c> default: 32 MiB.</summary>
    public const int DefaultMaxCalloutResponseBytes = 32 * 1024 * 1024;

    /// <summary>
    /// The largest callout response body read for a plugin (HTTP; for gRPC, the response's messages together), as
    /// Envoy's async client caps what it buffers (<c>AsyncRequestSharedImpl::onData</c>): one byte more, or a
    /// Content-Length above it, resets the call and the plugin gets a failed callout. Unbounded, a cluster answering
    /// with an endless body grew the proxy by gigabytes.
    /// </summary>
    public int MaxCalloutResponseBytes { get; set; } = DefaultMaxCalloutResponseBytes;

    /// <summary>How often the plugin file is re-read in case a change notification was missed.</summary>
    public TimeSpan PluginsFilePollInterval { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// Tests only (no flag sets it): wraps the handling of every request on the data listeners, so that a test can put
    /// in order what Kestrel otherwise does on another thread at its own time.
    /// </summary>
    public Func<RequestDelegate, RequestDelegate>? WrapRequests { get; set; }

    /// <summary>
    /// An upstream that moves no byte for this long fails an ordinary request: 504 before the response started, a reset
    /// after. Also the longest wait for the upstream's answer to an upgrade (504).
    /// </summary>
    public TimeSpan UpstreamTimeout { get; set; } = TimeSpan.FromSeconds(100);

    /// <summary>Longest wait for a connection to an upstream, or to a callout's cluster (Istio's default cluster connect_timeout): 503 with reset reason "connection timeout".</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// A gRPC call, or an upgraded or CONNECT stream (a WebSocket) once answered, with no byte moving either way for this
    /// long is ended, in place of <see cref="UpstreamTimeout"/>: such a stream may rightly stay quiet for minutes. Envoy's
    /// <c>stream_idle_timeout</c>, same default (5 min).
    /// </summary>
    public TimeSpan StreamIdleTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// A client connection with no request under way for this long is closed (HTTP/2: GOAWAY). Envoy's <c>idle_timeout</c>
    /// of the connection manager, same default (1 h). Kestrel's 130 s closed keep-alive connections that a client (another
    /// sidecar's Envoy, whose own pool keeps them an hour) could be sending its next request on as they closed: the
    /// caller's 503 (UC) that Istio users tune keep-alives against.
    /// </summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromHours(1);

    /// <summary>
    /// Run request processing (and so the plugin callbacks) on the socket I/O threads, as Envoy runs filters on its
    /// worker event loops: no thread-pool hop per read. A plugin callback then holds its I/O thread for as long as
    /// it runs (bounded by the plugin's CPU deadline). Upstream reads that complete on an event thread continue
    /// there too. Off, plugin code that would run on an event thread moves to the thread pool first.
    /// </summary>
    public bool InlineIo { get; set; } = true;

    /// <summary>
    /// Forward requests to plain-HTTP clusters with the proxy's own HTTP/1.1 forwarder (the fast path; a stale pooled
    /// connection is retried when safe). Off, every request goes through YARP and HttpClient, as gRPC, upgrades and TLS
    /// clusters always do: a way back should the forwarder misbehave with some upstream.
    /// </summary>
    public bool Http1Forwarder { get; set; } = true;

    /// <summary>
    /// Give a request without <c>x-request-id</c> a new one (a random UUID) before plugins and the upstream see it,
    /// as Envoy does by default (<c>generate_request_id</c>); property <c>request.id</c> reads it.
    /// </summary>
    public bool GenerateRequestId { get; set; } = true;

    /// <summary>
    /// Lowest level of plugin log lines written at start (Envoy's <c>wasm</c> log component, default info); changed
    /// while running with the admin endpoint <c>POST /logging?wasm=debug</c>.
    /// </summary>
    public ProxyLogLevel PluginLogLevel { get; set; } = ProxyLogLevel.Info;

    /// <summary>Whether the plugins' compiled code is published for <c>perf</c> (<c>--wasm-profiler</c>); off by default.</summary>
    public WasmProfiling WasmProfiling { get; set; } = WasmProfiling.None;

    /// <summary>The node metadata key of the labels (<see cref="NodeLabels"/>), not one <see cref="NodeMetadata"/> may set.</summary>
    public const string NodeLabelsKey = "LABELS";

    /// <summary>Name of the default upstream cluster.</summary>
    public const string DefaultCluster = "upstream";
}
