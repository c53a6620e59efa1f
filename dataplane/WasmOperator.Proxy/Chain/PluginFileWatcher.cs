using System.Security.Cryptography;
using Microsoft.Extensions.Hosting;

namespace WasmOperator.Proxy.Chain;

/// <summary>
/// Stand-alone mode: applies the plugin file at start and again whenever what it names changes: the
/// file's content, or the size or write time of a file:// module the last attempt read (a change
/// notification triggers an immediate check; a poll catches notifications lost on overlay and network
/// file systems, and module rebuilds, which are only polled). A rejected set is retried until it applies
/// (a permission fixed, say): at once when the file or a module changes, otherwise after a delay that
/// doubles from the poll interval up to 30 s; logged again only when the reason changes. Nothing the file
/// or the load does stops the watcher: failures are rejections.
/// </summary>
internal sealed class PluginFileWatcher(ChainManager manager, string path, TimeSpan pollInterval) : BackgroundService
{
    private readonly SemaphoreSlim _changed = new(0, 1);
    private byte[]? _lastHash;
    private IReadOnlyList<ChainManager.ModuleStamp> _lastModules = [];
    private string? _lastRejection;
    private TimeSpan _retryDelay;
    private long _retryAt;

    /// <summary>Longest wait between retries of a rejected set whose file and modules have not changed.</summary>
    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(30);

    public async Task ApplyInitialAsync(CancellationToken cancellationToken)
    {
        _lastHash = await HashAsync(cancellationToken).ConfigureAwait(false);
        Record(await manager.ApplyFileAsync(path, null, cancellationToken).ConfigureAwait(false));
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var watcher = TryWatch();
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await _changed.WaitAsync(pollInterval, stoppingToken).ConfigureAwait(false);
                await CheckAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                // Last line of defence: report it (once per reason) and retry on the next poll.
                _lastRejection = manager.ReportWatcherFailure(path, ex, _lastRejection);
            }
        }
    }

    /// <summary>One poll: a stat per module and one read and hash of the (small) YAML file.</summary>
    private async Task CheckAsync(CancellationToken cancellationToken)
    {
        var hash = await HashAsync(cancellationToken).ConfigureAwait(false);
        if (hash is null)
        {
            return;
        }

        var unchanged = _lastHash is not null && hash.AsSpan().SequenceEqual(_lastHash) && ModulesUnchanged();
        if (unchanged && (_lastRejection is null || Environment.TickCount64 < _retryAt))
        {
            return;
        }

        _lastHash = hash;
        // A retry of unchanged content that fails the same way again stays quiet, and the next one waits
        // twice as long (up to 30 s): a set that cannot load does not rebuild its VMs on every poll.
        Record(await manager.ApplyFileAsync(path, unchanged ? _lastRejection : null, cancellationToken).ConfigureAwait(false));
        _retryDelay = _lastRejection is not null && unchanged
            ? TimeSpan.FromTicks(Math.Min(Math.Max(_retryDelay.Ticks, pollInterval.Ticks) * 2, MaxRetryDelay.Ticks))
            : pollInterval;
        _retryAt = Environment.TickCount64 + (long)_retryDelay.TotalMilliseconds;
    }

    private void Record(ChainManager.FileApplyResult result)
    {
        _lastRejection = result.Reason;
        _lastModules = result.Modules;
    }

    private bool ModulesUnchanged()
    {
        foreach (var module in _lastModules)
        {
            if (ChainManager.ModuleStamp.Of(module.Path) != module)
            {
                return false;
            }
        }

        return true;
    }

    private FileSystemWatcher? TryWatch()
    {
        try
        {
            var full = Path.GetFullPath(path);
            var watcher = new FileSystemWatcher(Path.GetDirectoryName(full) ?? ".", Path.GetFileName(full))
            {
                NotifyFilter = NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.FileName | NotifyFilters.CreationTime,
            };
            watcher.Changed += (_, _) => Signal();
            watcher.Created += (_, _) => Signal();
            watcher.Renamed += (_, _) => Signal();
            watcher.EnableRaisingEvents = true;
            return watcher;
        }
        catch (Exception ex) when (ex is IOException or ArgumentException or UnauthorizedAccessException or PlatformNotSupportedException)
        {
            // No notifications (directory missing, inotify limit reached): the poll still sees changes.
            return null;
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
        catch (ObjectDisposedException)
        {
            // Stopping.
        }
    }

    private async Task<byte[]?> HashAsync(CancellationToken cancellationToken)
    {
        try
        {
            var bytes = await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false);
            return SHA256.HashData(bytes);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
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
