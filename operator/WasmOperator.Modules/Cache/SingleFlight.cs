using System.Collections.Concurrent;

namespace WasmOperator.Modules.Cache;

/// <summary>
/// Concurrent callers with the same key share one running operation. The operation does not use a
/// caller's token (one caller giving up must not fail the others); each caller waits with its own.
/// </summary>
internal sealed class SingleFlight<T>
{
    private readonly ConcurrentDictionary<string, Lazy<Task<T>>> _running = new(StringComparer.Ordinal);

    public Task<T> RunAsync(string key, Func<Task<T>> operation, CancellationToken cancellationToken)
    {
        var lazy = _running.GetOrAdd(key, k => new Lazy<Task<T>>(() => RunAndForgetAsync(k, operation)));
        return lazy.Value.WaitAsync(cancellationToken);
    }

    private async Task<T> RunAndForgetAsync(string key, Func<Task<T>> operation)
    {
        try
        {
            // Yield first so the Lazy is published before the operation can complete and remove it.
            await Task.Yield();
            return await operation();
        }
        finally
        {
            _running.TryRemove(key, out _);
        }
    }
}
