using k8s;

namespace WasmOperator.Operator.Runtime.Reflection;

/// <summary>
/// How the reflector lists and watches one resource (client-go's ListerWatcher): a page of a list from a
/// namespace (null: all), a watch from a resourceVersion that reports errors to <c>onError</c> (KubernetesClient
/// does not throw for a watch error event), and the metadata of an item.
/// </summary>
internal sealed record ListWatch<T>(
    string Resource,
    Func<string?, string?, CancellationToken, Task<ListPage<T>>> List,
    Func<string?, string?, int, Action<Exception>, CancellationToken, IAsyncEnumerable<(WatchEventType Type, T Item)>> Watch,
    Func<T, ItemMeta> Meta)
    where T : class;
