using System.Security.Cryptography;
using Microsoft.Extensions.Hosting;

namespace WasmOperator.Proxy.Chain;

/// <summary>
/// Stand-alone mode: applies the plugin file at start and again whenever its content changes
/// (a change notification triggers an immediate check; a poll catches notifications lost on
/// overlay and network file systems).
/// </summary>
internal sealed class PluginFileWatcher(ChainManager manager, string path, TimeSpan pollInterval) : BackgroundService
{
    private readonly SemaphoreSlim _changed = new(0, 1);
    private byte[]? _lastHash;

    public async Task ApplyInitialAsync(CancellationToken cancellationToken)
    {
        _lastHash = await HashAsync(cancellationToken).ConfigureAwait(false);
        await manager.ApplyFileAsync(path, cancellationToken).ConfigureAwait(false);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var full = Path.GetFullPath(path);
        using var watcher = new FileSystemWatcher(Path.GetDirectoryName(full) ?? ".", Path.GetFileName(full))
        {
            NotifyFilter = NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.FileName | NotifyFilters.CreationTime,
        };
        watcher.Changed += (_, _) => Signal();
        watcher.Created += (_, _) => Signal();
        watcher.Renamed += (_, _) => Signal();
        watcher.EnableRaisingEvents = true;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await _changed.WaitAsync(pollInterval, stoppingToken).ConfigureAwait(false);
                var hash = await HashAsync(stoppingToken).ConfigureAwait(false);
                if (hash is null || (_lastHash is not null && hash.AsSpan().SequenceEqual(_lastHash)))
                {
                    continue;
                }

                _lastHash = hash;
                await manager.ApplyFileAsync(path, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private void Signal()
    {
        try
        {
            _changed.Release();
        }
        catch (SemaphoreFullException)
        {
            // A check is already pending.
        }
    }

    private async Task<byte[]?> HashAsync(CancellationToken cancellationToken)
    {
        try
        {
            var bytes = await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false);
            return SHA256.HashData(bytes);
        }
        catch (IOException)
        {
            return null;
        }
    }

    public override void Dispose()
    {
        _changed.Dispose();
        base.Dispose();
    }
}
