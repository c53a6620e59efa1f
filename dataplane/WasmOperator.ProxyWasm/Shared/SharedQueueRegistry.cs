using System.Collections.Concurrent;
using WasmOperator.ProxyWasm.Abi;

namespace WasmOperator.ProxyWasm.Shared;

/// <summary>
/// Shared queues keyed by (vm_id, name). The registering root context is told with
/// <c>proxy_on_queue_ready</c> when data arrives; registering again moves that notification.
/// </summary>
internal sealed class SharedQueueRegistry
{
    private readonly Lock _gate = new();
    private readonly Dictionary<(string VmId, string Name), int> _ids = [];
    private readonly Dictionary<int, Queue> _queues = [];
    private int _nextId;

    public int Register(string vmId, string name, Action<int> onReady)
    {
        lock (_gate)
        {
            if (!_ids.TryGetValue((vmId, name), out var id))
            {
                id = ++_nextId;
                _ids[(vmId, name)] = id;
                _queues[id] = new Queue();
            }

            _queues[id].OnReady = onReady;
            return id;
        }
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
        public ConcurrentQueue<byte[]> Items { get; } = new();

        public Action<int>? OnReady { get; set; }
    }
}
