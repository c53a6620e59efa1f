using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using WasmOperator.Api.Serialization;
using WasmOperator.Api.WasmPlugins;

namespace WasmOperator.Operator.Reconciliation;

/// <summary>
/// The revision: a hash of everything a proxy must load for the plugin (module digest, root id, config, VM
/// config, chain position, failure handling, mode, matching, limits). Selector and rollout are not part of
/// it: they say where and how a revision runs, not what it is.
/// </summary>
internal static class RevisionHasher
{
    public static string Compute(string moduleDigest, WasmPluginSpec spec)
    {
        var content = new JsonObject
        {
            ["moduleDigest"] = moduleDigest,
            ["pluginName"] = spec.PluginName,
            ["pluginConfig"] = spec.PluginConfig?.DeepClone(),
            ["vmConfig"] = Node(spec.VmConfig),
            ["phase"] = Node(spec.Phase),
            ["priority"] = spec.Priority,
            ["failStrategy"] = Node(spec.FailStrategy),
            ["mode"] = Node(spec.Mode),
            ["match"] = Node(spec.Match),
            ["type"] = Node(spec.Type),
            ["limits"] = Node(spec.Limits),
        };
        var bytes = JsonSerializer.SerializeToUtf8Bytes(content);
        return Convert.ToHexStringLower(SHA256.HashData(bytes))[..16];
    }

    private static JsonNode? Node<T>(T value) => value is null ? null : JsonSerializer.SerializeToNode(value, WasmPluginSerializer.Options);
}
