namespace WasmOperator.Proxy.Metrics;

/// <summary>
/// A count every request changes, spread over cells, so the socket threads (one per core) do not pass one cache line
/// between them on every request: a shared interlocked counter cost about 70-100 ns a request on this 2-core VM (perf:
/// an uncontended-looking <c>Interlocked.Decrement</c> showed 0.07 µs of self time per request), a cell of one's own a
/// few. Reading sums the cells: for what is read seldom (a scrape, shutdown, a chain swap).
/// </summary>
internal sealed class StripedCounter
{
    private readonly long[] _cells = new long[(StripedCells.Count + 1) * StripedCells.Stride];

    /// <summary>Adds one on the calling thread's cell and returns that cell, for <see cref="Decrement(int)"/>.</summary>
    public int Increment()
    {
        var cell = (StripedCells.Current + 1) * StripedCells.Stride;
        Interlocked.Increment(ref _cells[cell]);
        return cell;
    }

    /// <summary>Takes one off the calling thread's cell.</summary>
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
/// Which cell of a striped count a thread uses: its own, given on its first count, in turn (so the few threads that
/// count on every request, the socket event threads, get different cells), not the processor it runs on, whose number
/// in a container with a CPU limit is the host's and may share a cell with another event thread's.
/// </summary>
internal static class StripedCells
{
    /// <summary>Longs from one cell to the next: 128 bytes, two cache lines (for the adjacent-line prefetcher).</summary>
    public const int Stride = 16;

    /// <summary>Cells per count: twice the processors, a power of two, at most 64. Array slot 0 is left as padding.</summary>
    public static readonly int Count = CellCount();

    [ThreadStatic]
    private static int t_cell;
    private static int s_given;

    /// <summary>The calling thread's cell, 0 to <see cref="Count"/> - 1.</summary>
    public static int Current => t_cell != 0 ? t_cell - 1 : Give();

    private static int Give()
    {
        var cell = (Interlocked.Increment(ref s_given) - 1) & (Count - 1);
        t_cell = cell + 1;
        return cell;
    }

    private static int CellCount()
    {
        var cells = 2;
        while (cells < 2 * Environment.ProcessorCount && cells < 64)
        {
            cells <<= 1;
        }

        return cells;
    }
}
