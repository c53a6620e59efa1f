using System.Collections.Concurrent;
using System.Diagnostics;
using WasmOperator.ProxyWasm.Abi;
using WasmOperator.ProxyWasm.Host;
using WasmOperator.ProxyWasm.Plugins;
using WasmOperator.ProxyWasm.Runtime;
using WasmOperator.ProxyWasm.Tests.Support;

namespace WasmOperator.ProxyWasm.Tests.Plugins;

/// <summary>proxy_on_tick as Envoy drives it: the timer is re-armed only after on_tick returned, so ticks never overlap or pile up.</summary>
public class TickTests
{
    private static ProxyWasmPlugin LoadSlowTick(ProxyWasmRuntime runtime, IPluginHost host, int shards) =>
        runtime.LoadPlugin(runtime.Compile(TestModules.Wat("slow_tick")), new PluginOptions
        {
            Name = "slow-tick",
            Shards = shards,
            CallDeadline = TimeSpan.FromMilliseconds(100),
            RebuildBackoff = TimeSpan.Zero,
        }, host);

    [Fact]
    public async Task The_next_tick_starts_a_full_period_after_the_previous_one_ended()
    {
        var host = new TimedLogHost();
        using (var plugin = LoadSlowTick(SharedRuntime.Instance, host, shards: 1))
        {
            Assert.True(await host.WaitForAsync("tick end", count: 6));
        }

        var lines = host.Lines.ToArray();
        var ends = 0;
        for (var i = 0; i + 1 < lines.Length; i++)
        {
            if (lines[i].Message != "tick end")
            {
                continue;
            }

            ends++;
            Assert.Equal("tick start", lines[i + 1].Message);
            // The fixture's on_tick (20 ms) outlasts its period (10 ms): a periodic timer starts the next one at once.
            // Half the period, not all of it: .NET timers count whole milliseconds of Environment.TickCount, and the
            // "tick end" line is taken inside on_tick, before the host re-arms the timer (a clean clone saw 7.5 ms).
            var gap = Stopwatch.GetElapsedTime(lines[i].Timestamp, lines[i + 1].Timestamp);
            Assert.True(gap >= TimeSpan.FromMilliseconds(5), $"tick {ends + 1} started {gap.TotalMilliseconds:F1} ms after tick {ends} ended (period 10 ms)");
        }

        Assert.True(ends >= 5);
    }

    [Fact]
    public async Task A_VM_rebuilt_after_a_crash_gets_the_ticks_it_sets_up_in_on_vm_start()
    {
        var host = new TestPluginHost();
        using var plugin = LoadSlowTick(SharedRuntime.Instance, host, shards: 1);
        Assert.True(await host.WaitForLogAsync(m => m == "tick end"));

        using (var crashing = plugin.CreateHttpStream(TestStreamHost.WithRequestHeaders(6)))
        {
            Assert.Equal(FilterStatus.Failed, crashing.OnRequestHeaders(true).Status);
        }

        using (var rebuilt = plugin.CreateHttpStream(TestStreamHost.WithRequestHeaders(5)))
        {
            Assert.Equal(FilterStatus.Continue, rebuilt.OnRequestHeaders(true).Status);
        }

        Assert.Equal(1, plugin.CrashCount);
        var ticksBefore = host.Messages().Count(m => m == "tick end");
        Assert.True(await host.WaitForLogAsync(_ => host.Messages().Count(m => m == "tick end") >= ticksBefore + 3),
            "the rebuilt VM's tick timer never reached it");
    }

    /// <summary>Log lines with the time they arrived.</summary>
    private sealed class TimedLogHost : IPluginHost
    {
        public ConcurrentQueue<(long Timestamp, string Message)> Lines { get; } = new();

        public void Log(ProxyLogLevel level, string message) => Lines.Enqueue((Stopwatch.GetTimestamp(), message));

        /// <summary>Waits (bounded, not a timing assertion) for <paramref name="count"/> lines equal to <paramref name="message"/>.</summary>
        public async Task<bool> WaitForAsync(string message, int count)
        {
            for (var waited = 0; waited < 10_000; waited += 10)
            {
                if (Lines.Count(l => l.Message == message) >= count)
                {
                    return true;
                }

                await Task.Delay(10);
            }

            return false;
        }

        public Task<HttpCalloutResponse> SendHttpCalloutAsync(HttpCalloutRequest request, CancellationToken cancellationToken) =>
            Task.FromException<HttpCalloutResponse>(new InvalidOperationException("no upstream"));

        public Task<GrpcCalloutResponse> SendGrpcCalloutAsync(GrpcCalloutRequest request, CancellationToken cancellationToken) =>
            Task.FromException<GrpcCalloutResponse>(new InvalidOperationException("no upstream"));

        public bool TryGetProperty(string path, out byte[] value)
        {
            value = [];
            return false;
        }
    }
}
