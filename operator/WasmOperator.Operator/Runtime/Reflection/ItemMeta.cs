namespace WasmOperator.Operator.Runtime.Reflection;

/// <summary>Namespace, name and resourceVersion of a listed or watched object (a bookmark carries only the version).</summary>
internal readonly record struct ItemMeta(string? Namespace, string? Name, string? ResourceVersion);
