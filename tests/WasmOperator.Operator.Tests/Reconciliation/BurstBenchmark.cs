using System.Diagnostics;
using System.Globalization;
using WasmOperator.Api.WasmPlugins;
using WasmOperator.Operator.Tests.Support;
using Xunit.Abstractions;

namespace WasmOperator.Operator.Tests.Reconciliation;

/// <summary>
/// `make bench`: time from creating 500 WasmPlugins (module cached) until each has its desired state and status,
/// and reconcile p50/p99 (bucket upper bounds of the reconcile histogram). Reports numbers; asserts only correctness.
/// Run with: dotnet test --filter Category=Bench
/// </summary>
public sealed class BurstBenchmark(ITestOutputHelper output)
{
    private const int Plugins = 500;

    [Fact]
    [Trait("Category", "Bench")]
    public async Task Five_hundred_plugins_with_a_cached_module_reach_desired_state_and_status()
    {
        await using var cluster = await Cluster.StartAsync();
        var (url, sha) = cluster.Modules.ProxyWasm("bench");
        var op = await cluster.StartOperatorAsync(cluster.Options() with { Workers = 4 });
        await cluster.CreateAsync(Cluster.Plugin("warm", url, sha));
        await cluster.WaitForConditionAsync("warm", ConditionTypes.Ready, ConditionStatus.True);

        var clock = Stopwatch.StartNew();
        for (var i = 0; i < Plugins; i++)
        {
            await cluster.CreateAsync(Cluster.Plugin($"bench-{i}", url, sha));
        }

        var created = clock.Elapsed;
        await Cluster.EventuallyAsync(() => op.Desired.Snapshot().Count == Plugins + 1, "every desired state");
        var desired = clock.Elapsed;
        await Cluster.EventuallyAsync(async () => await cluster.CountReadyAsync() == Plugins + 1, "every status");
        var statused = clock.Elapsed;

        var text = await MetricsText(op);
        output.WriteLine(FormattableString.Invariant($"created {Plugins} in {created.TotalMilliseconds:F0} ms; all desired after {desired.TotalMilliseconds:F0} ms; all Ready in status after {statused.TotalMilliseconds:F0} ms"));
        output.WriteLine(FormattableString.Invariant($"reconciles {op.Host.Reconciles}; reconcile p50 <= {Quantile(text, 0.5) * 1000:F2} ms, p99 <= {Quantile(text, 0.99) * 1000:F2} ms"));
        Assert.Equal(Plugins + 1, op.Desired.Applies);
    }

    private static async Task<string> MetricsText(Replica op)
    {
        using var stream = new MemoryStream();
        await op.Host.Metrics.Registry.CollectAndExportAsTextAsync(stream);
        return System.Text.Encoding.UTF8.GetString(stream.ToArray());
    }

    private static double Quantile(string metrics, double q)
    {
        var buckets = new List<(double Le, double Count)>();
        foreach (var line in metrics.Split('\n'))
        {
            if (line.StartsWith("controller_runtime_reconcile_time_seconds_bucket", StringComparison.Ordinal))
            {
                var le = line[(line.IndexOf("le=\"", StringComparison.Ordinal) + 4)..];
                le = le[..le.IndexOf('"', StringComparison.Ordinal)];
                var count = double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
                buckets.Add((le == "+Inf" ? double.PositiveInfinity : double.Parse(le, CultureInfo.InvariantCulture), count));
            }
        }

        var total = buckets[^1].Count;
        return buckets.First(b => b.Count >= q * total).Le;
    }
}
