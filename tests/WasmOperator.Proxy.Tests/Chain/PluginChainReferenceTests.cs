using Microsoft.Extensions.Logging.Abstractions;
using WasmOperator.Proxy.Chain;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Metrics;

namespace WasmOperator.Proxy.Tests.Chain;

/// <summary>
/// A chain's requests are counted per core: a replaced chain lets go only after its last request, and no request gets
/// a chain that was replaced, whatever cores the requests take and drop their references on.
/// </summary>
public sealed class PluginChainReferenceTests
{
    [Fact]
    public void A_replaced_chain_lets_go_after_its_last_request_and_takes_no_new_one()
    {
        var chain = new PluginChain(1, [], "sidecar");
        Assert.True(chain.TryAcquire());
        Assert.True(chain.TryAcquire());
        Assert.Equal(2, chain.InFlight);

        chain.Retire();
        Assert.False(chain.Released);
        Assert.False(chain.TryAcquire());
        chain.Release();
        Assert.False(chain.Released);
        chain.Release();

        Assert.True(chain.Released);
        Assert.Equal(0, chain.InFlight);
        Assert.False(chain.TryAcquire());
    }

    [Fact]
    public void A_chain_retired_while_requests_come_and_go_on_every_core_is_never_released_under_one()
    {
        var metrics = new ProxyMetrics(NullLogger<ProxyMetrics>.Instance).For("default/kept");
        for (var run = 0; run < 20; run++)
        {
            // A plugin the next chain keeps too (two owners): the chain must drop its reference once, however many
            // requests race its retirement; a second drop would dispose the plugin under the next chain.
            var kept = new LoadedPlugin(null!);
            Assert.True(kept.TryRetain());
            var chain = new PluginChain(run, [new ChainEntry(new PluginSpec { Name = "kept", Url = "file:///kept.wasm" }, "r", kept, null, metrics)], "sidecar");
            var failures = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
            var heldWhenReleased = 0;
            var acquiredAfterRetire = 0;
            var retired = 0;
            using var start = new Barrier(5);
            var threads = Enumerable.Range(0, 4).Select(_ => new Thread(() =>
            {
                start.SignalAndWait();
                try
                {
                    Requests();
                }
                catch (Exception ex)
                {
                    failures.Enqueue(ex);
                }
            })).ToList();

            void Requests()
            {
                for (var i = 0; i < 20_000; i++)
                {
                    var late = Volatile.Read(ref retired) == 1;
                    if (!chain.TryAcquire())
                    {
                        continue;
                    }

                    if (late)
                    {
                        Interlocked.Increment(ref acquiredAfterRetire);
                    }

                    // Still held here, so not released, whatever the other threads do.
                    Thread.Yield();
                    if (chain.Released)
                    {
                        Interlocked.Increment(ref heldWhenReleased);
                    }

                    chain.Release();
                }
            }

            threads.ForEach(t => t.Start());
            start.SignalAndWait();
            Thread.SpinWait(2_000 * run);
            chain.Retire();
            Volatile.Write(ref retired, 1);
            threads.ForEach(t => t.Join());

            Assert.Empty(failures);
            Assert.Equal(0, heldWhenReleased);
            Assert.Equal(0, acquiredAfterRetire);
            Assert.True(chain.Released);
            Assert.Equal(0, chain.InFlight);
            Assert.False(kept.Released);
        }
    }
}
