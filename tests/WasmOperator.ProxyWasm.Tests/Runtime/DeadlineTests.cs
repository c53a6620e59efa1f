using WasmOperator.ProxyWasm.Abi;
using WasmOperator.ProxyWasm.Host;
using WasmOperator.ProxyWasm.Plugins;
using WasmOperator.ProxyWasm.Runtime;
using WasmOperator.ProxyWasm.Tests.Support;

namespace WasmOperator.ProxyWasm.Tests.Runtime;

/// <summary>
/// The call deadline counts the CPU a call uses, not the clock: a call whose deadline passed while its thread did not
/// run is not stopped for it, up to <see cref="WasmVm.MaxDeadlineWindows"/> deadlines. The tests move the clock
/// themselves (the engine's epoch, which its own ticker would advance every hour only), from inside a host function the
/// guest calls, so a busy machine cannot change what the guest sees. A guest that spins is stopped as before
/// (IsolationTests, on the real ticker).
/// </summary>
public class DeadlineTests
{
    private static ProxyWasmPlugin Load(ProxyWasmRuntime runtime, TestPluginHost host, ForeignFunction wait) =>
        runtime.LoadPlugin(runtime.Compile(TestModules.Wat("wait_in_host")), new PluginOptions
        {
            Name = "waits",
            Shards = 1,
            CallDeadline = TimeSpan.FromMilliseconds(50),
            RebuildBackoff = TimeSpan.Zero,
            ForeignFunctions = new Dictionary<string, ForeignFunction> { ["wait"] = wait },
        }, host);

    private static ProxyWasmRuntime ManualClock() => new(new ProxyWasmRuntimeOptions { EpochTick = TimeSpan.FromHours(1) });

    /// <summary>A host function during which a whole deadline passes on the clock while the thread uses no CPU.</summary>
    private static ForeignFunction DeadlinePasses(ProxyWasmRuntime runtime, Func<bool>? when = null) =>
        (ReadOnlySpan<byte> arguments, out byte[] result) =>
        {
            if (when?.Invoke() != false)
            {
                // A deadline of under one tick is two ticks long (DeadlineTicks): three put the clock past it.
                runtime.Engine.IncrementEpoch();
                runtime.Engine.IncrementEpoch();
                runtime.Engine.IncrementEpoch();
            }

            result = [];
            return ProxyStatus.Ok;
        };

    [Fact]
    public void A_call_whose_deadline_passed_while_its_thread_did_not_run_completes()
    {
        using var runtime = ManualClock();
        var host = new TestPluginHost();
        var calls = 0;
        using var plugin = Load(runtime, host, DeadlinePasses(runtime, () => Interlocked.Increment(ref calls) == 1));
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
        using var runtime = ManualClock();
        var host = new TestPluginHost();
        using var plugin = Load(runtime, host, DeadlinePasses(runtime));
        // One wait per header, each a deadline long: more waits than the deadlines a call is given.
        using var stream = plugin.CreateHttpStream(TestStreamHost.WithRequestHeaders(WasmVm.MaxDeadlineWindows + 4));

        var result = stream.OnRequestHeaders(true);

        Assert.Equal(FilterStatus.Failed, result.Status);
        Assert.Equal(TrapKind.Deadline, result.Failure?.Kind);
        Assert.Contains("on the clock", result.Failure?.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("done", host.Messages());
    }
}
