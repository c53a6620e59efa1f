using System.Buffers.Binary;
using System.Text;

namespace WasmOperator.Proxy.Tests.Support;

/// <summary>
/// The <c>property_probe</c> fixture: a plugin that reads the property paths it is configured with, as SDKs ask for
/// them (segments NUL-separated), in on_configure (CFG), on_request_headers (REQ), on_response_headers (RSP) and
/// on_log (LOG), and logs what the host answered. Paths are written with spaces between their segments.
/// </summary>
internal static class PropertyProbe
{
    private const string Prefix = "wasm log default/probe: ";

    /// <summary>The plugin file item of a probe that reads <paramref name="paths"/>.</summary>
    public static string Plugin(params string[] paths) =>
        TestModules.Plugin("probe", TestModules.Wat("property_probe"), "probe", string.Join(',', paths));

    /// <summary>What the host answered for <paramref name="path"/> in <paramref name="phase"/>, the last time; waits for it to be logged.</summary>
    public static async Task<ProbedValue> ReadAsync(LogSink logs, string phase, string path)
    {
        ProbedValue? found = null;
        await ProxyHarness.EventuallyAsync(() => Task.FromResult((found = Find(logs, phase, path)) is not null), $"{phase} {path} logged by the probe");
        return found!.Value;
    }

    private static ProbedValue? Find(LogSink logs, string phase, string path)
    {
        var key = Prefix + phase + " " + path + "=";
        ProbedValue? last = null;
        foreach (var line in logs.Lines)
        {
            var at = line.IndexOf(key, StringComparison.Ordinal);
            if (at < 0)
            {
                continue;
            }

            var value = line[(at + key.Length)..];
            last = value.StartsWith('!')
                ? new ProbedValue(int.Parse(value[1..], System.Globalization.CultureInfo.InvariantCulture), [])
                : new ProbedValue(0, Convert.FromHexString(value));
        }

        return last;
    }
}

/// <summary>A property as the probe read it: the host's status (0 = OK) and the value's bytes.</summary>
internal readonly record struct ProbedValue(int Status, byte[] Bytes)
{
    public bool Found => Status == 0;

    public string Text => Found ? Encoding.UTF8.GetString(Bytes) : throw new InvalidOperationException($"not found (status {Status})");

    public long Int64 => Found && Bytes.Length == 8 ? BinaryPrimitives.ReadInt64LittleEndian(Bytes)
        : throw new InvalidOperationException($"not an 8-byte number (status {Status}, {Bytes.Length} bytes)");

    /// <summary>The value as a map in the pairs encoding, each value's bytes as they are.</summary>
    public List<KeyValuePair<string, byte[]>> Pairs
    {
        get
        {
            var pairs = new List<KeyValuePair<string, byte[]>>();
            if (Bytes.Length == 0)
            {
                return pairs;
            }

            var count = BinaryPrimitives.ReadInt32LittleEndian(Bytes);
            var data = 4 + (8 * count);
            for (var i = 0; i < count; i++)
            {
                var keyLength = BinaryPrimitives.ReadInt32LittleEndian(Bytes.AsSpan(4 + (8 * i)));
                var valueLength = BinaryPrimitives.ReadInt32LittleEndian(Bytes.AsSpan(8 + (8 * i)));
                var key = Encoding.UTF8.GetString(Bytes, data, keyLength);
                data += keyLength + 1;
                pairs.Add(new(key, Bytes.AsSpan(data, valueLength).ToArray()));
                data += valueLength + 1;
            }

            if (data != Bytes.Length)
            {
                throw new InvalidOperationException($"pairs of {Bytes.Length} bytes end at {data}");
            }

            return pairs;
        }
    }

    public override string ToString() => Found ? Convert.ToHexString(Bytes) : "!" + Status;
}
