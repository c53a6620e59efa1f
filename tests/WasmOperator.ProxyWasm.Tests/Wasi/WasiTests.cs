using WasmOperator.ProxyWasm.Abi;
using WasmOperator.ProxyWasm.Plugins;
using WasmOperator.ProxyWasm.Runtime;
using WasmOperator.ProxyWasm.Tests.Support;

namespace WasmOperator.ProxyWasm.Tests.Wasi;

public class WasiTests
{
    private static ProxyWasmPlugin Load(ProxyWasmRuntime runtime, TestPluginHost host, string configuration = "on") =>
        runtime.LoadPlugin(runtime.Compile(TestModules.Wat("go_like")), new PluginOptions
        {
            Name = "go-like",
            Shards = 1,
            Configuration = System.Text.Encoding.UTF8.GetBytes(configuration),
            VmConfiguration = "vm-config"u8.ToArray(),
        }, host);

    [Fact]
    public void A_go_shaped_module_initializes_with_stdout_and_gets_its_vm_configuration_in_on_vm_start()
    {
        using var runtime = new ProxyWasmRuntime();
        var host = new TestPluginHost();
        using var plugin = Load(runtime, host);

        Assert.Equal([(ProxyLogLevel.Info, "init"), (ProxyLogLevel.Info, "vm-config")], host.Logs);
    }

    [Fact]
    public void Wasi_calls_go_makes_succeed_unknown_wasi_answers_enosys_and_stderr_logs_at_error()
    {
        using var runtime = new ProxyWasmRuntime();
        var host = new TestPluginHost();
        using var plugin = Load(runtime, host);
        using var stream = plugin.CreateHttpStream(new TestStreamHost());

        // malloc is preferred: the fixture's proxy_on_memory_allocate would trap.
        Assert.Equal(FilterStatus.Continue, stream.OnRequestHeaders(true).Status);

        var statuses = host.Logs.Skip(2).Where(l => l.Message.Length == 2).Select(l => l.Message);
        // path_open ENOSYS(52), poll_oneoff OK with 0 events, sched_yield OK, args_sizes_get OK,
        // wasi_unstable fd_write(2) OK, fd_write to fd 7 BADF(8), proxy-runtime's 10-parameter
        // proxy_grpc_call linked to an UNIMPLEMENTED(12) stub.
        Assert.Equal(["52", "00", "00", "00", "00", "00", "08", "12"], statuses);
        Assert.Contains((ProxyLogLevel.Error, "oops"), host.Logs);
    }

    [Fact]
    public void A_configuration_the_plugin_rejects_fails_the_load()
    {
        using var runtime = new ProxyWasmRuntime();
        var error = Assert.Throws<PluginLoadException>(() => Load(runtime, new TestPluginHost(), configuration: ""));
        Assert.Contains("proxy_on_configure rejected the configuration", error.Message, StringComparison.Ordinal);
        Assert.True(error.ConfigurationRejected);
    }

    [Fact]
    public void The_module_check_lists_a_known_import_with_another_signature_as_mismatched()
    {
        var report = SharedRuntime.Instance.Check(TestModules.Wat("go_like"));

        Assert.Equal(["env.proxy_grpc_call"], report.MismatchedImports);
        Assert.Equal(["wasi_snapshot_preview1.path_open"], report.UnknownImports);
        Assert.Equal("malloc", report.Allocator);
        Assert.Equal(AbiVersion.V0_2_0, report.AbiVersion);
    }
}
