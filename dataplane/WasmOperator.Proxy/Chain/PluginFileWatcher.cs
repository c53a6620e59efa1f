using System.Security.Cryptography;
using Microsoft.Extensions.Hosting;

namespace WasmOperator.Proxy.Chain;

/// <summary>
/// Stand-alone mode: applies the plugin file at start and again whenever what it names changes: the
/// file's content, or a file:// module the last attempt read: its size, write time or the file its links lead to, and
/// every <see cref="ContentComparePolls"/> polls its bytes (a change notification triggers an immediate check; a poll
/// catches notifications lost on overlay and network file systems, and module rebuilds, which are only polled). A file,
/// the plugin file or a module, is applied only once it has settled (<see cref="QuietPeriod"/>), and what applies is exactly what was hashed: a writer still writing in place
/// (an editor saving, <c>tar -xf</c>, <c>kubectl cp</c>) is not applied half-way, which could drop plugins,
/// authorizers among them. A rejected set, or a first set applied with plugins that did not load (they apply their
/// fail strategy meanwhile), is retried until it applies whole (a permission fixed, say): at once when the file or a
/// module changes, otherwise after a delay that doubles from the poll interval up to 30 s; logged again only when the reason changes. Nothing the file
/// or the load does stops the watcher: failures are rejections, a file that cannot be read among them.
/// </summary>
internal sealed class PluginFileWatcher(ChainManager manager, string path, TimeSpan pollInterval) : BackgroundService
{
    private readonly SemaphoreSlim _changed = new(0, 1);
    private byte[]? _lastHash;
    private IReadOnlyList<ModuleFile> _lastModules = [];
    private long _compareModulesAt;
    private string? _retryReason;
    private string? _unreadable;
    private TimeSpan _retryDelay;
    private long _retryAt;

    /// <summary>Longest wait between retries of a rejected set whose file and modules have not changed.</summary>
    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Polls between two reads of the modules' bytes (every poll stats them): a module replaced by one of the same size and
    /// write time reloads within this many polls (5 s at the default 500 ms). Hashing costs about 1 ms of CPU per MiB of
    /// modules (SHA-256 with the CPU's SHA extensions, from the page cache), so a 10 MiB set costs under 0.2% of a core.
    /// </summary>
    private const int ContentComparePolls = 10;

