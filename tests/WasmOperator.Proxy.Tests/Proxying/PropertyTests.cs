using System.Buffers.Binary;
using System.Net;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;
using WasmOperator.Proxy.Chain;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Metrics;
using WasmOperator.Proxy.Proxying;
using WasmOperator.Proxy.Tests.Support;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Proxying;

/// <summary>Properties plugins read, filled from the real request and the node (Envoy attribute encodings).</summary>
public sealed class PropertyTests
{
    private static Exchange ExchangeFor(HttpContext context) =>
        new(context, Exchange.BuildRequestHeaders(context, vetFields: false, out _), Array.Empty<ChainEntry>(), new ProxyOptions(), new LingeringContexts(NullLogger<LingeringContexts>.Instance), NullLogger.Instance);

    private static DefaultHttpContext Request()
    {
        var context = new DefaultHttpContext();
        context.Request.Method = "POST";
        context.Request.Scheme = "http";
        context.Request.Host = new HostString("api.local:8080");
        context.Request.Path = "/orders/7";
        context.Request.QueryString = new QueryString("?full=1");
        context.Request.Headers["X-Request-Id"] = "req-1";
        context.Request.Headers["X-Tenant"] = "acme";
        context.Connection.RemoteIpAddress = IPAddress.Parse("10.1.2.3");
        context.Connection.RemotePort = 40000;
        context.Connection.LocalIpAddress = IPAddress.Parse("10.9.9.9");
        context.Connection.LocalPort = 15001;
        return context;
    }

    private static string Text(Exchange exchange, string path)
    {
        Assert.True(exchange.TryGetProperty(null, path, out var value), path);
        return Encoding.UTF8.GetString(value);
    }

    private static long Number(Exchange exchange, string path)
    {
        Assert.True(exchange.TryGetProperty(null, path, out var value), path);
        Assert.Equal(8, value.Length);
        return BinaryPrimitives.ReadInt64LittleEndian(value);
    }

    [Fact]
    public void Request_properties_come_from_the_pseudo_headers_and_headers()
    {
        var exchange = ExchangeFor(Request());

        Assert.Equal("/orders/7?full=1", Text(exchange, "request.path"));
        Assert.Equal("/orders/7", Text(exchange, "request.url_path"));
        Assert.Equal("POST", Text(exchange, "request.method"));
        Assert.Equal("api.local:8080", Text(exchange, "request.host"));
        Assert.Equal("http", Text(exchange, "request.scheme"));
        Assert.Equal("req-1", Text(exchange, "request.id"));
        Assert.Equal("acme", Text(exchange, "request.headers.x-tenant"));
    }

    [Fact]
    public void Header_properties_are_the_fields_bytes_as_they_came()
    {
        // The proxy reads fields one char per byte (HeaderMap's remarks): "José" sent in UTF-8, then obs-text 0xFF.
        var context = Request();
        context.Request.Headers["X-Name"] = Encoding.Latin1.GetString([.. "Jos\u00e9 "u8, 0xFF]);
        context.Request.Headers.UserAgent = Encoding.Latin1.GetString("caf\u00e9"u8);
        var exchange = ExchangeFor(context);

        Assert.True(exchange.TryGetProperty(null, "request.headers.x-name", out var name));
        Assert.Equal([.. "Jos\u00e9 "u8, 0xFF], name);
        Assert.True(exchange.TryGetProperty(null, "request.useragent", out var agent));
        Assert.Equal("caf\u00e9"u8.ToArray(), agent);
        Assert.True(exchange.TryGetProperty(null, "request.headers", out var pairs));
        Assert.Contains(new KeyValuePair<string, string>("x-name", "Jos\u00e9 \uFFFD"), DecodePairs(pairs));
    }

    [Fact]
    public void Connection_properties_are_addresses_with_ports_and_numbers_as_little_endian_int64()
    {
        var exchange = ExchangeFor(Request());

        Assert.Equal("10.1.2.3:40000", Text(exchange, "source.address"));
        Assert.Equal(40000, Number(exchange, "source.port"));
        Assert.Equal("10.9.9.9:15001", Text(exchange, "destination.address"));
        Assert.Equal(15001, Number(exchange, "destination.port"));
    }

