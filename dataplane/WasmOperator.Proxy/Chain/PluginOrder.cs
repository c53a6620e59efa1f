using WasmOperator.Proxy.Configuration;

namespace WasmOperator.Proxy.Chain;

/// <summary>Chain order (wasmplugin-api.md): phase, then priority (higher first, unset last), then creation time, then namespace/name.</summary>
internal sealed class PluginOrder : IComparer<PluginSpec>
{
    public static PluginOrder Instance { get; } = new();

    public int Compare(PluginSpec? x, PluginSpec? y)
    {
        if (ReferenceEquals(x, y))
        {
            return 0;
        }

        if (x is null || y is null)
        {
            return x is null ? -1 : 1;
        }

        var c = x.Phase.CompareTo(y.Phase);
        if (c != 0)
        {
            return c;
        }

        c = (x.Priority, y.Priority) switch
        {
            (null, null) => 0,
            (null, _) => 1,
            (_, null) => -1,
            ({ } a, { } b) => b.CompareTo(a),
        };
        if (c != 0)
        {
            return c;
        }

        c = x.CreationTimestamp.CompareTo(y.CreationTimestamp);
        return c != 0 ? c : string.CompareOrdinal(x.Key, y.Key);
    }
}
