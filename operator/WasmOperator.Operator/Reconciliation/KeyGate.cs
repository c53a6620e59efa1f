namespace WasmOperator.Operator.Reconciliation;

/// <summary>
/// One holder per key at a time, for the two ways a key is worked on: the queue's worker pass, and a deletion
/// finalized as soon as the watch shows it (see WasmPluginReconciler.FinalizeDeletedAsync). Idle keys hold nothing.
/// </summary>
internal sealed class KeyGate
{
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    public async Task<Held> EnterAsync(string key, CancellationToken cancellationToken)
    {
        Entry entry;
        lock (_lock)
        {
            if (!_entries.TryGetValue(key, out entry!))
            {
                entry = new Entry();
                _entries[key] = entry;
            }

            entry.Users++;
        }

        try
        {
            await entry.Semaphore.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            Leave(key, entry, release: false);
            throw;
        }

        return new Held(this, key, entry);
    }

    private void Leave(string key, Entry entry, bool release)
    {
        if (release)
        {
            entry.Semaphore.Release();
        }

        lock (_lock)
        {
            if (--entry.Users == 0)
            {
                _entries.Remove(key);
                entry.Semaphore.Dispose();
            }
        }
    }

    internal readonly struct Held(KeyGate gate, string key, Entry entry) : IDisposable
    {
        public void Dispose() => gate.Leave(key, entry, release: true);
    }

    internal sealed class Entry
    {
        public SemaphoreSlim Semaphore { get; } = new(1, 1);

        public int Users { get; set; }
    }
}
