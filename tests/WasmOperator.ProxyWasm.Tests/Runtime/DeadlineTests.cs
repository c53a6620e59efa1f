using WasmOperator.ProxyWasm.Abi;
using WasmOperator.ProxyWasm.Host;
using WasmOperator.ProxyWasm.Plugins;
using WasmOperator.ProxyWasm.Runtime;
using WasmOperator.ProxyWasm.Tests.Support;

namespace WasmOperator.ProxyWasm.Tests.Runtime;

/// <summary>
/// The call deadline counts the CPU a call uses, not the clock: a thread the machine does not run (here, a host
/// function that blocks) is not stopped for it, up to <see cref="WasmVm.MaxDeadlineWindows"/> deadlines. A guest that
/// spins is stopped as before (IsolationTests).
/// </summary>
public class DeadlineTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromMilliseconds(50);

    private static ProxyWasmPlugin Load(ProxyWasmRuntime runtime, TestPluginHost host, ForeignFunction wait) =>
        runtime.LoadPlugin(runtime.Compile(TestModules.Wat("wait_in_host")), new PluginOptions
        {
            Name = "waits",
            Shards = 1,
            CallDeadline = Deadline,
            RebuildBackoff = TimeSpan.Zero,
            ForeignFunctions = new Dictionary<string, ForeignFunction> { ["wait"] = wait },
        }, host);

    [Fact]
    public void A_call_whose_thread_waited_past_its_deadline_without_using_it_completes()
    {
        using var runtime = new ProxyWasmRuntime();
        var host = new TestPluginHost();
        var calls = 0;
        using var plugin = Load(runtime, host, (ReadOnlySpan<byte> arguments, out byte[] result) =>
        {
            // Once, six deadlines long: the wall clock passes the deadline, the thread's CPU time does not.
            if (Interlocked.Increment(ref calls) == 1)
            {
                Thread.Sleep(Deadline * 6);
            }

            result = [];
            return ProxyStatus.Ok;
        });
        using var stream = plugin.CreateHttpStream(new TestStreamHost());

        var result = stream.OnRequestHeaders(true);

        Assert.Null(result.Failure);
        Assert.Equal(FilterStatus.Continue, result.Status);
        Assert.Contains("done", host.Messages());
        Assert.Equal(0, plugin.CrashCount);
    }

    [Fact]
    public void A_call_kept_waiting_for_ten_deadlines_is_stopped_all_the_same()
    {
        using var runtime = new ProxyWasmRuntime();
        var host = new TestPluginHost();
        using var plugin = Load(runtime, host, (ReadOnlySpan<byte> arguments, out byte[] result) =>
        {
            // Each wait outlasts a deadline window; the call never uses its CPU but keeps its thread.
            Thread.Sleep(Deadline * 2);
            result = [];
            return ProxyStatus.Ok;
        });
        // One wait per header: more waits than the windows a call is given.
        using var stream = plugin.CreateHttpStream(TestStreamHost.WithRequestHeaders(WasmVm.MaxDeadlineWindows + 4));

        var result = stream.OnRequestHeaders(true);

        Assert.Equal(FilterStatus.Failed, result.Status);
        Assert.Equal(TrapKind.Deadline, result.Failure?.Kind);
        Assert.Contains("on the clock", result.Failure?.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("done", host.Messages());
    }
}