    [Theory]
    [InlineData("::1", "[::1]:40000")]
    [InlineData("2001:db8::7", "[2001:db8::7]:40000")]
    [InlineData("::ffff:10.1.2.3", "10.1.2.3:40000")]
    public void Ipv6_addresses_are_bracketed_and_ipv4_clients_of_a_dual_stack_listener_are_plain_ipv4(string client, string expected)
    {
        var context = Request();
        context.Connection.RemoteIpAddress = IPAddress.Parse(client);
        context.Connection.LocalIpAddress = IPAddress.Parse("::ffff:10.9.9.9");

        var exchange = ExchangeFor(context);

        Assert.Equal(expected, Text(exchange, "source.address"));
        Assert.Equal("10.9.9.9:15001", Text(exchange, "destination.address"));
    }

    [Fact]
    public void Properties_a_plugin_set_are_read_back_and_unknown_ones_are_not_found()
    {
        var exchange = ExchangeFor(Request());

        Assert.False(exchange.TryGetProperty(null, "wasm.decision", out _));
        Assert.True(exchange.TrySetProperty("wasm.decision", "allow"u8));
        Assert.True(exchange.TryGetProperty(null, "wasm.decision", out var value));
        Assert.Equal("allow", Encoding.UTF8.GetString(value));
        Assert.False(exchange.TryGetProperty(null, "response.code", out _));
    }