    /// <summary>
    /// How long a changed file (the plugin file or a module) must stay the same (bytes, size and write time; a module's
    /// size and write time) before it applies: longer than the gaps between a copying writer's chunks, short enough
    /// not to delay an edit (or the start) noticeably. A writer that pauses longer than this half-way and that this
    /// process cannot see holding the file open (<see cref="OpenWriters"/>) is read half-way: applied if that half is a
    /// valid set on its own, rejected otherwise, until it finishes. Tests lengthen it.
    /// </summary>
    internal TimeSpan QuietPeriod { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// How long a settled file still open for writing by another process waits for its writer to close it before it
    /// applies anyway. Tests shorten it.
    /// </summary>
    internal TimeSpan WriterPatience { get; set; } = TimeSpan.FromSeconds(30);

    public async Task ApplyInitialAsync(CancellationToken cancellationToken)
    {
        Snapshot settled;
        try
        {
            settled = await SettleAsync(await ReadAsync(cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            _unreadable = manager.RejectFile(path, Unreadable(ex), null).Reason;
            return;
        }

        _lastHash = settled.Hash;
        Record(await manager.ApplyFileAsync(path, settled.Bytes, null, cancellationToken).ConfigureAwait(false));
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
                _retryReason = manager.ReportWatcherFailure(path, ex, _retryReason);
            }
        }
    }

    /// <summary>One poll: a stat per module and one read and hash of the (small) YAML file; more reads while it changes.</summary>
    private async Task CheckAsync(CancellationToken cancellationToken)
    {
        Snapshot snapshot;
        try
        {
            snapshot = await ReadAsync(cancellationToken).ConfigureAwait(false);
            if (_lastHash is null || !snapshot.Hash.AsSpan().SequenceEqual(_lastHash))
            {
                // A writer may be part-way through (it may also end by writing back what was there).
                snapshot = await SettleAsync(snapshot, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            await ReportUnreadableAsync(cancellationToken).ConfigureAwait(false);
            return;
        }

        _unreadable = null;
        var unchanged = _lastHash is not null && snapshot.Hash.AsSpan().SequenceEqual(_lastHash);
        if (!ModulesUnchanged())
        {
            // A module being rewritten in place (a build writing its output, a copy) is not loaded half-written.
            await SettleModulesAsync(cancellationToken).ConfigureAwait(false);
            unchanged = false;
        }

        if (unchanged && (_retryReason is null || Environment.TickCount64 < _retryAt))
        {
            return;
        }

        _lastHash = snapshot.Hash;
        // A retry of unchanged content that fails the same way again stays quiet, and the next one waits
        // twice as long (up to 30 s): a set that cannot load does not rebuild its VMs on every poll.
        Record(await manager.ApplyFileAsync(path, snapshot.Bytes, unchanged ? _retryReason : null, cancellationToken).ConfigureAwait(false));
        _retryDelay = _retryReason is not null && unchanged
            ? TimeSpan.FromTicks(Math.Min(Math.Max(_retryDelay.Ticks, pollInterval.Ticks) * 2, MaxRetryDelay.Ticks))
            : pollInterval;
        _retryAt = Environment.TickCount64 + (long)_retryDelay.TotalMilliseconds;
    }

    /// <summary>
    /// Reports a file that cannot be read (missing, a permission, a dangling link, a directory) as a rejected set: logged
    /// and recorded once per reason, the serving set stays. Only a failure that outlasts <see cref="QuietPeriod"/>
    /// counts: a writer that removes the file and creates it again leaves it missing for a moment. Once it reads again
    /// it applies, even unchanged, so that an applied set, not a stale report, says what serves.
    /// </summary>
    private async Task ReportUnreadableAsync(CancellationToken cancellationToken)
    {
        await Task.Delay(QuietPeriod, cancellationToken).ConfigureAwait(false);
        try
        {
            await ReadAsync(cancellationToken).ConfigureAwait(false);
            Signal();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            _unreadable = manager.RejectFile(path, Unreadable(ex), _unreadable).Reason;
            _lastHash = null;
        }
    }

    private string Unreadable(Exception ex)
    {
        if (Directory.Exists(path))
        {
            return $"{path} is a directory, not the plugin file; nothing changes until a file is there";
        }

        return ex switch
        {
            FileNotFoundException or DirectoryNotFoundException =>
                $"{path}: the plugin file is missing (or a link to a missing file); nothing changes until it is back " +
                "(write it to a temporary file next to it and rename that over it)",
            UnauthorizedAccessException =>
                $"{path}: the plugin file cannot be read ({ex.Message}); nothing changes until it can: give the user the proxy " +
                "runs as read permission on it and search permission on its directories",
            _ => $"{path}: the plugin file cannot be read ({ex.Message}); nothing changes until it can",
        };
    }

    /// <summary>
    /// Reads the file again after <see cref="QuietPeriod"/> until two reads in a row agree on the bytes, the size and
    /// the write time; returns the last read, whose bytes are what applies. A file that keeps changing is not applied
    /// until it stops.
    /// </summary>
    private async Task<Snapshot> SettleAsync(Snapshot first, CancellationToken cancellationToken)
    {
        var last = first;
        var writerSeen = 0L;
        while (true)
        {
            await Task.Delay(QuietPeriod, cancellationToken).ConfigureAwait(false);
            var next = await ReadAsync(cancellationToken).ConfigureAwait(false);
            if (next.Stamp == last.Stamp && next.Hash.AsSpan().SequenceEqual(last.Hash) && !WriterStillOpen([path], ref writerSeen))
            {
                return next;
            }

            last = next;
        }
    }

    /// <summary>
    /// True while a process has one of <paramref name="files"/> open for writing (<see cref="OpenWriters"/>): a writer
    /// that paused longer than <see cref="QuietPeriod"/> is not done, and what it wrote so far may parse as a smaller set.
    /// Said once per wait; after <see cref="WriterPatience"/> the file applies as it is (a process that keeps it open for
    /// good must not hold every change back).
    /// </summary>
    private bool WriterStillOpen(IEnumerable<string> files, ref long since)
    {
        foreach (var file in files)
        {
            if (!OpenWriters.Any(file))
            {
                continue;
            }

            if (since == 0)
            {
                since = Environment.TickCount64;
                manager.ReportWriterStillOpen(file, WriterPatience);
            }

            return Environment.TickCount64 - since < (long)WriterPatience.TotalMilliseconds;
        }

        return false;
    }

    /// <summary>
    /// Waits until the modules the last apply read keep their stamps for <see cref="QuietPeriod"/>. Stamps, not bytes:
    /// a writer changes the size or the write time as it writes; a module whose bytes alone changed is already whole.
    /// </summary>
    private async Task SettleModulesAsync(CancellationToken cancellationToken)
    {
        var last = Stamps();
        var writerSeen = 0L;
        while (true)
        {
            await Task.Delay(QuietPeriod, cancellationToken).ConfigureAwait(false);
            var next = Stamps();
            if (next.AsSpan().SequenceEqual(last) && !WriterStillOpen(ModulePaths(), ref writerSeen))
            {
                return;
            }

            last = next;
        }
    }

    private IEnumerable<string> ModulePaths()
    {
        foreach (var module in _lastModules)
        {
            yield return module.Stamp.Path;
        }
    }

    private ModuleStamp[] Stamps()
    {
        var stamps = new ModuleStamp[_lastModules.Count];
        for (var i = 0; i < stamps.Length; i++)
        {
            stamps[i] = ModuleStamp.Of(_lastModules[i].Stamp.Path);
        }

        return stamps;
    }

    /// <summary>The file's size and write time (taken first, so that a write racing the read shows), bytes and their hash.</summary>
    private async Task<Snapshot> ReadAsync(CancellationToken cancellationToken)
    {
        // A module's stamp serves the YAML file as well: of the file a symlink (a ConfigMap key) points to.
        var stamp = ModuleStamp.Of(path);
        var bytes = await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false);
        return new Snapshot(bytes, SHA256.HashData(bytes), stamp);
    }

    private void Record(ChainManager.FileApplyResult result)
    {
        _retryReason = result.Retry;
        _lastModules = result.Modules;
    }

    private bool ModulesUnchanged()
    {
        var compareContent = Environment.TickCount64 >= _compareModulesAt;
        if (compareContent)
        {
            _compareModulesAt = Environment.TickCount64 + (long)(pollInterval.TotalMilliseconds * ContentComparePolls);
        }

        foreach (var module in _lastModules)
        {
            if (module.Changed(compareContent))
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

    public override void Dispose()
    {
        _changed.Dispose();
        base.Dispose();
    }

    private sealed record Snapshot(byte[] Bytes, byte[] Hash, ModuleStamp Stamp);
}
