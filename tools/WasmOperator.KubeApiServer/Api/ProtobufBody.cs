using System.Text;
using System.Text.Json.Nodes;

namespace WasmOperator.KubeApiServer.Api;

/// <summary>
/// Decodes the protobuf request bodies kubectl's typed generators send (<c>kubectl create configmap|secret|namespace</c>):
/// the "k8s\0" envelope (runtime.Unknown) around a ConfigMap, Secret or Namespace. Other kinds answer 415.
/// </summary>
internal static class ProtobufBody
{
    private static readonly byte[] Magic = "k8s\0"u8.ToArray();

    public static JsonObject Decode(byte[] body)
    {
        if (body.Length < 4 || !body.AsSpan(0, 4).SequenceEqual(Magic))
        {
            throw Unsupported("the protobuf body has no k8s envelope");
        }

        string? apiVersion = null;
        string? kind = null;
        byte[]? raw = null;
        foreach (var (field, value) in Fields(body.AsMemory(4)))
        {
            switch (field)
            {
                case 1:
                    foreach (var (typeField, typeValue) in Fields(value))
                    {
                        if (typeField == 1)
                        {
                            apiVersion = Text(typeValue);
                        }
                        else if (typeField == 2)
                        {
                            kind = Text(typeValue);
                        }
                    }

                    break;
                case 2:
                    raw = value.ToArray();
                    break;
                default:
                    break;
            }
        }

        var obj = new JsonObject { ["apiVersion"] = apiVersion, ["kind"] = kind };
        foreach (var (field, value) in Fields(raw ?? []))
        {
            switch ((kind, field))
            {
                case (_, 1):
                    obj["metadata"] = Metadata(value);
                    break;
                case ("ConfigMap", 2):
                    Map(obj, "data", value, Text);
                    break;
                case ("ConfigMap", 3):
                    Map(obj, "binaryData", value, v => Convert.ToBase64String(v.Span));
                    break;
                case ("Secret", 2):
                    Map(obj, "data", value, v => Convert.ToBase64String(v.Span));
                    break;
                case ("Secret", 3):
                    obj["type"] = Text(value);
                    break;
                case ("Secret", 4):
                    Map(obj, "stringData", value, Text);
                    break;
                case ("Namespace", _):
                    break;
                case ("ConfigMap" or "Secret", _):
                    break;
                default:
                    throw Unsupported($"protobuf bodies for {kind} are not supported; send JSON (e.g. kubectl create -f with a manifest)");
            }
        }

        return obj;
    }

    private static JsonObject Metadata(ReadOnlyMemory<byte> bytes)
    {
        var metadata = new JsonObject();
        foreach (var (field, value) in Fields(bytes))
        {
            switch (field)
            {
                case 1:
                    metadata["name"] = Text(value);
                    break;
                case 2:
                    metadata["generateName"] = Text(value);
                    break;
                case 3:
                    metadata["namespace"] = Text(value);
                    break;
                case 11:
                    Map(metadata, "labels", value, Text);
                    break;
                case 12:
                    Map(metadata, "annotations", value, Text);
                    break;
                case 14:
                    if (metadata["finalizers"] is not JsonArray finalizers)
                    {
                        metadata["finalizers"] = finalizers = [];
                    }

                    finalizers.Add(Text(value));
                    break;
                default:
                    break;
            }
        }

        return metadata;
    }

    private static void Map(JsonObject target, string name, ReadOnlyMemory<byte> entry, Func<ReadOnlyMemory<byte>, string> valueOf)
    {
        if (target[name] is not JsonObject map)
        {
            target[name] = map = new JsonObject();
        }

        string key = string.Empty;
        string value = string.Empty;
        foreach (var (field, bytes) in Fields(entry))
        {
            if (field == 1)
            {
                key = Text(bytes);
            }
            else if (field == 2)
            {
                value = valueOf(bytes);
            }
        }

        map[key] = value;
    }

    private static string Text(ReadOnlyMemory<byte> bytes) => Encoding.UTF8.GetString(bytes.Span);

    /// <summary>The length-delimited fields of a message; varint and fixed fields are skipped.</summary>
    private static List<(int Field, ReadOnlyMemory<byte> Value)> Fields(ReadOnlyMemory<byte> message)
    {
        var fields = new List<(int, ReadOnlyMemory<byte>)>();
        var span = message.Span;
        var position = 0;
        while (position < span.Length)
        {
            var tag = Varint(span, ref position);
            var wireType = (int)(tag & 7);
            var field = (int)(tag >> 3);
            switch (wireType)
            {
                case 0:
                    Varint(span, ref position);
                    break;
                case 1:
                    position += 8;
                    break;
                case 2:
                    var length = (int)Varint(span, ref position);
                    if (position + length > span.Length)
                    {
                        throw Unsupported("the protobuf body is truncated");
                    }

                    fields.Add((field, message.Slice(position, length)));
                    position += length;
                    break;
                case 5:
                    position += 4;
                    break;
                default:
                    throw Unsupported($"unexpected protobuf wire type {wireType}");
            }
        }

        return fields;
    }

    private static ulong Varint(ReadOnlySpan<byte> span, ref int position)
    {
        ulong result = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            if (position >= span.Length)
            {
                throw Unsupported("the protobuf body is truncated");
            }

            var b = span[position++];
            result |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
            {
                return result;
            }
        }

        throw Unsupported("malformed protobuf varint");
    }

    private static ApiException Unsupported(string why) =>
        new(415, "UnsupportedMediaType", $"the body of the request was in an unknown format - accepted media types include: application/json, application/yaml ({why})");
}
