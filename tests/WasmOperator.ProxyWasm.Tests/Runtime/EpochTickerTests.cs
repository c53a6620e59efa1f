using System.Diagnostics;
using WasmOperator.ProxyWasm.Plugins;
using WasmOperator.ProxyWasm.Runtime;
using WasmOperator.ProxyWasm.Tests.Support;

namespace WasmOperator.ProxyWasm.Tests.Runtime;

/// <summary>The epoch ticker enforces every call's CPU deadline, so it must not wait for a thread-pool thread.</summary>
[Collection(ThreadPoolCollection.Name)]
public class EpochTickerTests
{
    [Fact]
    public void A_runaway_guest_is_interrupted_near_its_deadline_while_the_thread_pool_is_saturated()
    {
        using var runtime = new ProxyWasmRuntime();
        using var plugin = runtime.LoadPlugin(runtime.Compile(TestModules.Wat("traps")), new PluginOptions
        {
            Name = "traps", Shards = 1, CallDeadline = TimeSpan.FromMilliseconds(100), RebuildBackoff = TimeSpan.Zero,
        }, new TestPluginHost());
        var request = TestStreamHost.WithRequestHeaders(8); // 8 headers: an infinite loop

        // A task, not a disposable event: blocked items still queued when the test ends wait on it after it returned
        // (an event disposed by then threw on a pool thread and crashed the test host).
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        for (var i = 0; i < Environment.ProcessorCount * 4 + 16; i++)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static gate => gate.Wait(TimeSpan.FromSeconds(10)), release.Task, preferLocal: false);
        }

        var elapsed = TimeSpan.Zero;
        FilterResult result = default;
        try
        {
            var caller = new Thread(() =>
            {
                using var stream = plugin.CreateHttpStream(request);
                var started = Stopwatch.GetTimestamp();
                result = stream.OnRequestHeaders(true);
                elapsed = Stopwatch.GetElapsedTime(started);
            });
            caller.Start();
            caller.Join();
        }
        finally
        {
            release.SetResult();
        }

        Assert.Equal(TrapKind.Deadline, result.Failure?.Kind);
        // The deadline counts CPU: a loop that a busy machine runs only part of the time may take up to ten deadlines on
        // the clock (WasmVm.MaxDeadlineWindows). A ticker waiting for a pool thread would wait for the blocked items' 10 s.
        Assert.True(elapsed < TimeSpan.FromSeconds(5), $"a 100 ms deadline interrupted the loop after {elapsed.TotalMilliseconds:F0} ms");
    }
}
