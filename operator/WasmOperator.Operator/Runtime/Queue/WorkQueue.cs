using WasmOperator.Operator.Runtime.RateLimiting;

namespace WasmOperator.Operator.Runtime.Queue;

/// <summary>
/// A work queue with client-go's semantics: an item waiting in the queue is held once however often it is
/// added (dirty set); an item being processed is not handed out again until <see cref="Done"/>, and if it
/// was added meanwhile it is queued again then (processing set), so one key is never worked on concurrently.
/// Retries wait for the rate limiter; <see cref="AddAfter"/> delays an item, keeping the earliest time.
/// </summary>
internal sealed class WorkQueue<T> : IDisposable
    where T : notnull
{
    private readonly Queue<T> _queue = new();
    private readonly HashSet<T> _dirty = [];
    private readonly HashSet<T> _processing = [];
    private readonly Dictionary<T, (long Due, ITimer Timer)> _waiting = [];
    private readonly IRateLimiter<T> _limiter;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _ready = new(0);
    private readonly CancellationTokenSource _shutdown = new();
    private readonly Lock _lock = new();
    private long _adds;
    private long _retries;

    public WorkQueue(IRateLimiter<T> limiter, TimeProvider? time = null)
    {
        _limiter = limiter;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>Items waiting to be handed out (not those being processed or delayed).</summary>
    public int Depth
    {
        get
        {
            lock (_lock)
            {
                return _queue.Count;
            }
        }
    }

    /// <summary>Adds accepted into the queue over its lifetime (de-duplicated adds are not counted).</summary>
    public long TotalAdds => Interlocked.Read(ref _adds);

    /// <summary>Rate-limited re-adds over the queue's lifetime.</summary>
    public long TotalRetries => Interlocked.Read(ref _retries);

    public bool IsShuttingDown => _shutdown.IsCancellationRequested;

    /// <summary>Queues <paramref name="item"/> unless it is already waiting; while it is processed, marks it to be queued again after.</summary>
    public void Add(T item)
    {
        lock (_lock)
        {
            if (_shutdown.IsCancellationRequested || !_dirty.Add(item))
            {
                return;
            }

            Interlocked.Increment(ref _adds);
            if (_processing.Contains(item))
            {
                return;
            }

            _queue.Enqueue(item);
        }

        _ready.Release();
    }

    /// <summary>Adds <paramref name="item"/> once <paramref name="delay"/> has passed; a later call with an earlier time wins.</summary>
    public void AddAfter(T item, TimeSpan delay)
    {
        if (delay <= TimeSpan.Zero)
        {
            Add(item);
            return;
        }

        var due = _time.GetTimestamp() + (long)(delay.TotalSeconds * _time.TimestampFrequency);
        lock (_lock)
        {
            if (_shutdown.IsCancellationRequested)
            {
                return;
            }

            if (_waiting.TryGetValue(item, out var existing))
            {
                if (existing.Due <= due)
                {
                    return;
                }

                existing.Timer.Dispose();
            }

            var timer = _time.CreateTimer(static state => ((DelayedAdd)state!).Fire(), new DelayedAdd(this, item, due), delay, Timeout.InfiniteTimeSpan);
            _waiting[item] = (due, timer);
        }
    }

    /// <summary>
    /// Adds <paramref name="item"/> after the rate limiter's delay (a retry). <paramref name="atMost"/> caps the item's own
    /// backoff, not the overall rate: a storm of failing items still waits its turn under --queue-qps.
    /// </summary>
    public void AddRateLimited(T item, TimeSpan? atMost = null)
    {
        Interlocked.Increment(ref _retries);
        AddAfter(item, _limiter.When(item, atMost));
    }

    /// <summary>Clears the retry history of <paramref name="item"/>.</summary>
    public void Forget(T item) => _limiter.Forget(item);

    public int NumRequeues(T item) => _limiter.NumRequeues(item);

    /// <summary>
    /// Waits for the next item and marks it processing. Returns false once the queue is shut down
    /// (or <paramref name="cancellationToken"/> is cancelled). Call <see cref="Done"/> when finished.
    /// </summary>
    public async Task<(bool Ok, T Item)> GetAsync(CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _shutdown.Token);
        try
        {
            await _ready.WaitAsync(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return (false, default!);
        }

        lock (_lock)
        {
            var item = _queue.Dequeue();
            _dirty.Remove(item);
            _processing.Add(item);
            return (true, item);
        }
    }

    /// <summary>Ends processing of <paramref name="item"/>; if it was added meanwhile it is queued again.</summary>
    public void Done(T item)
    {
        var requeued = false;
        lock (_lock)
        {
            _processing.Remove(item);
            if (_dirty.Contains(item) && !_shutdown.IsCancellationRequested)
            {
                _queue.Enqueue(item);
                requeued = true;
            }
        }

        if (requeued)
        {
            _ready.Release();
        }
    }

    /// <summary>Stops handing out items; waiting <see cref="GetAsync"/> calls return false.</summary>
    public void ShutDown()
    {
        lock (_lock)
        {
            _shutdown.Cancel();
            foreach (var (_, waiting) in _waiting)
            {
                waiting.Timer.Dispose();
            }

            _waiting.Clear();
        }
    }

    public void Dispose()
    {
        ShutDown();
        _shutdown.Dispose();
        _ready.Dispose();
    }

    private void FireDelayed(T item, long due)
    {
        lock (_lock)
        {
            if (!_waiting.TryGetValue(item, out var entry) || entry.Due != due)
            {
                return;
            }

            entry.Timer.Dispose();
            _waiting.Remove(item);
        }

        Add(item);
    }

    private sealed class DelayedAdd(WorkQueue<T> queue, T item, long due)
    {
        public void Fire() => queue.FireDelayed(item, due);
    }
}
