using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.RepresentationModel;

namespace WasmOperator.Proxy.Configuration;

/// <summary>
/// Reads the stand-alone plugin file: <c>plugins: [ {name, namespace, url, sha256, pluginName,
/// pluginConfig, vmConfig.env, phase, priority, failStrategy, mode, limits, match, creationTimestamp, vmId} ]</c>.
/// Errors name the field path and line so a user can fix the file.
/// </summary>
internal static partial class PluginFileParser
{
    public static IReadOnlyList<PluginSpec> Parse(string yaml, string source)
    {
        var documents = new List<(YamlDocument Document, long Line)>();
        var stream = new YamlStream();
        var parser = new DocumentStartRecorder(new Parser(new StringReader(yaml)));
        try
        {
            stream.Load(parser);
        }
        catch (YamlException ex)
        {
            throw new PluginFileException($"{source}: not valid YAML at line {ex.Start.Line}, column {ex.Start.Column}: {ex.InnerException?.Message ?? ex.Message}");
        }

        for (var i = 0; i < stream.Documents.Count; i++)
        {
            // As kubectl does, a document with nothing in it (a lone '---' at the end, or comments only) is skipped.
            if (stream.Documents[i].RootNode is not YamlScalarNode { Value: null or "" })
            {
                documents.Add((stream.Documents[i], parser.Starts[i]));
            }
        }

        if (documents.Count == 0)
        {
            // What a writer that truncated the file in place leaves until it writes again: no plugins is said explicitly.
            throw new PluginFileException(
                $"{source}: the file is empty (no YAML document); refused, as it may be a write still in progress, and the serving plugin set stays. " +
                "To remove every plugin, write 'plugins: []'");
        }

        if (documents.Count > 1)
        {
            // Reading only the first would silently drop the plugins of the others (a FAIL_CLOSE authorizer among them).
            throw new PluginFileException(
                $"{source}: line {documents[1].Line}: a second YAML document ('---'); the file holds one, and the serving plugin set stays. " +
                "Put every plugin under the one 'plugins:' list");
        }

        if (documents[0].Document.RootNode is not YamlMappingNode root)
        {
            throw new PluginFileException($"{source}: the top level must be a mapping with a 'plugins' list");
        }

        foreach (var key in root.Children.Keys)
        {
            if (key is not YamlScalarNode { Value: "plugins" })
            {
                throw new PluginFileException($"{source}: line {key.Start.Line}: unknown top-level field '{key}'; expected 'plugins'");
            }
        }

        if (!root.Children.TryGetValue(new YamlScalarNode("plugins"), out var pluginsNode))
        {
            throw new PluginFileException(
                $"{source}: line {root.Start.Line}: no 'plugins' key; refused, and the serving plugin set stays. List the plugins under 'plugins:', or write 'plugins: []' to remove every plugin");
        }

        if (pluginsNode is YamlScalarNode { Value: null or "" or "~" or "null", Style: ScalarStyle.Plain or ScalarStyle.Any })
        {
            // 'plugins:' alone is what a writer leaves after its first line: as an empty file, not a request to remove everything.
            throw new PluginFileException(
                $"{source}: line {pluginsNode.Start.Line}: 'plugins' has no value; refused, as it may be a write still in progress, and the serving plugin set stays. " +
                "To remove every plugin, write 'plugins: []'");
        }

        if (pluginsNode is not YamlSequenceNode list)
        {
            throw new PluginFileException($"{source}: line {pluginsNode.Start.Line}: 'plugins' must be a list");
        }

        var result = new List<PluginSpec>(list.Children.Count);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < list.Children.Count; i++)
        {
            var spec = ParsePlugin(list.Children[i], $"{source}: plugins[{i}]");
            if (!seen.Add(spec.Key))
            {
                throw new PluginFileException($"{source}: plugins[{i}]: duplicate plugin {spec.Key}");
            }

            result.Add(spec);
        }

