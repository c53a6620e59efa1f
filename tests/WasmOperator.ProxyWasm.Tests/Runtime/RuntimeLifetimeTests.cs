using WasmOperator.ProxyWasm.Runtime;

namespace WasmOperator.ProxyWasm.Tests.Runtime;

/// <summary>The runtime's own timer must not outlive it: a tick that ran after Dispose ended the whole process.</summary>
public class RuntimeLifetimeTests
{
    [Fact]
    public async Task Disposing_runtimes_while_their_epoch_ticker_fires_leaves_the_process_running()
    {
        // A 1 ms tick keeps callbacks queued on the thread pool at every Dispose; before the fix one of them
        // reached the disposed engine (ObjectDisposedException on a timer thread) and the test host crashed.
        for (var i = 0; i < 300; i++)
        {
            var runtime = new ProxyWasmRuntime(new ProxyWasmRuntimeOptions { EpochTick = TimeSpan.FromMilliseconds(1) });
            await Task.Delay(i % 3);
            runtime.Dispose();
        }

        // Ticks queued by the last runtimes get their chance to run (and crash) before the test ends.
        await Task.Delay(100);
    }
}
