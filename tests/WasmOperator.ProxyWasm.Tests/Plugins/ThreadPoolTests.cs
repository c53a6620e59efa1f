using System.Collections.Concurrent;
using WasmOperator.ProxyWasm.Plugins;
using WasmOperator.ProxyWasm.Tests.Support;

namespace WasmOperator.ProxyWasm.Tests.Plugins;

/// <summary>
/// Ticks, queue notifications and callout replies reach a VM from thread-pool threads: none of them may
/// wait there for a busy VM, or a plugin slower than its own events starves the whole process.
/// </summary>
[Collection(ThreadPoolCollection.Name)]
public class ThreadPoolTests
{
    [Fact]
    public async Task Host_events_for_a_busy_VM_are_queued_in_order_without_blocking_the_posting_thread()
    {
        using var plugin = SharedRuntime.Instance.LoadPlugin(SharedRuntime.Instance.Compile(TestModules.Wat("traps")),
            new PluginOptions { Name = "traps", Shards = 1 }, new TestPluginHost());
        var shard = plugin.Shards[0];
        var generation = shard.Generation;
        var delivered = new ConcurrentQueue<int>();
        using var held = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var holder = new Thread(() =>
        {
            lock (shard.Gate)
            {
                held.Set();
                release.Wait(TimeSpan.FromSeconds(10)); // bounded: a post that waits for the gate fails the test, not hangs it
            }

            shard.DrainDeferred(); // as every holder does after a VM call
        });
        holder.Start();
        held.Wait();
        try
        {
            var posting = Task.Run(() =>
            {
                for (var i = 0; i < 20; i++)
                {
                    var n = i;
                    shard.Post(generation, _ => delivered.Enqueue(n));
                }
            });

            Assert.True(await Task.WhenAny(posting, Task.Delay(5000)) == posting, "Post waited for the busy VM on a pool thread");
            Assert.Empty(delivered);
        }
        finally
        {
            release.Set();
            holder.Join();
        }

        Assert.Equal(Enumerable.Range(0, 20), delivered);
    }
}
