namespace WasmOperator.Operator.Runtime.Reflection;

/// <summary>One page of a list: the items, the list's resourceVersion and the continue token (null on the last page).</summary>
internal sealed record ListPage<T>(IReadOnlyList<T> Items, string? ResourceVersion, string? Continue);