    [Fact]
    public async Task A_property_a_log_only_plugin_sets_is_its_own_and_counted_and_enforcing_plugins_never_see_it()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(
            Plugin("setter", Wat("set_tenant_property"), "setter", extra: "mode: LOG_ONLY\npriority: 10"),
            Plugin("reader", Wat("tenant_property_to_header"), "reader", extra: "priority: 5")));

        var (response, echo) = await proxy.GetAsync("/");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Null(echo?.Header("x-tenant-prop"));
        Assert.True(proxy.Logs.Contains("tenant=evil"), string.Join(" | ", proxy.Logs.Lines));
        Assert.Contains(
            "wasm_plugin_log_only_actions_total{plugin=\"default/setter\",action=\"set_property\"} 1\n",
            await proxy.MetricsAsync(),
            StringComparison.Ordinal);
    }

    [Fact]
    public void Query_time_sizes_and_the_header_map_are_encoded_as_envoy_encodes_them()
    {
        var before = DateTimeOffset.UtcNow;
        var exchange = ExchangeFor(Request());
        var after = DateTimeOffset.UtcNow;

        Assert.Equal("full=1", Text(exchange, "request.query"));
        var time = DateTimeOffset.UnixEpoch.AddTicks(Number(exchange, "request.time") / 100);
        Assert.InRange(time, before.AddMilliseconds(-1), after.AddMilliseconds(1));
        // The stream's start, the same in every callback: read again later (on_log, say) it does not move.
        var first = Number(exchange, "request.time");
        Assert.All(Enumerable.Range(0, 50), _ => Assert.Equal(first, Number(exchange, "request.time")));

        Assert.True(exchange.TryGetProperty(null, "request.headers", out var pairs));
        var decoded = DecodePairs(pairs);
        Assert.Contains(new KeyValuePair<string, string>(":method", "POST"), decoded);
        Assert.Contains(new KeyValuePair<string, string>("x-tenant", "acme"), decoded);
        var headerBytes = decoded.Sum(p => Encoding.UTF8.GetByteCount(p.Key) + Encoding.UTF8.GetByteCount(p.Value));
        exchange.RequestBytes = 12;
        Assert.Equal(headerBytes + 12, Number(exchange, "request.total_size"));

        Assert.True(exchange.TryGetProperty(null, "connection.mtls", out var mtls));
        Assert.Equal([0], mtls);
    }

    [Fact]
    public void Plugins_do_not_see_the_fields_of_the_clients_connection()
    {
        var context = Request();
        context.Request.Headers["Connection"] = "keep-alive";
        context.Request.Headers["Keep-Alive"] = "timeout=5";
        context.Request.Headers["Transfer-Encoding"] = "chunked";
        context.Request.Headers["Proxy-Connection"] = "keep-alive";
        context.Request.Headers["TE"] = "trailers";
        var exchange = ExchangeFor(context);

        Assert.True(exchange.TryGetProperty(null, "request.headers", out var pairs));
        var names = DecodePairs(pairs).Select(p => p.Key).ToList();
        Assert.DoesNotContain("connection", names);
        Assert.DoesNotContain("keep-alive", names);
        Assert.DoesNotContain("transfer-encoding", names);
        Assert.DoesNotContain("proxy-connection", names);
        Assert.Contains("te", names);
        Assert.Contains("x-tenant", names);
    }

    [Fact]
    public void Duration_is_known_once_the_exchange_completed_and_upstream_once_it_was_forwarded()
    {
        var created = System.Diagnostics.Stopwatch.GetTimestamp();
        var exchange = ExchangeFor(Request());
        Assert.False(exchange.TryGetProperty(null, "request.duration", out _));
        Assert.False(exchange.TryGetProperty(null, "upstream.address", out _));
        Assert.False(exchange.TryGetProperty(null, "response.code_details", out _));
        Assert.False(exchange.TryGetProperty(null, "response.headers", out _));
        Assert.False(exchange.TryGetProperty(null, "response.grpc_status", out _));

        // Before forwarding, the cluster the request's route names (here none matches: the default cluster).
        Assert.Equal(ProxyOptions.DefaultCluster, Text(exchange, "cluster_name"));
        exchange.Upstream = ("reviews", new Uri("http://10.0.0.7:9080"));
        exchange.Complete();
        var bound = (long)System.Diagnostics.Stopwatch.GetElapsedTime(created).TotalNanoseconds;

        Assert.Equal("10.0.0.7:9080", Text(exchange, "upstream.address"));
        Assert.Equal(9080, Number(exchange, "upstream.port"));
        Assert.Equal("reviews", Text(exchange, "cluster_name"));
        var duration = Number(exchange, "request.duration");
        Assert.InRange(duration, 0, bound);
        Thread.Sleep(2);
        Assert.Equal(duration, Number(exchange, "request.duration"));
    }

    [Fact]
    public async Task A_plugin_reads_the_upstream_the_code_details_and_the_query_of_a_forwarded_request()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(Plugin("props", Wat("properties_echo"), "props")));
        var (response, echo) = await proxy.GetAsync("/search?q=wasm&page=2");

        Assert.NotNull(echo);
        Assert.Equal($"127.0.0.1:{proxy.Upstream.Port}", response.Headers.GetValues("x-upstream-address").Single());
        Assert.Equal("via_upstream", response.Headers.GetValues("x-code-details").Single());
        Assert.Equal("q=wasm&page=2", response.Headers.GetValues("x-query").Single());
    }

    [Fact]
    public void A_repeated_field_reads_as_its_values_joined_by_commas()
    {
        var context = Request();
        context.Request.Headers["X-Forwarded-For"] = new Microsoft.Extensions.Primitives.StringValues(["10.0.0.1", "10.0.0.2"]);
        var exchange = ExchangeFor(context);

        Assert.Equal("10.0.0.1,10.0.0.2", Text(exchange, "request.headers.x-forwarded-for"));
        Assert.Equal("10.0.0.1,10.0.0.2", Text(exchange, "request.headers.X-Forwarded-For"));
        Assert.True(exchange.TryGetProperty(null, "request.headers", out var pairs));
        var decoded = DecodePairs(pairs);
        Assert.Equal(decoded.Count, decoded.Select(p => p.Key).Distinct().Count());
        Assert.Contains(new KeyValuePair<string, string>("x-forwarded-for", "10.0.0.1,10.0.0.2"), decoded);
    }

    [Fact]
    public async Task A_plugin_reads_every_value_of_a_repeated_request_or_response_field()
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed("HTTP/1.1 200 OK\r\nX-Cache: miss\r\nX-Cache: hit\r\nContent-Length: 2\r\n\r\nok"));
        await using var proxy = await ProxyHarness.StartAsync(
            Yaml(PropertyProbe.Plugin("request headers x-tenant", "response headers x-cache", "request headers")),
            o => o.Clusters[ProxyOptions.DefaultCluster] = upstream.Address);

        var response = await RawHttp.GetAsync(proxy.Server.Options.Port, "/", "app", ("X-Tenant", "acme"), ("X-Tenant", "globex"));

        Assert.StartsWith("HTTP/1.1 200", response, StringComparison.Ordinal);
        Assert.Equal("acme,globex", (await PropertyProbe.ReadAsync(proxy.Logs, "REQ", "request headers x-tenant")).Text);
        Assert.Equal("miss,hit", (await PropertyProbe.ReadAsync(proxy.Logs, "RSP", "response headers x-cache")).Text);
        var all = (await PropertyProbe.ReadAsync(proxy.Logs, "REQ", "request headers")).Pairs;
        Assert.Equal("acme,globex", System.Text.Encoding.Latin1.GetString(all.Single(p => p.Key == "x-tenant").Value));
    }

    [Fact]
    public async Task The_request_size_is_its_content_length_before_the_body_is_read()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(PropertyProbe.Plugin("request size")));

        var (response, echo) = await proxy.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/upload") { Content = new StringContent("hello world") });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("hello world", echo?.Body);
        Assert.Equal(11, (await PropertyProbe.ReadAsync(proxy.Logs, "REQ", "request size")).Int64);
        Assert.Equal(11, (await PropertyProbe.ReadAsync(proxy.Logs, "LOG", "request size")).Int64);
    }

    [Fact]
    public void The_request_size_is_the_declared_length_else_the_body_bytes_and_none_for_a_bad_length()
    {
        var context = Request();
        context.Request.Headers.ContentLength = 1000;
        var declared = ExchangeFor(context);
        var chunked = ExchangeFor(Request());
        chunked.RequestBytes = 12;
        var broken = Request();
        broken.Request.Headers["Content-Length"] = "12x";

        Assert.Equal(1000, Number(declared, "request.size"));
        Assert.Equal(12, Number(chunked, "request.size"));
        Assert.False(ExchangeFor(broken).TryGetProperty(null, "request.size", out _));
    }

    [Fact]
    public async Task A_response_without_grpc_status_has_the_one_envoy_maps_from_its_http_status()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(PropertyProbe.Plugin("response grpc_status")));
        await using var down = await ProxyHarness.StartAsync(Yaml(PropertyProbe.Plugin("response grpc_status")),
            o => o.Clusters[ProxyOptions.DefaultCluster] = new Uri($"http://127.0.0.1:{FreePort.Next()}"));

        var (ok, _) = await proxy.GetAsync("/");
        var (unavailable, _) = await down.GetAsync("/");

        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.Equal(2, (await PropertyProbe.ReadAsync(proxy.Logs, "RSP", "response grpc_status")).Int64); // Unknown
        Assert.Equal(HttpStatusCode.ServiceUnavailable, unavailable.StatusCode);
        Assert.Equal(14, (await PropertyProbe.ReadAsync(down.Logs, "RSP", "response grpc_status")).Int64); // Unavailable
        Assert.Equal(14, (await PropertyProbe.ReadAsync(down.Logs, "LOG", "response grpc_status")).Int64);
        Assert.Equal(1, (await PropertyProbe.ReadAsync(proxy.Logs, "REQ", "response grpc_status")).Status); // no response yet
    }

    [Fact]
    public async Task A_grpc_status_that_is_no_known_code_reads_as_minus_one()
    {
        await using var upstream = new RawUpstream(RawUpstream.Fixed("HTTP/1.1 200 OK\r\ngrpc-status: 99\r\nContent-Length: 0\r\n\r\n"));
        await using var proxy = await ProxyHarness.StartAsync(Yaml(PropertyProbe.Plugin("response grpc_status")),
            o => o.Clusters[ProxyOptions.DefaultCluster] = upstream.Address);

        await proxy.GetAsync("/");

        Assert.Equal(-1, (await PropertyProbe.ReadAsync(proxy.Logs, "RSP", "response grpc_status")).Int64);
    }

    [Fact]
    public async Task Response_flags_are_envoys_bits_for_how_forwarding_failed_and_0_when_it_did_not()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(PropertyProbe.Plugin("response flags")));
        await using var down = await ProxyHarness.StartAsync(Yaml(PropertyProbe.Plugin("response flags")),
            o => o.Clusters[ProxyOptions.DefaultCluster] = new Uri($"http://127.0.0.1:{FreePort.Next()}"));
        await using var hanging = await HangingUpstream.StartAsync();
        await using var slow = await ProxyHarness.StartAsync(Yaml(PropertyProbe.Plugin("response flags")), o =>
        {
            o.Clusters[ProxyOptions.DefaultCluster] = hanging.Address;
            o.UpstreamTimeout = TimeSpan.FromSeconds(1);
        });

        var (ok, _) = await proxy.GetAsync("/");
        var (refused, _) = await down.GetAsync("/");
        var (timedOut, _) = await slow.GetAsync("/");

        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.Equal(0, (await PropertyProbe.ReadAsync(proxy.Logs, "REQ", "response flags")).Int64);
        Assert.Equal(0, (await PropertyProbe.ReadAsync(proxy.Logs, "LOG", "response flags")).Int64);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.Equal(0x20, (await PropertyProbe.ReadAsync(down.Logs, "RSP", "response flags")).Int64); // UF
        Assert.Equal(0x20, (await PropertyProbe.ReadAsync(down.Logs, "LOG", "response flags")).Int64);
        Assert.Equal(HttpStatusCode.GatewayTimeout, timedOut.StatusCode);
        Assert.Equal(0x4, (await PropertyProbe.ReadAsync(slow.Logs, "LOG", "response flags")).Int64); // UT
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_client_that_leaves_before_the_response_reads_as_dc_and_downstream_remote_disconnect_in_on_log(bool heldByPlugin)
    {
        // Held by a plugin: its callout waits on the upstream's /slow. Otherwise the upstream itself hangs. While a plugin
        // held the request on_log read no flag and no details; waiting on the upstream it read DC but no details.
        await using var hanging = await HangingUpstream.StartAsync();
        await using var proxy = heldByPlugin
            ? await ProxyHarness.StartAsync(Yaml(Plugin("caller", Wat("callout_status_echo"), "caller", ProxyOptions.DefaultCluster),
                PropertyProbe.Plugin("response flags", "response code_details")))
            : await ProxyHarness.StartAsync(Yaml(PropertyProbe.Plugin("response flags", "response code_details")),
                o => o.Clusters[ProxyOptions.DefaultCluster] = hanging.Address);

        using (var client = new System.Net.Sockets.TcpClient())
        {
            await client.ConnectAsync(IPAddress.Loopback, proxy.Server.Options.Port);
            await client.GetStream().WriteAsync("GET /leave HTTP/1.1\r\nHost: a\r\n\r\n"u8.ToArray());
            await (heldByPlugin ? proxy.Upstream.SlowStarted.Task : hanging.Started.Task).WaitAsync(TimeSpan.FromSeconds(10));
        }

        Assert.Equal(0x4000, (await PropertyProbe.ReadAsync(proxy.Logs, "LOG", "response flags")).Int64); // DC
        Assert.Equal("downstream_remote_disconnect", (await PropertyProbe.ReadAsync(proxy.Logs, "LOG", "response code_details")).Text);
        if (heldByPlugin)
        {
            proxy.Upstream.ReleaseSlow();
        }
    }

    [Fact]
    public async Task A_grpc_call_forwarded_by_yarp_to_an_upstream_that_refuses_has_the_connection_failure_flag()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(PropertyProbe.Plugin("response flags")),
            o => o.Clusters[ProxyOptions.DefaultCluster] = new Uri($"http://127.0.0.1:{FreePort.Next()}"));
        using var request = new HttpRequestMessage(HttpMethod.Post, "/pkg.Service/Method")
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent([0, 0, 0, 0, 0]),
        };
        request.Content.Headers.ContentType = new("application/grpc");

        using var response = await proxy.H2c.SendAsync(request);

        Assert.Equal("14", response.Headers.GetValues("grpc-status").Single());
        Assert.Equal(0x20, (await PropertyProbe.ReadAsync(proxy.Logs, "LOG", "response flags")).Int64); // UF
    }

    [Fact]
    public async Task A_stream_has_envoys_route_cluster_connection_and_metadata_attributes()
    {
        await using var proxy = await ProxyHarness.StartAsync(
            Yaml(
                Plugin("setter", Wat("set_tenant_property"), "setter", extra: "priority: 10"),
                PropertyProbe.Plugin("cluster_name", "xds cluster_name", "route_name", "xds route_name", "xds cluster_metadata", "metadata",
                    "connection requested_server_name", "connection id", "connection_id", "upstream request_attempt_count",
                    "upstream transport_failure_reason", "filter_state wasm.tenant", "xds virtual_host_name")),
            o =>
            {
                o.Clusters["reviews"] = o.Clusters[ProxyOptions.DefaultCluster];
                o.Routes.Add(new RouteOption("/reviews", "reviews"));
            });

        var (response, _) = await proxy.GetAsync("/reviews/1");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        // The route's cluster is known before the request is forwarded, as in Envoy.
        Assert.Equal("reviews", (await PropertyProbe.ReadAsync(proxy.Logs, "REQ", "cluster_name")).Text);
        Assert.Equal("reviews", (await PropertyProbe.ReadAsync(proxy.Logs, "REQ", "xds cluster_name")).Text);
        Assert.Equal("reviews", (await PropertyProbe.ReadAsync(proxy.Logs, "LOG", "xds cluster_name")).Text);
        foreach (var empty in new[] { "route_name", "xds route_name", "xds cluster_metadata", "metadata", "connection requested_server_name" })
        {
            var read = await PropertyProbe.ReadAsync(proxy.Logs, "REQ", empty);
            Assert.True(read.Found && read.Bytes.Length == 0, $"{empty}: {read}");
        }

        Assert.Equal((await PropertyProbe.ReadAsync(proxy.Logs, "REQ", "connection id")).Bytes, (await PropertyProbe.ReadAsync(proxy.Logs, "REQ", "connection_id")).Bytes);
        Assert.Equal(0, (await PropertyProbe.ReadAsync(proxy.Logs, "REQ", "upstream request_attempt_count")).Int64);
        Assert.Equal(1, (await PropertyProbe.ReadAsync(proxy.Logs, "LOG", "upstream request_attempt_count")).Int64);
        Assert.Equal(1, (await PropertyProbe.ReadAsync(proxy.Logs, "REQ", "upstream transport_failure_reason")).Status);
        Assert.Equal("", (await PropertyProbe.ReadAsync(proxy.Logs, "LOG", "upstream transport_failure_reason")).Text);
        // What a plugin set with proxy_set_property("tenant") is Envoy's filter state wasm.tenant.
        Assert.Equal("evil", (await PropertyProbe.ReadAsync(proxy.Logs, "REQ", "filter_state wasm.tenant")).Text);
        Assert.Equal(1, (await PropertyProbe.ReadAsync(proxy.Logs, "REQ", "xds virtual_host_name")).Status);
    }

    [Fact]
    public async Task A_connection_that_could_not_be_made_has_a_transport_failure_reason()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(PropertyProbe.Plugin("upstream transport_failure_reason")),
            o => o.Clusters[ProxyOptions.DefaultCluster] = new Uri($"http://127.0.0.1:{FreePort.Next()}"));

        await proxy.GetAsync("/");

        Assert.NotEmpty((await PropertyProbe.ReadAsync(proxy.Logs, "LOG", "upstream transport_failure_reason")).Text);
    }

    [Fact]
    public async Task The_upstream_address_is_the_one_connected_to_and_the_local_address_the_connections_own()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(PropertyProbe.Plugin("upstream address", "upstream local_address", "upstream port")),
            o => o.Clusters[ProxyOptions.DefaultCluster] = new Uri($"http://localhost:{o.Clusters[ProxyOptions.DefaultCluster].Port}"));

        var (response, _) = await proxy.GetAsync("/");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        // The cluster is named by DNS name: Envoy reports the address its name resolved to, as connected.
        Assert.Equal($"127.0.0.1:{proxy.Upstream.Port}", (await PropertyProbe.ReadAsync(proxy.Logs, "RSP", "upstream address")).Text);
        Assert.Equal(proxy.Upstream.Port, (await PropertyProbe.ReadAsync(proxy.Logs, "LOG", "upstream port")).Int64);
        var local = IPEndPoint.Parse((await PropertyProbe.ReadAsync(proxy.Logs, "LOG", "upstream local_address")).Text);
        Assert.Equal(IPAddress.Loopback, local.Address);
        Assert.NotEqual(proxy.Upstream.Port, local.Port);
        Assert.Equal(1, (await PropertyProbe.ReadAsync(proxy.Logs, "REQ", "upstream local_address")).Status);
    }

    [Fact]
    public async Task With_the_http1_forwarder_off_requests_go_through_yarp_which_knows_the_upstream_only_by_its_configured_address()
    {
        await using var proxy = await ProxyHarness.StartAsync(Yaml(PropertyProbe.Plugin("upstream address")), o =>
        {
            o.Clusters[ProxyOptions.DefaultCluster] = new Uri($"http://localhost:{o.Clusters[ProxyOptions.DefaultCluster].Port}");
            o.Http1Forwarder = false;
        });

        var (response, _) = await proxy.GetAsync("/");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        // HttpClient does not say which address it connected to; the HTTP/1.1 forwarder reports 127.0.0.1 (test above).
        Assert.Equal($"localhost:{proxy.Upstream.Port}", (await PropertyProbe.ReadAsync(proxy.Logs, "RSP", "upstream address")).Text);
    }

    /// <summary>The Proxy-Wasm pairs encoding: u32 count, count × (u32 name length, u32 value length), then each name and value NUL-terminated.</summary>
    private static List<KeyValuePair<string, string>> DecodePairs(byte[] bytes)
    {
        var count = BinaryPrimitives.ReadInt32LittleEndian(bytes);
        var data = 4 + (8 * count);
        var pairs = new List<KeyValuePair<string, string>>();
        for (var i = 0; i < count; i++)
        {
            var nameLength = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(4 + (8 * i)));
            var valueLength = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(8 + (8 * i)));
            var name = Encoding.UTF8.GetString(bytes, data, nameLength);
            data += nameLength + 1;
            var value = Encoding.UTF8.GetString(bytes, data, valueLength);
            data += valueLength + 1;
            pairs.Add(new(name, value));
        }

        Assert.Equal(bytes.Length, data);
        return pairs;
    }

    [Fact]
    public void The_workloads_labels_are_under_node_metadata_LABELS_and_still_read_straight_under_node_metadata()
    {
        var options = new ProxyOptions { NodeId = "pod-1" };
        options.NodeLabels["app"] = "reviews";
        using var callouts = new CalloutClient(options);
        var metrics = new ProxyMetrics(NullLogger<ProxyMetrics>.Instance).For("default/p");
        var host = new PluginHost("default/p", options, callouts, metrics, NullLogger.Instance);

        Assert.True(host.TryGetProperty("node.metadata.LABELS.app", out var app));
        Assert.Equal("reviews", Encoding.UTF8.GetString(app));
        Assert.True(host.TryGetProperty("node.metadata.app", out app));
        Assert.Equal("reviews", Encoding.UTF8.GetString(app));
        Assert.True(host.TryGetProperty("node.id", out var id));
        Assert.Equal("pod-1", Encoding.UTF8.GetString(id));
        Assert.False(host.TryGetProperty("node.metadata.missing", out _));
        Assert.False(host.TryGetProperty("node.metadata.LABELS.missing", out _));
        Assert.True(host.TryGetProperty("listener_direction", out var direction));
        Assert.Equal(1, BinaryPrimitives.ReadInt64LittleEndian(direction));

        var client = new ProxyOptions { TrafficMode = "CLIENT" };
        using var clientCallouts = new CalloutClient(client);
        Assert.True(new PluginHost("default/p", client, clientCallouts, metrics, NullLogger.Instance).TryGetProperty("xds.listener_direction", out direction));
        Assert.Equal(2, BinaryPrimitives.ReadInt64LittleEndian(direction));
    }

    [Fact]
    public async Task Plugins_read_the_node_as_istios_bootstrap_lays_it_out_in_on_configure_and_in_a_stream()
    {
        const string id = "sidecar~10.0.0.7~reviews-v1-6d8f.shop~shop.svc.cluster.local";
        await using var proxy = await ProxyHarness.StartAsync(
            Yaml(PropertyProbe.Plugin("node", "xds node", "node id", "node metadata", "node metadata NAMESPACE", "node metadata LABELS",
                "node metadata LABELS app", "node metadata LABELS app.kubernetes.io/name", "node metadata app", "xds node metadata WORKLOAD_NAME",
                "listener_metadata")),
            o =>
            {
                o.NodeId = id;
                o.NodeMetadata["NAMESPACE"] = "shop";
                o.NodeMetadata["WORKLOAD_NAME"] = "reviews-v1";
                o.NodeMetadata["CLUSTER_ID"] = "Kubernetes";
                o.NodeLabels["app"] = "reviews";
                o.NodeLabels["version"] = "v1";
                o.NodeLabels["app.kubernetes.io/name"] = "reviews";
            });

        // on_configure: the root context, no stream.
        Assert.Equal(id, (await PropertyProbe.ReadAsync(proxy.Logs, "CFG", "node id")).Text);
        Assert.Equal("shop", (await PropertyProbe.ReadAsync(proxy.Logs, "CFG", "node metadata NAMESPACE")).Text);
        Assert.Equal("reviews", (await PropertyProbe.ReadAsync(proxy.Logs, "CFG", "node metadata LABELS app")).Text);
        Assert.Equal("reviews", (await PropertyProbe.ReadAsync(proxy.Logs, "CFG", "node metadata LABELS app.kubernetes.io/name")).Text);
        var labels = await PropertyProbe.ReadAsync(proxy.Logs, "CFG", "node metadata LABELS");
        Assert.Equal([("app", "reviews"), ("app.kubernetes.io/name", "reviews"), ("version", "v1")],
            labels.Pairs.Select(p => (p.Key, Encoding.UTF8.GetString(p.Value))));

        // node.metadata is a Struct: a map whose LABELS value is a map of its own.
        var metadata = (await PropertyProbe.ReadAsync(proxy.Logs, "CFG", "node metadata")).Pairs;
        Assert.Equal(["CLUSTER_ID", "LABELS", "NAMESPACE", "WORKLOAD_NAME"], metadata.Select(p => p.Key));
        Assert.Equal(labels.Bytes, metadata.Single(p => p.Key == "LABELS").Value);

        // node is the envoy.config.core.v3.Node message: id (1), metadata (3) a google.protobuf.Struct.
        var node = await PropertyProbe.ReadAsync(proxy.Logs, "CFG", "node");
        Assert.Equal(node.Bytes, (await PropertyProbe.ReadAsync(proxy.Logs, "CFG", "xds node")).Bytes);
        var fields = Protobuf(node.Bytes);
        Assert.Equal(id, Encoding.UTF8.GetString(fields.Single(f => f.Field == 1).Bytes));
        var values = Protobuf(fields.Single(f => f.Field == 3).Bytes).Select(entry => Protobuf(entry.Bytes))
            .ToDictionary(entry => Encoding.UTF8.GetString(entry.Single(f => f.Field == 1).Bytes), entry => Protobuf(entry.Single(f => f.Field == 2).Bytes).Single());
        Assert.Equal((3, "shop"), (values["NAMESPACE"].Field, Encoding.UTF8.GetString(values["NAMESPACE"].Bytes))); // string_value
        Assert.Equal(5, values["LABELS"].Field); // struct_value
        Assert.Equal(3, Protobuf(values["LABELS"].Bytes).Count);

        var (response, _) = await proxy.GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("reviews-v1", (await PropertyProbe.ReadAsync(proxy.Logs, "REQ", "xds node metadata WORKLOAD_NAME")).Text);
        Assert.Equal("reviews", (await PropertyProbe.ReadAsync(proxy.Logs, "REQ", "node metadata app")).Text);
        Assert.True((await PropertyProbe.ReadAsync(proxy.Logs, "REQ", "listener_metadata")).Found);
    }

    /// <summary>A protobuf message's length-delimited fields (the only wire type the node has), in order.</summary>
    private static List<(int Field, byte[] Bytes)> Protobuf(byte[] message)
    {
        var fields = new List<(int, byte[])>();
        var at = 0;
        while (at < message.Length)
        {
            var tag = Varint(message, ref at);
            Assert.Equal(2, tag & 7);
            var length = Varint(message, ref at);
            fields.Add((tag >> 3, message[at..(at + length)]));
            at += length;
        }

        return fields;
    }

    private static int Varint(byte[] bytes, ref int at)
    {
        var value = 0;
        for (var shift = 0; ; shift += 7)
        {
            var b = bytes[at++];
            value |= (b & 0x7f) << shift;
            if (b < 0x80)
            {
                return value;
            }
        }
    }

    [Fact]
    public async Task After_a_reply_made_on_the_response_side_on_log_reads_the_reply_not_the_upstreams_response()
    {
        // probe sorts before replace, so its on_log comes after replace answered in on_response_headers.
        await using var proxy = await ProxyHarness.StartAsync(Yaml(
            PropertyProbe.Plugin("response code", "response headers x-from-plugin", "response headers content-type", "response size"),
            Plugin("replace", Wat("reply_on_response_headers"), "replace")));

        var (response, _) = await proxy.GetAsync("/x");

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal("replaced by plugin", await response.Content.ReadAsStringAsync());
        // It read the upstream's fields (its JSON content-type, no x-from-plugin) and size 0, as Envoy's access log does not.
        Assert.Equal(502, (await PropertyProbe.ReadAsync(proxy.Logs, "LOG", "response code")).Int64);
        Assert.Equal("yes", (await PropertyProbe.ReadAsync(proxy.Logs, "LOG", "response headers x-from-plugin")).Text);
        Assert.Equal(response.Content.Headers.ContentType!.ToString(), (await PropertyProbe.ReadAsync(proxy.Logs, "LOG", "response headers content-type")).Text);
        Assert.Equal(18, (await PropertyProbe.ReadAsync(proxy.Logs, "LOG", "response size")).Int64);
    }
}
