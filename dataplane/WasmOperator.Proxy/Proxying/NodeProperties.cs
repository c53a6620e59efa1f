using System.Text;
using WasmOperator.Proxy.Configuration;
using WasmOperator.ProxyWasm.Host;

namespace WasmOperator.Proxy.Proxying;

/// <summary>
/// The <c>node</c> property (also <c>xds.node</c>) as Envoy gives it: the bootstrap's envoy.config.core.v3.Node, which
/// Istio's pilot-agent fills: <c>id</c>, and <c>metadata</c>, a google.protobuf.Struct of strings (NAMESPACE,
/// WORKLOAD_NAME, CLUSTER_ID, MESH_ID, INSTANCE_IPS, …, from <c>--node-meta</c>) and the workload's labels under
/// <c>LABELS</c> (from <c>--node-label</c>). Encoded as Envoy's getProperty encodes each step: the message in its
/// protobuf wire format; the Struct (a CEL map) in the pairs encoding with each value encoded (a string as it is,
/// <c>LABELS</c> as pairs of its own); a string field as it is. Built from the options on the first node read.
/// </summary>
internal sealed class NodeProperties
{
    private const string Labels = ProxyOptions.NodeLabelsKey;

    private readonly string _id;
    private readonly SortedDictionary<string, string> _metadata;
    private readonly SortedDictionary<string, string> _labels;
    private readonly byte[] _node;
    private readonly byte[] _metadataMap;
    private readonly byte[] _labelsMap;

    public NodeProperties(ProxyOptions options)
    {
        _id = options.NodeId;
        _metadata = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, text) in options.NodeMetadata)
        {
            if (key != Labels)
            {
                _metadata[key] = text;
            }
        }

        _labels = new SortedDictionary<string, string>(options.NodeLabels, StringComparer.Ordinal);
        _labelsMap = Map(_labels, labels: null);
        _metadataMap = Map(_metadata, _labels.Count > 0 ? _labelsMap : null);
        _node = NodeMessage();
    }

    /// <summary>
    /// <paramref name="path"/> is <c>node</c> or below it, its segments joined by '.'. A label key may hold dots
    /// (<c>app.kubernetes.io/name</c>): all that follows <c>node.metadata.LABELS.</c> is the key.
    /// </summary>
    public bool TryGet(string path, out byte[] value)
    {
        const string metadata = "node.metadata.";
        value = [];
        switch (path)
        {
            case "node":
                value = _node;
                return true;
            case "node.id":
                value = Encoding.UTF8.GetBytes(_id);
                return true;
            case "node.cluster":
                // A string field the bootstrap leaves empty: Envoy answers "".
                return true;
            case "node.metadata":
                value = _metadataMap;
                return true;
        }

        if (!path.StartsWith(metadata, StringComparison.Ordinal))
        {
            return false;
        }

        var key = path[metadata.Length..];
        if (_metadata.TryGetValue(key, out var text))
        {
            value = Encoding.UTF8.GetBytes(text);
            return true;
        }

        if (key == Labels && _labels.Count > 0)
        {
            value = _labelsMap;
            return true;
        }

        const string labelPrefix = Labels + ".";
        if (key.StartsWith(labelPrefix, StringComparison.Ordinal) && _labels.TryGetValue(key[labelPrefix.Length..], out text))
        {
            value = Encoding.UTF8.GetBytes(text);
            return true;
        }

        // A label read straight under node.metadata, as this proxy answered before it had the Istio layout (and as Istio 1.0 kept them).
        if (_labels.TryGetValue(key, out text))
        {
            value = Encoding.UTF8.GetBytes(text);
            return true;
        }

        return false;
    }

    /// <summary>A Struct as a CEL map: pairs of its keys and their values, <c>LABELS</c> (if any) as its own pairs.</summary>
    private static byte[] Map(SortedDictionary<string, string> strings, byte[]? labels)
    {
        var entries = new List<KeyValuePair<string, byte[]>>(strings.Count + 1);
        foreach (var (key, text) in strings)
        {
            entries.Add(new(key, Encoding.UTF8.GetBytes(text)));
        }

        if (labels is not null)
        {
            entries.Add(new(Labels, labels));
        }

        entries.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
        return PropertyValues.Map([.. entries.Select(e => new KeyValuePair<byte[], byte[]>(Encoding.UTF8.GetBytes(e.Key), e.Value))]);
    }

    /// <summary>envoy.config.core.v3.Node: id (field 1) and metadata (field 3, a google.protobuf.Struct).</summary>
    private byte[] NodeMessage()
    {
        var node = new MemoryStream();
        if (_id.Length > 0)
        {
            Field(node, 1, Encoding.UTF8.GetBytes(_id));
        }

        var fields = new List<KeyValuePair<string, byte[]>>(_metadata.Count + 1);
        foreach (var (key, text) in _metadata)
        {
            // google.protobuf.Value: string_value is field 3.
            fields.Add(new(key, Bytes(value => Field(value, 3, Encoding.UTF8.GetBytes(text)))));
        }

        if (_labels.Count > 0)
        {
            // struct_value is field 5.
            var labels = Struct(_labels.Select(l => new KeyValuePair<string, byte[]>(l.Key, Bytes(value => Field(value, 3, Encoding.UTF8.GetBytes(l.Value))))));
            fields.Add(new(Labels, Bytes(value => Field(value, 5, labels))));
        }

        if (fields.Count > 0)
        {
            fields.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
            Field(node, 3, Struct(fields));
        }

        return node.ToArray();
    }

    /// <summary>google.protobuf.Struct: its map&lt;string, Value&gt; fields (field 1), one entry (key 1, value 2) per key.</summary>
    private static byte[] Struct(IEnumerable<KeyValuePair<string, byte[]>> fields) => Bytes(message =>
    {
        foreach (var (key, value) in fields)
        {
            Field(message, 1, Bytes(entry =>
            {
                Field(entry, 1, Encoding.UTF8.GetBytes(key));
                Field(entry, 2, value);
            }));
        }
    });

    private static byte[] Bytes(Action<MemoryStream> write)
    {
        var stream = new MemoryStream();
        write(stream);
        return stream.ToArray();
    }

    /// <summary>A length-delimited field (wire type 2): its tag, its length, its bytes.</summary>
    private static void Field(MemoryStream stream, int number, byte[] bytes)
    {
        Varint(stream, (uint)((number << 3) | 2));
        Varint(stream, (uint)bytes.Length);
        stream.Write(bytes);
    }

    private static void Varint(MemoryStream stream, uint value)
    {
        while (value >= 0x80)
        {
            stream.WriteByte((byte)(value | 0x80));
            value >>= 7;
        }

        stream.WriteByte((byte)value);
    }
}
