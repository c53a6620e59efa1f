using k8s.Models;
using WasmOperator.Operator.Runtime.Cache;

namespace WasmOperator.Operator.Runtime.Reflection;

/// <summary>What the operator keeps of a Secret: where it is, its version, its type and the names of its data keys (never the values).</summary>
internal sealed record SecretSummary(string? Namespace, string? Name, string? ResourceVersion, string? Type, IReadOnlyList<string> Keys)
{
    public static SecretSummary Of(V1Secret secret) => new(
        secret.Metadata?.NamespaceProperty,
        secret.Metadata?.Name,
        secret.Metadata?.ResourceVersion,
        secret.Type,
        secret.Data is null ? [] : [.. secret.Data.Keys]);

    public string Key => ObjectCache<SecretSummary>.KeyOf(Namespace, Name ?? string.Empty);
}
