namespace WasmOperator.Proxy.Metrics;

/// <summary>
/// A count every request changes, spread over a cell per processor, so the socket threads (one per core) do not pass one cache line
/// between them on every request: a shared interlocked counter cost about 70-100 ns a request on this 2-core VM (perf:
/// an uncontended-looking <c>Interlocked.Decrement</c> showed 0.07 µs of self time per request), a cell of one's own a
/// few. Reading sums the cells: for what is read seldom (a scrape, shutdown, a chain swap).
/// </summary>
internal sealed class StripedCounter
{
    private readonly long[] _cells = new long[(StripedCells.Count + 1) * StripedCells.Stride];

    /// <summary>Adds one on the cell of the processor the caller runs on and returns that cell, for <see cref="Decrement(int)"/>.</summary>
    public int Increment()
    {
        var cell = (StripedCells.Current + 1) * StripedCells.Stride;
        Interlocked.Increment(ref _cells[cell]);
        return cell;
    }

    /// <summary>Takes one off the cell of the processor the caller runs on.</summary>
    public void Decrement() => Interlocked.Decrement(ref _cells[(StripedCells.Current + 1) * StripedCells.Stride]);

    /// <summary>Takes one off the given cell (undoing an <see cref="Increment"/> there exactly).</summary>
    public void Decrement(int cell) => Interlocked.Decrement(ref _cells[cell]);

    /// <summary>The sum of the cells. Not a snapshot: cells changed while it reads them may or may not be in it.</summary>
    public long Sum()
    {
        long sum = 0;
        for (var i = StripedCells.Stride; i < _cells.Length; i += StripedCells.Stride)
        {
            sum += Volatile.Read(ref _cells[i]);
        }

        return sum;
    }
}

/// <summary>
/// Which cell of a striped count a thread uses: the one of the processor it runs on (a thread that moved only lands on
/// another cell; the sums are the same), out of one per processor the host may have, not per <see
/// cref="Environment.ProcessorCount"/>: in a container with a CPU limit that is the limit, while the processor number
/// is the host's, so two event threads could share a cell. A per-thread cell handed out in turn was tried: whichever
/// threads counted first took the cells, and the event threads could end up on one.
/// </summary>
internal static class StripedCells
{
    /// <summary>Longs from one cell to the next: 128 bytes, two cache lines (for the adjacent-line prefetcher).</summary>
    public const int Stride = 16;

    /// <summary>Cells per count: the host's possible processors, a power of two, at most 64. Array slot 0 is left as padding.</summary>
    public static readonly int Count = CellCount();

    private static readonly int Mask = Count - 1;

    /// <summary>The cell of the processor the caller runs on, 0 to <see cref="Count"/> - 1.</summary>
    public static int Current => Thread.GetCurrentProcessorId() & Mask;

    private static int CellCount()
    {
        var processors = Math.Max(Environment.ProcessorCount, PossibleProcessors());
        var cells = 1;
        while (cells < processors && cells < 64)
        {
            cells <<= 1;
        }

        return cells;
    }

    // Linux lists them as ranges ("0-63", "0,2-5"); elsewhere, or unreadable, ProcessorCount stands.
    private static int PossibleProcessors()
    {
        try
        {
            var highest = -1;
            foreach (var range in File.ReadAllText("/sys/devices/system/cpu/possible").Trim().Split(','))
            {
                var last = range[(range.LastIndexOf('-') + 1)..];
                highest = Math.Max(highest, int.Parse(last, System.Globalization.CultureInfo.InvariantCulture));
            }

            return highest + 1;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or OverflowException)
        {
            return 0;
        }
    }
}
