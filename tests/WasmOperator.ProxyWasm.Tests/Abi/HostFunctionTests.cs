using System.Text;
using WasmOperator.ProxyWasm.Abi;
using WasmOperator.ProxyWasm.Plugins;
using WasmOperator.ProxyWasm.Runtime;
using WasmOperator.ProxyWasm.Tests.Support;

namespace WasmOperator.ProxyWasm.Tests.Abi;

public class HostFunctionTests
{
    // Status of each call in Fixtures/hostcalls.wat, in order (see the fixture for the calls).
    private static readonly string[] ExpectedStatuses = ["01", "00", "00", "02", "06", "00", "00", "00", "00", "01", "01", "00", "02", "00", "01", "00", "00", "08", "00", "07", "00", "00", "01", "00", "02", "00", "00", "00", "02", "02", "02", "01", "00", "00", "28", "00", "00", "02", "00", "00", "02", "00", "00", "00", "00"];

    private static (ProxyWasmRuntime Runtime, ProxyWasmPlugin Plugin, TestPluginHost Host) Load(string fixture, string name, IReadOnlyDictionary<string, string>? environment = null)
    {
        var runtime = new ProxyWasmRuntime();
        var host = new TestPluginHost();
        var plugin = runtime.LoadPlugin(runtime.Compile(TestModules.Wat(fixture)),
            new PluginOptions { Name = name, Shards = 1, Environment = environment ?? new Dictionary<string, string>() }, host);
        return (runtime, plugin, host);
    }

    [Fact]
    public void Every_host_function_returns_the_documented_status_on_its_happy_and_error_paths()
    {
        var (runtime, plugin, host) = Load("hostcalls", "hostcalls", new Dictionary<string, string> { ["A"] = "b" });
        using var _ = runtime;
        using var __ = plugin;
        var request = new TestStreamHost();
        request.RequestBody.Append("body"u8);
        using var stream = plugin.CreateHttpStream(request);

        var result = stream.OnRequestHeaders(endOfStream: false);

        var messages = host.Messages();
        var statuses = messages.Where(m => m.Length == 2 && char.IsDigit(m[0]) && char.IsDigit(m[1])).ToArray();
        Assert.Equal(ExpectedStatuses, statuses);
        // Values returned through the allocator, in order.
        var values = messages.Where(m => !statuses.Contains(m)).ToArray();
        // The last one is property request\0path (NUL-joined segments, as the Rust SDK sends them).
        Assert.Equal(["value", "hostcalls", "prebody", "v", "v", "hello stdout", "A=b", "/"], values);
        // Effects on the host side.
        Assert.Equal("v2", request.RequestHeaders.Get("x-key"));
        Assert.Equal("prebody", Encoding.UTF8.GetString(request.RequestBody.Span));
        Assert.Equal([new KeyValuePair<string, string>(":method", "GET")], request.ResponseHeaders.Entries);
        Assert.True(runtime.Metrics.TryGet("wat_counter", MetricType.Counter, out var metric));
        Assert.Equal(8, metric.Value);
        Assert.Equal(FilterStatus.LocalResponse, result.Status);
        Assert.Equal(403, result.LocalResponse?.StatusCode);
        Assert.Equal("denied", result.LocalResponse?.Details);
        Assert.Equal("forbidden", Encoding.UTF8.GetString(result.LocalResponse?.Body ?? []));
        Assert.Null(result.LocalResponse?.GrpcStatus);
    }

    [Fact]
    public void A_log_message_over_16_KiB_is_cut_there_with_a_marker_from_proxy_log_and_from_stdout()
    {
        var (runtime, plugin, host) = Load("big_log", "big-log");
        using var _ = runtime;
        using var __ = plugin;

        var messages = host.Messages();

        Assert.Equal(2, messages.Count);
        foreach (var message in messages)
        {
            // The 2-byte 'é' straddling the cut is left out whole, not decoded half.
            Assert.Equal(new string('a', (16 * 1024) - 1) + " ... [truncated, 100000 bytes]", message);
        }
    }

    [Fact]
    public void A_0_1_0_module_runs_with_two_argument_header_callbacks_and_get_configuration()
    {
        var runtime = new ProxyWasmRuntime();
        using var _ = runtime;
        var module = runtime.Compile(TestModules.Wat("abi_0_1_0"));
        Assert.Equal(AbiVersion.V0_1_0, module.AbiVersion);
        using var plugin = runtime.LoadPlugin(module, new PluginOptions { Name = "old", Shards = 1, Configuration = "cfg-value"u8.ToArray() }, new TestPluginHost());
        var request = new TestStreamHost();
        using var stream = plugin.CreateHttpStream(request);

        Assert.Equal(FilterStatus.Continue, stream.OnRequestHeaders(true).Status);

        Assert.Equal("cfg-value", request.RequestHeaders.Get("x-config"));
        Assert.Equal("0", request.RequestHeaders.Get("x-missing-status")); // 0.1.0: OK with an empty value
    }

    [Fact]
    public void A_module_without_an_abi_marker_is_rejected_with_a_clear_error()
    {
        using var runtime = new ProxyWasmRuntime();
        var error = Assert.Throws<PluginLoadException>(() => runtime.Compile(TestModules.Wat("no_marker")));
        Assert.Contains("Missing or unknown Proxy-Wasm ABI version", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task On_done_returning_false_does_not_keep_a_stream_and_proxy_done_is_not_found()
    {
        var (runtime, plugin, host) = Load("deferred_done", "deferred");
        using var _ = runtime;
        using var __ = plugin;
        using var stream = plugin.CreateHttpStream(new TestStreamHost());
        Assert.Equal(2, stream.ContextId);

        stream.Complete();

        // on_log and on_delete ran at once; the tick's later proxy_done for the stream found nothing to finish.
        Assert.Equal(["logged", "deleted"], host.Messages());
        Assert.True(await host.WaitForLogAsync(m => m == "done-not-found"));
        Assert.Equal(["logged", "deleted", "done-not-found"], host.Messages());
    }

    [Fact]
    public void The_allocator_may_log_but_a_forbidden_hostcall_inside_it_fails_the_vm()
    {
        var (runtime, plugin, host) = Load("restricted_allocator", "restricted!");
        using var _ = runtime;
        using var __ = plugin;
        using var stream = plugin.CreateHttpStream(new TestStreamHost());

        var result = stream.OnRequestHeaders(true);

        Assert.Equal(FilterStatus.Failed, result.Status);
        Assert.Equal(TrapKind.RestrictedHostcall, result.Failure?.Kind);
        Assert.Contains("allocating", host.Messages());
    }
}
