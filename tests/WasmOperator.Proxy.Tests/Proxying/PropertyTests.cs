using System.Buffers.Binary;
using System.Net;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;
using WasmOperator.Proxy.Chain;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Proxying;

namespace WasmOperator.Proxy.Tests.Proxying;

/// <summary>Properties plugins read, filled from the real request and the node (Envoy attribute encodings).</summary>
public sealed class PropertyTests
{
    private static Exchange ExchangeFor(HttpContext context) => new(context, Array.Empty<ChainEntry>(), new ProxyOptions(), NullLogger.Instance);

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
    public void Connection_properties_are_addresses_with_ports_and_numbers_as_little_endian_int64()
    {
        var exchange = ExchangeFor(Request());

        Assert.Equal("10.1.2.3:40000", Text(exchange, "source.address"));
        Assert.Equal(40000, Number(exchange, "source.port"));
        Assert.Equal("10.9.9.9:15001", Text(exchange, "destination.address"));
        Assert.Equal(15001, Number(exchange, "destination.port"));
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
    public void Node_metadata_is_the_workloads_labels()
    {
        var options = new ProxyOptions { NodeId = "pod-1" };
        options.NodeMetadata["app"] = "reviews";
        using var callouts = new CalloutClient(options);
        var host = new PluginHost("default/p", options, callouts, NullLogger.Instance);

        Assert.True(host.TryGetProperty("node.metadata.app", out var app));
        Assert.Equal("reviews", Encoding.UTF8.GetString(app));
        Assert.True(host.TryGetProperty("node.id", out var id));
        Assert.Equal("pod-1", Encoding.UTF8.GetString(id));
        Assert.False(host.TryGetProperty("node.metadata.missing", out _));
    }
}
