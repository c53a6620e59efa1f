using System.Diagnostics;
using System.Net;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using WasmOperator.Proxy.Tests.Support;
using Xunit.Abstractions;
using static WasmOperator.Proxy.Tests.Support.TestModules;

namespace WasmOperator.Proxy.Tests.Proxying;

/// <summary>
/// A callout's answer runs on the plugin's VM whenever it comes, on the callout's thread, and through
/// <c>proxy_set_effective_context</c> reaches the stream's maps and bodies while the exchange uses them on its own
/// thread (appending chunks to a held body) and another plugin's callback edits the same map. The exchange's state
/// lock serializes each such hostcall with the exchange's own touches and with the other plugin's hostcalls: the
/// held body reaches the upstream whole, and a map read while another plugin edits it is read whole.
/// </summary>
public sealed class StreamStateRaceTests(ITestOutputHelper output)
{
    /// <summary>A body sent in many small flushed writes, so chunks keep arriving while the plugin's callout answer runs.</summary>
    private sealed class Trickle(byte[] payload, bool chunked) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            for (var i = 0; i < payload.Length; i += 1000)
            {
                await stream.WriteAsync(payload.AsMemory(i, Math.Min(1000, payload.Length - i)));
                await stream.FlushAsync();
                if (i % 10000 == 0)
                {
                    await Task.Delay(1);
                }
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = payload.Length;
            return !chunked;
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_callout_answer_rewriting_a_held_body_while_chunks_arrive_loses_no_byte(bool chunked)
    {
        await using var collector = await LoopbackApp.StartAsync(HttpProtocols.Http1, ctx => ctx.Response.WriteAsync("pong"));
        await using var proxy = await ProxyHarness.StartAsync(
            Yaml(Plugin("hold", Wat("hold_body_edit_on_callout_answer"), "hold", extra: "limits:\n  maxCallDuration: 10s")),
            o =>
            {
                o.Clusters["collector"] = collector.Address;
                o.ShardsPerPlugin = 1;
                o.MaxBufferedBodyBytes = 8 << 20;
            });
        // 480 kB in 480 writes: the answer's 20000 rewrites of the held body overlap many appends.
        var text = string.Concat(Enumerable.Range(0, 60000).Select(i => i.ToString("D7") + "\n"));
        var payload = Encoding.ASCII.GetBytes(text);
        var outcomes = new List<string>();
        var clock = Stopwatch.StartNew();
        for (var round = 0; round < 5 && clock.Elapsed < TimeSpan.FromSeconds(10); round++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/upload") { Content = new Trickle(payload, chunked) };
            var (response, echo) = await proxy.SendAsync(request);
            var body = echo?.Body ?? "";
            outcomes.Add($"{(int)response.StatusCode} echoed={body.Length} of {payload.Length} intact={body == text}");
        }

        foreach (var outcome in outcomes)
        {
            output.WriteLine(outcome);
        }

        Assert.NotEmpty(outcomes);
        Assert.All(outcomes, o => Assert.Equal($"200 echoed={payload.Length} of {payload.Length} intact=True", o));
        Assert.DoesNotContain(proxy.Logs.Lines, l => l.Contains("hold", StringComparison.Ordinal) && l.Contains("fail", StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public async Task A_callout_answer_reads_the_response_headers_whole_while_another_plugin_edits_them()
    {
        // The collector never answers: the reader's callout times out after 300 ms (its answer, with no headers, still
        // runs the reader's loop), while the mutator's callback is editing the response headers. A timer ends the
        // callout, not a socket: an answer read from a socket may wait for the socket thread the mutator's callback runs
        // on (inline socket completions), and then never overlaps it.
        await using var collector = await HangingUpstream.StartAsync();
        await using var proxy = await CalloutPairAsync(collector, ("reader", "read_response_headers_from_callout", "10s"), ("mutator", "mutate_response_headers", "10s"));

        // Rounds until the reader's answer overlapped the mutator's callback three times (or 10 s went by).
        var codes = new List<int>();
        var clock = Stopwatch.StartNew();
        for (var round = 1; round <= 10 && Overlaps(proxy) < 3 && clock.Elapsed < TimeSpan.FromSeconds(10); round++)
        {
            var (response, _) = await proxy.GetAsync("/race");
            codes.Add((int)response.StatusCode);
            // The reader's answer ends on its own: the next request starts once it did (or the VM failed).
            var waited = Stopwatch.StartNew();
            while (Count(proxy, "reader end") < round && !Failed(proxy) && waited.Elapsed < TimeSpan.FromSeconds(5))
            {
                await Task.Delay(10);
            }
        }

        output.WriteLine($"statuses: {string.Join(",", codes)}; answers overlapping the mutator: {Overlaps(proxy)}");
        foreach (var line in proxy.Logs.Lines.Where(l => l.Contains("reader", StringComparison.Ordinal) || l.Contains("shard", StringComparison.Ordinal)).Take(20))
        {
            output.WriteLine(line.Length > 300 ? line[..300] : line);
        }

        Assert.False(Failed(proxy), "the reader's VM trapped");
        Assert.All(codes, c => Assert.Equal(200, c));
        Assert.Equal(codes.Count, Count(proxy, "reader end"));
        Assert.True(Overlaps(proxy) >= 1, "no callout answer ran while the other plugin edited the map: the race was not exercised");
    }

    [Fact]
    public async Task A_slow_guest_allocator_does_not_hold_the_stream_up_for_another_plugins_hostcall()
    {
        // The reader's answer (at 300 ms) reads the request headers, and its allocator takes about a second; the quick
        // plugin's answer (at 400 ms, 500 ms CPU deadline) reads one header of the same stream meanwhile. Had the allocator
        // run under the stream's state lock, the quick plugin would have waited past its deadline and trapped (503).
        await using var collector = await HangingUpstream.StartAsync();
        await using var proxy = await CalloutPairAsync(collector, ("quick", "quick_header_read_on_answer", "500ms"), ("slow", "slow_allocator_reader", "10s"));

        var (response, _) = await proxy.GetAsync("/slow-allocator");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        static bool QuickDone(string line) => line.EndsWith("wasm log default/quick: quick read done", StringComparison.Ordinal);
        static bool QuickFailed(string line) => line.Contains("plugin default/quick shard 0", StringComparison.Ordinal);
        await ProxyHarness.EventuallyAsync(() => Task.FromResult(proxy.Logs.Lines.Any(l => QuickDone(l) || QuickFailed(l))), "the quick plugin's answer to end");
        Assert.DoesNotContain(proxy.Logs.Lines, QuickFailed);
        Assert.Contains(proxy.Logs.Lines, QuickDone);
        Assert.True(proxy.Logs.Contains("slow read done"));
    }

    /// <summary>Two WAT plugins in this order (name = root id = fixture's role, with a CPU deadline each), one VM each, and the cluster "collector".</summary>
    private static Task<ProxyHarness> CalloutPairAsync(HangingUpstream collector, (string Name, string Fixture, string Deadline) first,
        (string Name, string Fixture, string Deadline) second) =>
        ProxyHarness.StartAsync(
            Yaml(
                Plugin(first.Name, Wat(first.Fixture), first.Name, extra: "limits:\n  maxCallDuration: " + first.Deadline),
                Plugin(second.Name, Wat(second.Fixture), second.Name, extra: "limits:\n  maxCallDuration: " + second.Deadline)),
            o =>
            {
                o.Clusters["collector"] = collector.Address;
                o.ShardsPerPlugin = 1;
            });

    /// <summary>How many of the reader's answers started while the mutator's callback ran (the log is in order).</summary>
    private static int Overlaps(ProxyHarness proxy)
    {
        var mutating = false;
        var overlaps = 0;
        foreach (var line in proxy.Logs.Lines)
        {
            if (line.Contains("mutator start", StringComparison.Ordinal))
            {
                mutating = true;
            }
            else if (line.Contains("mutator end", StringComparison.Ordinal))
            {
                mutating = false;
            }
            else if (mutating && line.Contains("reader start", StringComparison.Ordinal))
            {
                overlaps++;
            }
        }

        return overlaps;
    }

    private static int Count(ProxyHarness proxy, string text) => proxy.Logs.Lines.Count(l => l.Contains(text, StringComparison.Ordinal));

    private static bool Failed(ProxyHarness proxy) =>
        proxy.Logs.Lines.Any(l => l.Contains("trap", StringComparison.OrdinalIgnoreCase) || l.Contains("too small", StringComparison.Ordinal));
}
