using System.Collections.Concurrent;
using WasmOperator.ProxyWasm.Plugins;
using WasmOperator.ProxyWasm.Runtime;
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
    public async Task A_tick_slower_than_its_period_leaves_the_thread_pool_free()
    {
        var host = new TestPluginHost();
        using var plugin = SharedRuntime.Instance.LoadPlugin(SharedRuntime.Instance.Compile(TestModules.Wat("slow_tick")), new PluginOptions
        {
            Name = "slow-tick", Shards = 4, CallDeadline = TimeSpan.FromMilliseconds(100),
        }, host);

        // Each shard's 10 ms timer fires twice per 20 ms on_tick: a periodic timer queues ~200 pool items a second.
        await Task.Delay(1500);
        var pending = ThreadPool.PendingWorkItemCount;
        var probe = Task.Run(() => true);
        var answered = await Task.WhenAny(probe, Task.Delay(5000)) == probe;

        Assert.True(host.Messages().Count(m => m == "tick end") >= 4);
        Assert.True(pending < 50, $"{pending} work items queued on the thread pool");
        Assert.True(answered, "a Task.Run did not start within 5 s");
    }

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
