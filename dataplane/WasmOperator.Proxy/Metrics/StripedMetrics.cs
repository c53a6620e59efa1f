using System.Diagnostics;
using Prometheus;

namespace WasmOperator.Proxy.Metrics;

/// <summary>
/// A counter child that the request path counts on the cells of the processors it runs on (<see cref="StripedCounter"/>); each scrape first
/// publishes the sum into the Prometheus child (<see cref="ProxyMetrics"/> does, before it collects).
/// </summary>
internal sealed class StripedCount(Counter.Child child) : IStripedMetric
{
    private readonly StripedCounter _count = new();

    public void Inc() => _count.Increment();

    /// <summary>The count so far (a sum of the cells).</summary>
    public long Value => _count.Sum();

    void IStripedMetric.Publish() => child.IncTo(_count.Sum());
}

/// <summary>
/// A histogram child the request path fills on the cells of the processors it runs on (see <see cref="StripedCells"/>): per bucket, the
/// observations and their total in <see cref="Stopwatch"/> ticks, both written under the cell's gate (one uncontended
/// compare-exchange on the processor's own cache line), so a scrape reads each cell's counts and ticks as one. Each scrape
/// publishes what came since the last one into the Prometheus child, bucket by bucket, as that many observations of
/// their mean: the buckets and <c>_count</c> read exactly, <c>_sum</c> up to the rounding of ticks to seconds.
/// </summary>
internal sealed class StripedHistogram : IStripedMetric
{
    private readonly Histogram.Child _child;
    private readonly double[] _bounds;
    private readonly long[] _boundTicks;
    private readonly int _buckets;
    private readonly int _width;

    // Per cell, its gate, the buckets' counts, then their tick totals (the last bucket is +Inf), padded to whole strides.
    private readonly long[] _cells;
    private readonly long[] _publishedCounts;
    private readonly long[] _publishedTicks;

    public StripedHistogram(Histogram.Child child, double[] bounds)
    {
        _child = child;
        _bounds = bounds;
        // A value goes in the first bucket whose bound it does not pass (Prometheus' le): at most floor(bound) ticks.
        _boundTicks = [.. bounds.Select(b => (long)Math.Floor(b * Stopwatch.Frequency))];
        _buckets = bounds.Length + 1;
        _width = (1 + 2 * _buckets + StripedCells.Stride - 1) / StripedCells.Stride * StripedCells.Stride;
        _cells = new long[(StripedCells.Count + 1) * _width];
        _publishedCounts = new long[_buckets];
        _publishedTicks = new long[_buckets];
    }

    /// <summary>Records one value, in <see cref="Stopwatch"/> ticks.</summary>
    public void Observe(long ticks)
    {
        var bucket = 0;
        while (bucket < _boundTicks.Length && ticks > _boundTicks[bucket])
        {
            bucket++;
        }

        var cell = (StripedCells.Current + 1) * _width;
        Enter(ref _cells[cell]);
        _cells[cell + 1 + bucket]++;
        _cells[cell + 1 + _buckets + bucket] += ticks;
        Volatile.Write(ref _cells[cell], 0);
    }

    void IStripedMetric.Publish()
    {
        Span<long> counts = stackalloc long[_buckets];
        Span<long> ticks = stackalloc long[_buckets];
        for (var cell = _width; cell < _cells.Length; cell += _width)
        {
            Enter(ref _cells[cell]);
            for (var b = 0; b < _buckets; b++)
            {
                counts[b] += _cells[cell + 1 + b];
                ticks[b] += _cells[cell + 1 + _buckets + b];
            }

            Volatile.Write(ref _cells[cell], 0);
        }

        for (var b = 0; b < _buckets; b++)
        {
            var count = counts[b] - _publishedCounts[b];
            if (count == 0)
            {
                continue;
            }

            // The mean of values in the bucket lies in it; kept there against the rounding of ticks to seconds.
            var seconds = (double)(ticks[b] - _publishedTicks[b]) / count / Stopwatch.Frequency;
            if (b < _bounds.Length)
            {
                seconds = Math.Min(seconds, _bounds[b]);
            }

            if (b > 0 && seconds <= _bounds[b - 1])
            {
                seconds = Math.BitIncrement(_bounds[b - 1]);
            }

            _child.Observe(seconds, count);
            _publishedCounts[b] = counts[b];
            _publishedTicks[b] = ticks[b];
        }
    }

    private static void Enter(ref long gate)
    {
        if (Interlocked.CompareExchange(ref gate, 1, 0) == 0)
        {
            return;
        }

        // Taken: by a scrape reading the cell, or by a thread that just moved off this processor; both hold it for a few loads.
        var spinner = default(SpinWait);
        do
        {
            spinner.SpinOnce();
        }
        while (Interlocked.CompareExchange(ref gate, 1, 0) != 0);
    }
}

/// <summary>A metric the request path keeps in striped cells, published into its Prometheus child before a scrape.</summary>
internal interface IStripedMetric
{
    /// <summary>Brings the Prometheus child up to date (called under one lock, never concurrently).</summary>
    void Publish();
}
