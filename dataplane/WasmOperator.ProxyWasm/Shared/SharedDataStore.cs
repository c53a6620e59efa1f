using WasmOperator.ProxyWasm.Abi;

namespace WasmOperator.ProxyWasm.Shared;

/// <summary>
/// Shared key-value data of one vm_id, visible to every shard and plugin with that vm_id.
/// cas 0 writes unconditionally; every successful write issues a new cas.
/// </summary>
internal sealed class SharedDataStore
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, (byte[] Value, uint Cas)> _entries = new(StringComparer.Ordinal);
    private uint _nextCas;

    public ProxyStatus Get(string key, out byte[] value, out uint cas)
    {
        lock (_gate)
        {
            if (_entries.TryGetValue(key, out var entry))
            {
                value = entry.Value;
                cas = entry.Cas;
                return ProxyStatus.Ok;
            }
        }

        value = [];
        cas = 0;
        return ProxyStatus.NotFound;
    }

    public ProxyStatus Set(string key, byte[] value, uint cas)
    {
        lock (_gate)
        {
            if (cas != 0 && _entries.TryGetValue(key, out var entry) && entry.Cas != cas)
            {
                return ProxyStatus.CasMismatch;
            }

            _nextCas = _nextCas == uint.MaxValue ? 1 : _nextCas + 1;
            _entries[key] = (value, _nextCas);
            return ProxyStatus.Ok;
        }
    }
}
