using System.Diagnostics;
using Prometheus;

namespace WasmOperator.Proxy.Metrics;

/// <summary>
/// A counter child that the request path counts on per-core cells (<see cref="StripedCounter"/>); each scrape first
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
/// A histogram child the request path fills on per-core cells: per bucket, the observations and their total in
/// <see cref="Stopwatch"/> ticks (integers, so adding them is one interlocked add). Each scrape publishes what came since
/// the last one into the Prometheus child, bucket by bucket, as that many observations of their mean: the buckets,
/// <c>_count</c> and <c>_sum</c> read exactly as if every value had been observed there (up to the rounding of a tick to
/// seconds).
/// </summary>
internal sealed class StripedHistogram : IStripedMetric
{
    private const int Stride = 16;
    private readonly Histogram.Child _child;
    private readonly double[] _bounds;
    private readonly double[] _boundTicks;
    private readonly int _width;
    private readonly int _mask;

    // Per cell, padded as StripedCounter's: the buckets' counts, then their tick totals (the last bucket is +Inf).
    private readonly long[] _cells;
    private readonly long[] _publishedCounts;
    private readonly long[] _publishedTicks;

    public StripedHistogram(Histogram.Child child, double[] bounds)
    {
        _child = child;
        _bounds = bounds;
        _boundTicks = [.. bounds.Select(b => b * Stopwatch.Frequency)];
        var cells = 1;
        while (cells < Environment.ProcessorCount)
        {
            cells <<= 1;
        }

        _mask = cells - 1;
        var buckets = bounds.Length + 1;
        _width = (2 * buckets + Stride - 1) / Stride * Stride + Stride;
        _cells = new long[(cells + 1) * _width];
        _publishedCounts = new long[buckets];
        _publishedTicks = new long[buckets];
    }

    /// <summary>Records one value, in <see cref="Stopwatch"/> ticks.</summary>
    public void Observe(long ticks)
    {
        var bucket = 0;
        while (bucket < _boundTicks.Length && ticks > _boundTicks[bucket])
        {
            bucket++;
        }

        var cell = ((Thread.GetCurrentProcessorId() & _mask) + 1) * _width;
        // The ticks before the count: a scrape reads the counts first, so every observation it counts has its ticks in.
        Interlocked.Add(ref _cells[cell + _bounds.Length + 1 + bucket], ticks);
        Interlocked.Increment(ref _cells[cell + bucket]);
    }

    void IStripedMetric.Publish()
    {
        var buckets = _bounds.Length + 1;
        Span<long> counts = stackalloc long[buckets];
        Span<long> ticks = stackalloc long[buckets];
        for (var cell = _width; cell < _cells.Length; cell += _width)
        {
            for (var b = 0; b < buckets; b++)
            {
                counts[b] += Volatile.Read(ref _cells[cell + b]);
            }
        }

        Interlocked.MemoryBarrier();
        for (var cell = _width; cell < _cells.Length; cell += _width)
        {
            for (var b = 0; b < buckets; b++)
            {
                ticks[b] += Volatile.Read(ref _cells[cell + buckets + b]);
            }
        }

        for (var b = 0; b < buckets; b++)
        {
            var count = counts[b] - _publishedCounts[b];
            if (count <= 0)
            {
                continue;
            }

            // The mean of values in (lower, upper] lies there too; kept there against rounding (and against ticks of
            // observations whose count came after the read, which are left for the next scrape).
            var mean = (double)(ticks[b] - _publishedTicks[b]) / count;
            var lower = b == 0 ? 0 : _boundTicks[b - 1];
            if (b < _bounds.Length)
            {
                mean = Math.Min(mean, _boundTicks[b]);
            }

            mean = Math.Max(mean, lower);
            var seconds = mean / Stopwatch.Frequency;
            if (b < _bounds.Length)
            {
                seconds = Math.Min(seconds, _bounds[b]);
            }

            if (b > 0 && seconds <= _bounds[b - 1])
            {
                seconds = Math.BitIncrement(_bounds[b - 1]);
            }

            _child.Observe(seconds, count);
            _publishedCounts[b] += count;
            _publishedTicks[b] += (long)Math.Round(mean * count);
        }
    }
}

/// <summary>A metric the request path keeps in per-core cells, published into its Prometheus child before a scrape.</summary>
internal interface IStripedMetric
{
    /// <summary>Brings the Prometheus child up to date (called under one lock, never concurrently).</summary>
    void Publish();
}
