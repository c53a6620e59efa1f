using System.Collections.Concurrent;
using WasmOperator.ProxyWasm.Abi;

namespace WasmOperator.ProxyWasm.Shared;

/// <summary>
/// Shared queues keyed by (vm_id, name). A registration belongs to the VM (root context) that made it, as cpp-host
/// records (vm_key, context_id): the newest registrant still live is told with <c>proxy_on_queue_ready</c> when data
/// arrives. When its VM goes (<see cref="Release"/>: a rejected set, a drained or removed plugin, a trap), delivery
/// returns to the registrant before it. A queue and its id outlive every registrant: plugins hold the id.
/// </summary>
internal sealed class SharedQueueRegistry
{
    private readonly Lock _gate = new();
    private readonly Dictionary<(string VmId, string Name), int> _ids = [];
    private readonly Dictionary<int, Queue> _queues = [];
    private int _nextId;

    /// <summary>
    /// Makes <paramref name="owner"/> the newest registrant of (<paramref name="vmId"/>, <paramref name="name"/>),
    /// creating the queue on first use. Items that piled up while no VM was registered (all registrants gone, a
    /// rebuild pending) are announced to it at once.
    /// </summary>
    public int Register(string vmId, string name, object owner, Action<int> onReady)
    {
        int id;
        bool unheard;
        lock (_gate)
        {
            if (!_ids.TryGetValue((vmId, name), out id))
            {
                id = ++_nextId;
                _ids[(vmId, name)] = id;
                _queues[id] = new Queue();
            }

            var queue = _queues[id];
            unheard = queue.Registrants.Count == 0 && !queue.Items.IsEmpty;
            Remove(queue.Registrants, owner);
            queue.Registrants.Add((owner, onReady));
            queue.OnReady = onReady;
        }

        if (unheard)
        {
            onReady(id);
        }

        return id;
    }

    /// <summary>
    /// The VM <paramref name="owner"/> is gone: its registration of queue <paramref name="id"/> is dropped. If it was the
    /// one told, the newest registrant before it is told from now on, and at once (on the thread pool, as the caller
    /// holds its shard's lock) if items wait: they may have been announced to the VM that went.
    /// </summary>
    public void Release(object owner, int id)
    {
        Action<int>? announce;
        lock (_gate)
        {
            if (!_queues.TryGetValue(id, out var queue) || !Remove(queue.Registrants, owner))
            {
                return;
            }

            var previous = queue.Registrants.Count == 0 ? null : queue.Registrants[^1].OnReady;
            if (ReferenceEquals(previous, queue.OnReady))
            {
                return;
            }

            queue.OnReady = previous;
            announce = queue.Items.IsEmpty ? null : previous;
        }

        if (announce is not null)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static state => state.Announce(state.Id), (Announce: announce, Id: id), preferLocal: false);
        }
    }

    private static bool Remove(List<(object Owner, Action<int> OnReady)> registrants, object owner)
    {
        for (var i = 0; i < registrants.Count; i++)
        {
            if (ReferenceEquals(registrants[i].Owner, owner))
            {
                registrants.RemoveAt(i);
                return true;
            }
        }

        return false;
    }

    public bool TryResolve(string vmId, string name, out int id)
    {
        lock (_gate)
        {
            return _ids.TryGetValue((vmId, name), out id);
        }
    }

    public ProxyStatus Enqueue(int id, byte[] data)
    {
        Queue? queue;
        lock (_gate)
        {
            if (!_queues.TryGetValue(id, out queue))
            {
                return ProxyStatus.NotFound;
            }
        }

        queue.Items.Enqueue(data);
        queue.OnReady?.Invoke(id);
        return ProxyStatus.Ok;
    }

    public ProxyStatus Dequeue(int id, out byte[] data)
    {
        Queue? queue;
        lock (_gate)
        {
            if (!_queues.TryGetValue(id, out queue))
            {
                data = [];
                return ProxyStatus.NotFound;
            }
        }

        if (queue.Items.TryDequeue(out var item))
        {
            data = item;
            return ProxyStatus.Ok;
        }

        data = [];
        return ProxyStatus.Empty;
    }

    private sealed class Queue
    {
        private volatile Action<int>? _onReady;

        public ConcurrentQueue<byte[]> Items { get; } = new();

        /// <summary>Under the registry's lock: registrants in the order they registered; the last one is told.</summary>
        public List<(object Owner, Action<int> OnReady)> Registrants { get; } = new(1);

        /// <summary>The last registrant's callback (null with none), read by <see cref="Enqueue"/> without the lock.</summary>
        public Action<int>? OnReady
        {
            get => _onReady;
            set => _onReady = value;
        }
    }
}
