using System.Diagnostics;
using Prometheus;
using WasmOperator.Proxy.Metrics;

namespace WasmOperator.Proxy.Tests.Metrics;

/// <summary>
/// The counts every request changes are kept per processor and published before a scrape: what a scrape reads must be what
/// one shared Prometheus child would have read, however many threads counted.
/// </summary>
public sealed class StripedMetricsTests
{
    private static readonly double[] Buckets = [0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1];

    [Fact]
    public async Task A_striped_histogram_publishes_the_buckets_count_and_sum_of_every_value_observed_on_any_thread()
    {
        var (registry, direct, striped) = DirectAndStriped();

        // Values in every bucket, +Inf too, a tick either side of each bound.
        var values = Buckets.SelectMany(b => new[] { (long)(b * Stopwatch.Frequency) - 1, (long)(b * Stopwatch.Frequency) + 1 })
            .Append(0).Append(3 * Stopwatch.Frequency).ToArray();
        for (var round = 0; round < 2; round++)
        {
            var threads = Enumerable.Range(0, 4).Select(t => new Thread(() =>
            {
                for (var i = 0; i < 5_000; i++)
                {
                    var ticks = values[(i + t) % values.Length] + (i % 7);
                    striped.Observe(ticks);
                    lock (direct)
                    {
                        direct.Observe((double)ticks / Stopwatch.Frequency);
                    }
                }
            })).ToList();
            threads.ForEach(t => t.Start());
            threads.ForEach(t => t.Join());
            ((IStripedMetric)striped).Publish();

            var text = await ExportAsync(registry);
            var directBuckets = BucketLines(text, "direct");
            Assert.Equal(Buckets.Length + 1, directBuckets.Length);
            Assert.Equal(directBuckets, BucketLines(text, "striped"));

            Assert.Equal(20_000 * (round + 1), Series(text, "latency_seconds_count{way=\"striped\"}"));
            Assert.Equal(Series(text, "latency_seconds_count{way=\"direct\"}"), Series(text, "latency_seconds_count{way=\"striped\"}"));
            Assert.Equal(Series(text, "latency_seconds_sum{way=\"direct\"}"), Series(text, "latency_seconds_sum{way=\"striped\"}"), 1e-6);
        }
    }

    /// <summary>
    /// Scrapes while threads observe: each publishes what it read of a cell as one (its counts and their ticks), so
    /// nothing published is taken back or lost: in the end buckets and count are exact and the sum equals the values'.
    /// </summary>
    [Fact]
    public async Task Scrapes_while_threads_observe_publish_every_value_once_and_its_sum_exactly()
    {
        var (registry, direct, striped) = DirectAndStriped();
        var observing = 3;
        long totalTicks = 0;
        var scraper = new Thread(() =>
        {
            while (Volatile.Read(ref observing) > 0)
            {
                ((IStripedMetric)striped).Publish();
            }
        });
        scraper.Start();
        var threads = Enumerable.Range(0, 3).Select(t => new Thread(() =>
        {
            long mine = 0;
            for (var i = 0; i < 100_000; i++)
            {
                // Spread over the buckets, +Inf too: 0 to 0.2 s.
                var ticks = (long)((i * 7919L + t) % 200_000) * (Stopwatch.Frequency / 1_000_000);
                striped.Observe(ticks);
                mine += ticks;
                lock (direct)
                {
                    direct.Observe((double)ticks / Stopwatch.Frequency);
                }
            }

            Interlocked.Add(ref totalTicks, mine);
            Interlocked.Decrement(ref observing);
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        scraper.Join();
        ((IStripedMetric)striped).Publish();

        var text = await ExportAsync(registry);
        Assert.Equal(BucketLines(text, "direct"), BucketLines(text, "striped"));
        Assert.Equal(300_000, Series(text, "latency_seconds_count{way=\"striped\"}"));
        var sum = (double)totalTicks / Stopwatch.Frequency;
        Assert.Equal(sum, Series(text, "latency_seconds_sum{way=\"striped\"}"), sum * 1e-9);
    }

    [Fact]
    public async Task A_striped_count_publishes_every_increment_from_any_thread()
    {
        var registry = Prometheus.Metrics.NewCustomRegistry();
        var counter = Prometheus.Metrics.WithCustomRegistry(registry).CreateCounter("requests_total", "c", "code");
        var striped = new StripedCount(counter.WithLabels("2xx"));
        var threads = Enumerable.Range(0, 4).Select(_ => new Thread(() =>
        {
            for (var i = 0; i < 25_000; i++)
            {
                striped.Inc();
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());

        ((IStripedMetric)striped).Publish();

        Assert.Equal(100_000, striped.Value);
        Assert.Equal(100_000, Series(await ExportAsync(registry), "requests_total{code=\"2xx\"}"));
    }

    // One histogram family with a child observed directly and one through the striped cells, to compare in an export.
    private static (CollectorRegistry Registry, Histogram.Child Direct, StripedHistogram Striped) DirectAndStriped()
    {
        var registry = Prometheus.Metrics.NewCustomRegistry();
        var histogram = Prometheus.Metrics.WithCustomRegistry(registry).CreateHistogram("latency_seconds", "h",
            new HistogramConfiguration { LabelNames = ["way"], Buckets = Buckets });
        return (registry, histogram.WithLabels("direct"), new StripedHistogram(histogram.WithLabels("striped"), Buckets));
    }

    private static async Task<string> ExportAsync(CollectorRegistry registry)
    {
        using var output = new MemoryStream();
        await registry.CollectAndExportAsTextAsync(output);
        return System.Text.Encoding.UTF8.GetString(output.ToArray());
    }

    // The bucket series of one child, with its label's name taken out: le and the cumulative count, in order.
    private static string[] BucketLines(string text, string way) =>
        [.. text.Split('\n').Where(l => l.StartsWith($"latency_seconds_bucket{{way=\"{way}\",", StringComparison.Ordinal)).Select(l => l.Replace(way, "", StringComparison.Ordinal))];

    private static double Series(string text, string series) =>
        double.Parse(text.Split('\n').Single(l => l.StartsWith(series + " ", StringComparison.Ordinal))[(series.Length + 1)..],
            System.Globalization.CultureInfo.InvariantCulture);
}