        return result;
    }

    private static PluginSpec ParsePlugin(YamlNode node, string where)
    {
        if (node is not YamlMappingNode map)
        {
            throw new PluginFileException($"{where} (line {node.Start.Line}): must be a mapping");
        }

        string? name = null, ns = null, url = null, sha = null, rootId = null, config = null, vmId = null;
        var urlLine = 0L;
        PluginPhase phase = PluginPhase.UNSPECIFIED_PHASE;
        int? priority = null;
        var fail = FailStrategy.FAIL_CLOSE;
        var mode = PluginMode.ENFORCE;
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        long memory = 64L * 1024 * 1024;
        var duration = TimeSpan.FromMilliseconds(100);
        var match = new List<TrafficSelector>();
        var created = DateTimeOffset.UnixEpoch;
        foreach (var (keyNode, value) in map.Children)
        {
            var key = Key(keyNode, where);
            var path = $"{where}.{key}";
            switch (key)
            {
                case "name": name = Scalar(value, path); break;
                case "namespace": ns = Scalar(value, path); break;
                case "url": url = Scalar(value, path); urlLine = value.Start.Line; break;
                case "sha256": sha = Scalar(value, path); break;
                case "pluginName": rootId = Scalar(value, path); break;
                case "vmId": vmId = Scalar(value, path); break;
                case "pluginConfig": config = value is YamlScalarNode s ? s.Value ?? "" : ToJson(value, path); break;
                case "phase": phase = Enum<PluginPhase>(value, path); break;
                case "priority": priority = Int(value, path); break;
                case "failStrategy": fail = Enum<FailStrategy>(value, path); break;
                case "mode": mode = Enum<PluginMode>(value, path); break;
                case "vmConfig": ParseEnv(value, path, env); break;
                case "limits": ParseLimits(value, path, ref memory, ref duration); break;
                case "match": ParseMatch(value, path, match); break;
                case "creationTimestamp":
                    if (!DateTimeOffset.TryParse(Scalar(value, path), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out created))
                    {
                        throw new PluginFileException($"{path} (line {value.Start.Line}): not a timestamp");
                    }

                    break;
                default:
                    throw new PluginFileException($"{path} (line {keyNode.Start.Line}): unknown field");
            }
        }

        if (string.IsNullOrEmpty(name))
        {
            throw new PluginFileException($"{where}.name: required");
        }

        if (string.IsNullOrEmpty(url))
        {
            throw new PluginFileException($"{where}.url: required");
        }

        if (ModuleUrl.IsFile(url) && ModuleUrl.LocalPath(url, out var urlError) is null)
        {
            throw new PluginFileException($"{where}.url (line {urlLine}): {urlError}");
        }

        if (sha is { Length: > 0 } && (sha.Length != 64 || !IsLowerHex(sha)))
        {
            throw new PluginFileException($"{where}.sha256: must be 64 lower-case hex digits, got '{sha}'");
        }

        return new PluginSpec
        {
            Name = name,
            Namespace = string.IsNullOrEmpty(ns) ? "default" : ns,
            Url = url,
            Sha256 = string.IsNullOrEmpty(sha) ? null : sha,
            PluginName = rootId ?? "",
            VmId = string.IsNullOrEmpty(vmId) ? null : vmId,
            PluginConfig = config ?? "",
            Phase = phase,
            Priority = priority,
            FailStrategy = fail,
            Mode = mode,
            Env = env,
            MaxMemoryBytes = memory,
            MaxCallDuration = duration,
            Match = match,
            CreationTimestamp = created,
        };
    }

    /// <summary>The most variables vmConfig.env may list (wasmplugin-api.md, as Istio's API).</summary>
    private const int MaxEnv = 256;

    private static void ParseEnv(YamlNode value, string path, Dictionary<string, string> env)
    {
        if (value is not YamlMappingNode vm)
        {
            throw new PluginFileException($"{path} (line {value.Start.Line}): must be a mapping");
        }

        foreach (var (k, v) in vm.Children)
        {
            if (k is not YamlScalarNode { Value: "env" })
            {
                throw new PluginFileException($"{path}.{k} (line {k.Start.Line}): unknown field");
            }

            if (v is not YamlSequenceNode list)
            {
                throw new PluginFileException($"{path}.env (line {v.Start.Line}): must be a list");
            }

            if (list.Children.Count > MaxEnv)
            {
                throw new PluginFileException($"{path}.env (line {v.Start.Line}): {list.Children.Count} variables, at most {MaxEnv} allowed");
            }

            var seen = new Dictionary<string, int>(StringComparer.Ordinal);
            for (var i = 0; i < list.Children.Count; i++)
            {
                var itemPath = $"{path}.env[{i}]";
                if (list.Children[i] is not YamlMappingNode item)
                {
                    throw new PluginFileException($"{itemPath}: must be a mapping");
                }

                string? name = null, from = null, val = null;
                foreach (var (ik, iv) in item.Children)
                {
                    switch (Key(ik, itemPath))
                    {
                        case "name": name = Scalar(iv, itemPath + ".name"); break;
                        case "valueFrom": from = Scalar(iv, itemPath + ".valueFrom"); break;
                        case "value": val = Scalar(iv, itemPath + ".value"); break;
                        default: throw new PluginFileException($"{itemPath}.{ik} (line {ik.Start.Line}): unknown field");
                    }
                }

                if (string.IsNullOrEmpty(name))
                {
                    throw new PluginFileException($"{itemPath}.name: required");
                }

                if (!seen.TryAdd(name, i))
                {
                    throw new PluginFileException($"{itemPath}.name: '{name}' is already set by env[{seen[name]}]; names must be unique");
                }

                if (from == "HOST")
                {
                    if (val is not null)
                    {
                        throw new PluginFileException($"{itemPath}.value: only allowed with valueFrom INLINE");
                    }

                    env[name] = Environment.GetEnvironmentVariable(name) ?? "";
                }
                else if (from is null or "" or "INLINE")
                {
                    env[name] = val ?? "";
                }
                else
                {
                    throw new PluginFileException($"{itemPath}.valueFrom: must be INLINE or HOST, got '{from}'");
                }
            }
        }
    }

    // The CRD's bounds (crds/WasmOperator.Api SandboxLimits): the file must not run what the API server would refuse.
    private const long MinMemoryBytes = 1024 * 1024;
    private const int MaxDurationLength = 64;
    private static readonly TimeSpan MinCallDuration = TimeSpan.FromMilliseconds(1);
    private static readonly TimeSpan MaxCallDuration = TimeSpan.FromSeconds(10);

    private static void ParseLimits(YamlNode value, string path, ref long memory, ref TimeSpan duration)
    {
        if (value is not YamlMappingNode limits)
        {
            throw new PluginFileException($"{path} (line {value.Start.Line}): must be a mapping");
        }

        foreach (var (k, v) in limits.Children)
        {
            switch (Key(k, path))
            {
                case "maxMemoryBytes":
                    memory = long.TryParse(Scalar(v, path + ".maxMemoryBytes"), NumberStyles.None, CultureInfo.InvariantCulture, out var m) && m > 0
                        ? m : throw new PluginFileException($"{path}.maxMemoryBytes (line {v.Start.Line}): must be a positive integer");
                    if (memory < MinMemoryBytes)
                    {
                        throw new PluginFileException($"{path}.maxMemoryBytes (line {v.Start.Line}): must be at least {MinMemoryBytes} (1 MiB), as the CRD requires, got {memory}");
                    }

                    break;
                case "maxCallDuration":
                    var text = Scalar(v, path + ".maxCallDuration");
                    if (text.Length > MaxDurationLength)
                    {
                        throw new PluginFileException($"{path}.maxCallDuration (line {v.Start.Line}): at most {MaxDurationLength} characters, as the CRD allows");
                    }

                    duration = ParseDuration(text, path + ".maxCallDuration");
                    if (duration < MinCallDuration || duration > MaxCallDuration)
                    {
                        throw new PluginFileException(
                            $"{path}.maxCallDuration (line {v.Start.Line}): must be a duration between 1ms and 10s, such as 100ms, as the CRD requires, got '{text}'");
                    }

                    break;
                default:
                    throw new PluginFileException($"{path}.{k} (line {k.Start.Line}): unknown field");
            }
        }
    }

    private static void ParseMatch(YamlNode value, string path, List<TrafficSelector> match)
    {
        if (value is not YamlSequenceNode list)
        {
            throw new PluginFileException($"{path} (line {value.Start.Line}): must be a list");
        }

        for (var i = 0; i < list.Children.Count; i++)
        {
            var itemPath = $"{path}[{i}]";
            if (list.Children[i] is not YamlMappingNode item)
            {
                throw new PluginFileException($"{itemPath}: must be a mapping");
            }

            var mode = "UNDEFINED";
            var ports = new List<int>();
            foreach (var (k, v) in item.Children)
            {
                switch (Key(k, itemPath))
                {
                    case "mode":
                        mode = Scalar(v, itemPath + ".mode");
                        if (mode is not ("UNDEFINED" or "CLIENT" or "SERVER" or "CLIENT_AND_SERVER"))
                        {
                            throw new PluginFileException($"{itemPath}.mode: must be UNDEFINED, CLIENT, SERVER or CLIENT_AND_SERVER, got '{mode}'");
                        }

                        break;
                    case "ports":
                        if (v is not YamlSequenceNode portList)
                        {
                            throw new PluginFileException($"{itemPath}.ports: must be a list");
                        }

                        for (var j = 0; j < portList.Children.Count; j++)
                        {
                            var portPath = $"{itemPath}.ports[{j}].number";
                            if (portList.Children[j] is not YamlMappingNode portMap ||
                                !portMap.Children.TryGetValue(new YamlScalarNode("number"), out var numberNode))
                            {
                                throw new PluginFileException($"{portPath}: required");
                            }

                            var number = Int(numberNode, portPath);
                            if (number is < 1 or > 65535)
                            {
                                throw new PluginFileException($"{portPath}: must be 1-65535, got {number}");
                            }

                            ports.Add(number);
                        }

                        break;
                    default:
                        throw new PluginFileException($"{itemPath}.{k} (line {k.Start.Line}): unknown field");
                }
            }

            match.Add(new TrafficSelector(mode, ports));
        }
    }

    private static readonly double MaxDurationMs = TimeSpan.MaxValue.TotalMilliseconds / 2;

    private static readonly (string Suffix, double Ms)[] DurationUnits = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)];

    /// <summary>
    /// A duration as the CRD admits it (Go's form: <c>100ms</c>, <c>1.5s</c>, <c>1m30s</c>, <c>1h</c>), or one number
    /// with one unit.
    /// </summary>
    private static TimeSpan ParseDuration(string text, string path)
    {
        double total = 0;
        var parts = GoDurationPart().Matches(text);
        if (parts.Count > 1 && string.Concat(parts.Select(p => p.Value)) == text)
        {
            foreach (Match part in parts)
            {
                total += double.Parse(part.Groups[1].Value, NumberStyles.Float, CultureInfo.InvariantCulture) *
                         DurationUnits.First(u => u.Suffix == part.Groups[2].Value).Ms;
            }
        }
        else
        {
            foreach (var (suffix, ms) in DurationUnits)
            {
                if (text.EndsWith(suffix, StringComparison.Ordinal) && (suffix != "s" || !text.EndsWith("ms", StringComparison.Ordinal)) &&
                    double.TryParse(text.AsSpan(0, text.Length - suffix.Length), NumberStyles.Float, CultureInfo.InvariantCulture, out var n))
                {
                    total = n * ms;
                    break;
                }
            }
        }

        if (!(total > 0))
        {
            // NaN fails too.
            throw new PluginFileException($"{path}: must be a duration such as 100ms, 2s or 1m30s, got '{text}'");
        }

        // Infinities and values past TimeSpan's range are not durations.
        return double.IsFinite(total) && total < MaxDurationMs
            ? TimeSpan.FromMilliseconds(total)
            : throw new PluginFileException($"{path}: duration out of range, got '{text}'");
    }

    [GeneratedRegex(@"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)", RegexOptions.CultureInvariant)]
    private static partial Regex GoDurationPart();

    /// <summary>A mapping key: YAML allows sequences and mappings as keys, the plugin file (and a protobuf Struct) does not.</summary>
    private static string Key(YamlNode key, string where) =>
        key is YamlScalarNode s
            ? s.Value ?? ""
            : throw new PluginFileException($"{where} (line {key.Start.Line}): a mapping key must be a scalar, got a {(key is YamlSequenceNode ? "list" : "mapping")}");

    private static string Scalar(YamlNode node, string path) =>
        node is YamlScalarNode s ? s.Value ?? "" : throw new PluginFileException($"{path} (line {node.Start.Line}): must be a scalar");

    private static int Int(YamlNode node, string path) =>
        int.TryParse(Scalar(node, path), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v)
            ? v : throw new PluginFileException($"{path} (line {node.Start.Line}): must be an integer");

    private static TEnum Enum<TEnum>(YamlNode node, string path)
        where TEnum : struct, Enum
    {
        var text = Scalar(node, path);
        return System.Enum.TryParse<TEnum>(text, ignoreCase: false, out var value) && System.Enum.IsDefined(value) && !int.TryParse(text, out _)
            ? value
            : throw new PluginFileException($"{path} (line {node.Start.Line}): must be one of {string.Join(", ", System.Enum.GetNames<TEnum>())}, got '{text}'");
    }

    private static bool IsLowerHex(string s)
    {
        foreach (var c in s)
        {
            if (c is not ((>= '0' and <= '9') or (>= 'a' and <= 'f')))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// A structured pluginConfig as JSON, as Istio hands it to the plugin: it is a google.protobuf.Struct,
    /// so keys are strings and numbers are finite doubles. Plain scalars that YAML reads as integers or
    /// floats become JSON numbers; YAML's .nan/.inf have no JSON form and are rejected (as the API server
    /// rejects them); anything else (nan, Infinity, 1e400, 0x1f) stays the string it was written as.
    /// </summary>
    private static string ToJson(YamlNode node, string path)
    {
        using var buffer = new MemoryStream();
        try
        {
            using (var writer = new Utf8JsonWriter(buffer))
            {
                WriteJson(writer, node, path);
            }
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException)
        {
            // Text JSON cannot hold (a lone surrogate) or nesting past the writer's depth limit.
            throw new PluginFileException($"{path} (line {node.Start.Line}): cannot be converted to JSON: {ex.Message}");
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static void WriteJson(Utf8JsonWriter writer, YamlNode node, string path)
    {
        switch (node)
        {
            case YamlMappingNode map:
                writer.WriteStartObject();
                foreach (var (k, v) in map.Children)
                {
                    var key = Key(k, path);
                    writer.WritePropertyName(key);
                    WriteJson(writer, v, $"{path}.{key}");
                }

                writer.WriteEndObject();
                break;
            case YamlSequenceNode seq:
                writer.WriteStartArray();
                for (var i = 0; i < seq.Children.Count; i++)
                {
                    WriteJson(writer, seq.Children[i], $"{path}[{i}]");
                }

                writer.WriteEndArray();
                break;
            case YamlScalarNode scalar:
                var text = scalar.Value;
                if (scalar.Style is not (ScalarStyle.Plain or ScalarStyle.Any))
                {
                    writer.WriteStringValue(text);
                }
                else if (text is null or "null" or "~" or "")
                {
                    writer.WriteNullValue();
                }
                else if (text is "true" or "false")
                {
                    writer.WriteBooleanValue(text == "true");
                }
                else if (IsYamlNaNOrInfinity(text))
                {
                    throw new PluginFileException(
                        $"{path} (line {scalar.Start.Line}): '{text}' is not a valid JSON number (pluginConfig is a google.protobuf.Struct); quote it to pass a string");
                }
                else if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l))
                {
                    writer.WriteNumberValue(l);
                }
                else if (IsYamlFloat(text) &&
                         double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d))
                {
                    writer.WriteNumberValue(d);
                }
                else
                {
                    writer.WriteStringValue(text);
                }

                break;
            default:
                writer.WriteNullValue();
                break;
        }
    }

    /// <summary>YAML's special floats (.nan, .inf, -.Inf, ...), which have no JSON number form.</summary>
    private static bool IsYamlNaNOrInfinity(string text) =>
        text is ".nan" or ".NaN" or ".NAN" or
            ".inf" or ".Inf" or ".INF" or "+.inf" or "+.Inf" or "+.INF" or "-.inf" or "-.Inf" or "-.INF";

    /// <summary>
    /// A plain YAML float in decimal notation. Unlike double.TryParse this excludes NaN, Infinity,
    /// whitespace and other words .NET would read as numbers.
    /// </summary>
    private static bool IsYamlFloat(string text) => YamlFloat().IsMatch(text);

    [GeneratedRegex(@"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$", RegexOptions.CultureInvariant)]
    private static partial Regex YamlFloat();

    /// <summary>Passes a parser's events through and keeps the line each document starts on (its '---', if it has one).</summary>
    private sealed class DocumentStartRecorder(IParser inner) : IParser
    {
        public List<long> Starts { get; } = [];

        public ParsingEvent? Current => inner.Current;

        public bool MoveNext()
        {
            var moved = inner.MoveNext();
            if (moved && inner.Current is DocumentStart start)
            {
                Starts.Add(start.Start.Line);
            }

            return moved;
        }
    }
}
