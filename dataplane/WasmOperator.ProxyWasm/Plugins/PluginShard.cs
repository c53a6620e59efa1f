using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using WasmOperator.ProxyWasm.Abi;
using WasmOperator.ProxyWasm.Runtime;

namespace WasmOperator.ProxyWasm.Plugins;

/// <summary>
/// One VM of a plugin (cpp-host's per-thread handle): runs one callback at a time under its lock,
/// defers actions that would re-enter the VM until the current call returns, queues host events
/// (ticks, queue notifications, callout replies) for whichever thread holds the lock instead of
/// waiting for it, and on a trap fails only its own calls, then rebuilds the VM from the compiled
/// module with exponential backoff.
/// </summary>
/// <remarks>
/// Whoever releases <see cref="Gate"/> after taking it calls <see cref="DrainDeferred"/>: a <see cref="Post"/>
/// that found the gate taken counts on that to run its event. VM calls take the gate through <see cref="EnterGate"/>
/// (or <see cref="HoldingGate"/>), whose scope does both, also when the call threw or returned early.
/// </remarks>
internal sealed class PluginShard
{
    private readonly List<Action> _deferred = [];
    private volatile bool _deferredPending;
    private readonly ConcurrentQueue<(int Generation, Action<AbiInstance> Action)> _posted = new();
    private int _postedCount;
    private int _drainScheduled;
    private readonly CancellationTokenSource _cancellation = new();
    private Timer? _tick;
    private int _tickPeriodMs;
    private int _tickVersion;
    private int _consecutiveFailures;
    private DateTime _nextRebuildUtc;

    // The plugin is gone: no new streams, no rebuild. The VM may live on while its root context waits for proxy_done.
    private bool _disposed;
    private bool _rootDonePending;
    private Timer? _rootDoneGrace;
    private bool _shutDown;

    public PluginShard(ProxyWasmPlugin plugin, int index)
    {
        Plugin = plugin;
        Index = index;
    }

    public ProxyWasmPlugin Plugin { get; }

    public int Index { get; }

    public Lock Gate { get; } = new();

    /// <summary>The live VM state, or null while failed.</summary>
    public AbiInstance? Abi { get; private set; }

    /// <summary>Changes whenever the VM is replaced; contexts of an older generation are gone.</summary>
    public int Generation { get; private set; }

    public PluginFailure? LastFailure { get; private set; }

    public int CrashCount { get; private set; }

    /// <summary>The delay chosen after the latest failure.</summary>
    public TimeSpan LastBackoff { get; private set; }

    [ThreadStatic]
    private static int t_callDepthOnThread;
    private int _callDepth;

    /// <summary>Nesting of VM calls on this shard; only changed by the thread holding <see cref="Gate"/>.</summary>
    public int CallDepth
    {
        get => _callDepth;
        set
        {
            t_callDepthOnThread += value - _callDepth;
            _callDepth = value;
        }
    }

    public CancellationToken Cancellation => _cancellation.Token;

    /// <summary>Builds the VM; throws on failure (used for the first, canary build).</summary>
    public void Build()
    {
        using (EnterGate())
        {
            CallDepth++;
            try
            {
                Abi = AbiInstance.Create(this);
            }
            finally
            {
                CallDepth--;
            }
        }
    }

    /// <summary>Takes <see cref="Gate"/>; disposing the scope releases it and runs what was posted meanwhile.</summary>
    public GateScope EnterGate()
    {
        Gate.Enter();
        return new GateScope(this);
    }

    /// <summary>The scope of a <see cref="Gate"/> this thread already took (with <c>TryEnter</c>).</summary>
    public GateScope HoldingGate() => new(this);

    /// <summary>
    /// Holding <see cref="Gate"/>: its Dispose releases the gate, then runs <see cref="DrainDeferred"/>, as every
    /// thread that held the gate must (also when the code under it threw or returned early).
    /// </summary>
    public readonly ref struct GateScope
    {
        private readonly PluginShard _shard;

        internal GateScope(PluginShard shard) => _shard = shard;

        public void Dispose()
        {
            _shard.Gate.Exit();
            _shard.DrainDeferred();
        }
    }

    /// <summary>Under <see cref="Gate"/>: true if a VM is ready, rebuilding it when the backoff has passed.</summary>
    public bool EnsureHealthy()
    {
        if (_disposed)
        {
            return false;
        }

        if (Abi is not null)
        {
            return true;
        }

        if (DateTime.UtcNow < _nextRebuildUtc)
        {
            return false;
        }

        CallDepth++;
        try
        {
            // The new generation before the VM starts: on_vm_start and on_configure arm ticks, register
            // queues and start callouts that capture it, and what they capture must be this VM's.
            Generation++;
            Abi = AbiInstance.Create(this);
            Plugin.Log.LogInformation("plugin {Plugin} shard {Shard}: VM rebuilt after {Crashes} crash(es)", Plugin.Options.Logged, Index, CrashCount);
            Plugin.Host.OnVmRebuilt();
            return true;
        }
#pragma warning disable CA1031 // Any rebuild failure only lengthens the backoff.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            StopTick(); // armed by the half-started VM, if it got that far
            _consecutiveFailures++;
            _nextRebuildUtc = DateTime.UtcNow + Backoff();
            LastFailure = new PluginFailure(WasmVm.Classify(ex), "rebuild", ex.Message);
            Plugin.Log.LogWarning("plugin {Plugin} shard {Shard}: rebuild failed: {Message}", Plugin.Options.Logged, Index, ex.Message);
            return false;
        }
        finally
        {
            CallDepth--;
        }
    }

    /// <summary>Under <see cref="Gate"/>: marks the VM failed after a trap in <paramref name="callback"/>.</summary>
    public PluginFailure Fail(Exception exception, string callback, StreamContext? current)
    {
        var kind = WasmVm.Classify(exception);
        var message = exception.Message;
        var abi = Abi;
        if (abi is not null && kind is TrapKind.Unreachable or TrapKind.Other &&
            abi.Vm.MemoryBytes + Math.Max(64 * 1024, abi.Vm.MemoryBytes) > Plugin.Options.MemoryLimitBytes)
        {
            // Wasmtime reports a refused memory.grow as -1, not as a trap; SDK allocators then abort.
            // A trap while the next doubling would pass the limit is classified as the limit. A guess (Wasmtime's C API
            // does not say whether a growth was refused): the message gives its grounds, so a plain bug near the limit
            // is not taken for certain as one.
            kind = TrapKind.MemoryLimit;
            message = $"probably a refused memory.grow: the VM's memory ({abi.Vm.MemoryBytes / 1024} KiB) could not double within " +
                $"maxMemoryBytes ({Plugin.Options.MemoryLimitBytes / 1024} KiB), and the guest then trapped: {message}";
        }

        var failure = new PluginFailure(kind, callback, message);
        LastFailure = failure;
        CrashCount++;
        _consecutiveFailures++;
        _nextRebuildUtc = DateTime.UtcNow + Backoff();
        Plugin.Log.LogError("plugin {Plugin} shard {Shard}: {Failure}", Plugin.Options.Logged, Index, failure);
        Plugin.Host.OnVmFailed(failure);
        StopTick();
        if (abi is not null)
        {
            var elsewhere = failure with { InAnotherStream = true };
            foreach (var stream in abi.Streams.Values)
            {
                if (!ReferenceEquals(stream, current))
                {
                    var host = stream.Host;
                    AddDeferred(() => host.OnPluginFailure(elsewhere));
                }
            }

            abi.Dispose();
        }

        Abi = null;
        Generation++;
        if (_disposed)
        {
            // A VM whose root waited for proxy_done failed meanwhile: nothing is left to wait for.
            ShutDown(deleteRoot: false);
        }

        return failure;
    }

    /// <summary>A stream completed normally: the VM is healthy again, reset the backoff.</summary>
    public void MarkHealthy() => _consecutiveFailures = 0;

    private TimeSpan Backoff()
    {
        LastBackoff = ComputeBackoff(Plugin.Options, _consecutiveFailures);
        return LastBackoff;
    }

    /// <summary>RebuildBackoff × 2^(failures−1), capped at MaxRebuildBackoff.</summary>
    internal static TimeSpan ComputeBackoff(PluginOptions options, int consecutiveFailures)
    {
        var factor = Math.Pow(2, Math.Clamp(consecutiveFailures - 1, 0, 30));
        return TimeSpan.FromTicks((long)Math.Min(options.RebuildBackoff.Ticks * factor, options.MaxRebuildBackoff.Ticks));
    }

    /// <summary>Failures since the last healthy completed stream.</summary>
    public int ConsecutiveFailures => _consecutiveFailures;

    /// <summary>Queues an action to run after the current VM call, outside the lock.</summary>
    public void Defer(Action action)
    {
        lock (Gate)
        {
            AddDeferred(action);
        }
    }

    /// <summary>Under <see cref="Gate"/>: queues an action for <see cref="DrainDeferred"/>.</summary>
    private void AddDeferred(Action action)
    {
        _deferred.Add(action);
        _deferredPending = true;
    }

    /// <summary>
    /// Runs <paramref name="action"/> on the VM of <paramref name="generation"/> (dropped if that VM is gone), after
    /// every event posted before it. Never waits for the lock: the event is queued, then run now if the lock is
    /// free, else by the thread holding it when it lets go (after the current call when that is this thread).
    /// </summary>
    public void Post(int generation, Action<AbiInstance> action)
    {
        _posted.Enqueue((generation, action));

        // A full fence between queueing and looking at the lock; the holder fences between releasing it and
        // looking at the queue (DrainDeferred), so one of the two always sees the other.
        Interlocked.Increment(ref _postedCount);
        if (t_callDepthOnThread > 0)
        {
            // Inside a VM call: this shard's caller runs it when the call returned. Running it here in
            // another shard's call would nest one VM in another, so a pool thread tries instead.
            if (!Gate.IsHeldByCurrentThread)
            {
                ScheduleDrain();
            }

            return;
        }

        DrainPosted();
    }

    /// <summary>Runs the posted events if the lock is free now; returns at once if it is not.</summary>
    private void DrainPosted()
    {
        if (Volatile.Read(ref _postedCount) == 0 || !Gate.TryEnter())
        {
            return;
        }

        Action[]? deferred = null;
        try
        {
            if (CallDepth == 0)
            {
                RunPosted();
                deferred = TakeDeferred();
            }
        }
        finally
        {
            Gate.Exit();
        }

        if (deferred is not null)
        {
            RunActions(deferred);
        }

        // Events posted while this thread ran the batch: another thread takes them, so a caller's
        // thread runs a bounded batch and events keep coming in order.
        Interlocked.MemoryBarrier();
        if (Volatile.Read(ref _postedCount) != 0)
        {
            ScheduleDrain();
        }
    }

    /// <summary>Queues at most one pool work item per shard that runs the posted events without waiting for the lock.</summary>
    private void ScheduleDrain()
    {
        if (Interlocked.CompareExchange(ref _drainScheduled, 1, 0) != 0)
        {
            return;
        }

        ThreadPool.UnsafeQueueUserWorkItem(static shard =>
        {
            Volatile.Write(ref shard._drainScheduled, 0);
            shard.DrainPosted();
        }, this, preferLocal: false);
    }

    /// <summary>Under <see cref="Gate"/>, outside any VM call: runs the events queued so far, in order.</summary>
    private void RunPosted()
    {
        for (var remaining = Volatile.Read(ref _postedCount); remaining > 0 && _posted.TryDequeue(out var posted); remaining--)
        {
            Interlocked.Decrement(ref _postedCount);
            if (posted.Generation != Generation || Abi is not { } abi)
            {
                continue;
            }

            CallDepth++;
            try
            {
                abi.Vm.Arm();
                abi.Callback = "proxy_on_host_event"; // until the event names the export it calls
                posted.Action(abi);
            }
#pragma warning disable CA1031 // A trap here fails this shard only.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                Fail(ex, abi.Callback, null);
            }
            finally
            {
                CallDepth--;
            }
        }
    }

    /// <summary>
    /// Called by every thread after it released <see cref="Gate"/>: runs the actions deferred during its VM
    /// calls outside the lock, then the events posted meanwhile. When nothing is pending (the common case)
    /// this returns without taking the lock.
    /// </summary>
    public void DrainDeferred()
    {
        RunDeferred();

        // Pairs with the fence in Post: a post that found the gate taken is seen here.
        Interlocked.MemoryBarrier();
        if (Volatile.Read(ref _postedCount) != 0)
        {
            DrainPosted();
        }
    }

    /// <summary>
    /// Runs actions deferred during VM calls, outside the lock. Every action is queued by the thread
    /// holding the lock inside a VM call, and that thread drains after the call.
    /// </summary>
    private void RunDeferred()
    {
        while (_deferredPending)
        {
            Action[]? batch;
            lock (Gate)
            {
                batch = CallDepth > 0 ? null : TakeDeferred();
            }

            if (batch is null)
            {
                return;
            }

            RunActions(batch);
        }
    }

    /// <summary>Under <see cref="Gate"/>: the deferred actions, or null if there are none.</summary>
    private Action[]? TakeDeferred()
    {
        if (_deferred.Count == 0)
        {
            return null;
        }

        Action[] batch = [.. _deferred];
        _deferred.Clear();
        _deferredPending = false;
        return batch;
    }

    private void RunActions(Action[] batch)
    {
        foreach (var action in batch)
        {
            try
            {
                action();
            }
#pragma warning disable CA1031 // A failing host callback must not break the shard.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                Plugin.Log.LogError(ex, "plugin {Plugin} shard {Shard}: deferred action failed", Plugin.Options.Logged, Index);
            }
        }
    }

    /// <summary>
    /// Under the lock (from a hostcall): starts, changes or stops the root context's timer. The timer is
    /// one-shot and re-armed only after on_tick returned (Envoy's Wasm::tickHandler), so ticks never
    /// overlap or pile up, and the next one starts a full period after the previous one ended.
    /// </summary>
    public void SetTickPeriod(int milliseconds)
    {
        StopTick();
        if (milliseconds > 0)
        {
            _tickPeriodMs = milliseconds;
            _tick = new Timer(static state => ((TickTarget)state!).Fire(),
                new TickTarget(this, Generation, _tickVersion), milliseconds, Timeout.Infinite);
        }
    }

    /// <summary>Under the lock: the timer is gone, and a firing already on its way finds it replaced.</summary>
    private void StopTick()
    {
        _tick?.Dispose();
        _tick = null;
        _tickVersion++;
    }

    /// <summary>Under the lock, on the VM of the timer's generation: on_tick, then the timer is armed for the next one.</summary>
    private void Tick(AbiInstance abi, int version)
    {
        if (version != _tickVersion)
        {
            return;
        }

        abi.Tick();

        // on_tick may have stopped the timer or set another period (which re-armed it; Envoy re-arms it again).
        _tick?.Change(_tickPeriodMs, Timeout.Infinite);
    }

    /// <summary>What one tick timer fires for: its shard, the VM generation it belongs to and its version.</summary>
    private sealed class TickTarget(PluginShard shard, int generation, int version)
    {
        private readonly Action<AbiInstance> _tick = abi => shard.Tick(abi, version);

        public void Fire() => shard.Post(generation, _tick);
    }

    /// <summary>
    /// The plugin is gone (cpp-host <c>WasmBase::startShutdown</c>): no new streams and no rebuild from now on, and the
    /// root context's on_done decides the rest. True (or no on_done) and on_delete follows at once. False and, as in
    /// Envoy, the root keeps its VM, ticks and callout answers until it calls proxy_done (<see cref="RootDoneCalled"/>),
    /// or until <see cref="PluginOptions.RootDoneGrace"/> passes (<see cref="ExpireRootDone"/>) or the runtime is disposed
    /// (<see cref="EndRootWait"/>). Streams started before go on meanwhile. <paramref name="rootMayWait"/> false (a
    /// plugin that failed to load) deletes the root whatever on_done answers.
    /// </summary>
    public void Dispose(bool rootMayWait)
    {
        using (EnterGate())
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;

            // Before on_done, which may defer the root's end: a plugin that is gone is told of no more queue items,
            // they go back to the VM that registered the queue before it (the serving set's, after a rejected one).
            Abi?.ReleaseSharedQueues();
            if (Abi is not { } abi)
            {
                ShutDown(deleteRoot: false);
                return;
            }

            bool deleteNow;
            CallDepth++;
            try
            {
                abi.Vm.Arm();
                deleteNow = abi.RootDone() || !rootMayWait || Plugin.Options.RootDoneGrace <= TimeSpan.Zero;
            }
#pragma warning disable CA1031 // Teardown is best effort.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                Plugin.Log.LogDebug(ex, "plugin {Plugin} shard {Shard}: root teardown trapped", Plugin.Options.Logged, Index);
                ShutDown(deleteRoot: false);
                return;
            }
            finally
            {
                CallDepth--;
            }

            if (deleteNow)
            {
                ShutDown(deleteRoot: true);
                return;
            }

            _rootDonePending = true;
            Plugin.Runtime.RootWaiting(this);
            var grace = TimeSpan.FromMilliseconds(Math.Min(Plugin.Options.RootDoneGrace.TotalMilliseconds, uint.MaxValue - 1));
            _rootDoneGrace = new Timer(static state =>
            {
                var (shard, generation) = ((PluginShard, int))state!;
                shard.Post(generation, static abi => abi.Shard.ExpireRootDone());
            }, (this, Generation), grace, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>
    /// Under the lock, from <c>proxy_done</c>: true if the root context waits for it, whose on_delete then runs after the
    /// current VM call (cpp-host likewise defers it out of the hostcall).
    /// </summary>
    public bool RootDoneCalled()
    {
        if (!_rootDonePending)
        {
            return false;
        }

        _rootDonePending = false;
        Post(Generation, static abi => abi.Shard.ShutDown(deleteRoot: true));
        return true;
    }

    /// <summary>Under the lock: the grace for proxy_done passed; the root is deleted and the VM released anyway.</summary>
    private void ExpireRootDone()
    {
        if (!_rootDonePending)
        {
            return;
        }

        Plugin.Log.LogWarning(
            "plugin {Plugin} shard {Shard}: the root context deferred its deletion (proxy_on_done returned false) and did not call proxy_done within {Seconds} s; deleting it and releasing its VM",
            Plugin.Options.Logged, Index, Plugin.Options.RootDoneGrace.TotalSeconds);
        ShutDown(deleteRoot: true);
    }

    /// <summary>The runtime is being disposed: a root still waiting for its proxy_done is deleted now.</summary>
    public void EndRootWait()
    {
        using (EnterGate())
        {
            if (_disposed && !_shutDown)
            {
                Plugin.Log.LogWarning("plugin {Plugin} shard {Shard}: the runtime is disposed while the root context waits for proxy_done; deleting it",
                    Plugin.Options.Logged, Index);
                ShutDown(deleteRoot: true);
            }
        }
    }

    /// <summary>Under the lock: the end of this shard: timers, calls and the VM (after the root's on_delete when asked).</summary>
    private void ShutDown(bool deleteRoot)
    {
        if (_shutDown)
        {
            return;
        }

        _shutDown = true;
        _rootDonePending = false;
        _rootDoneGrace?.Dispose();
        _rootDoneGrace = null;
        StopTick();
        _cancellation.Cancel();
        if (Abi is { } abi)
        {
            if (deleteRoot)
            {
                CallDepth++;
                try
                {
                    abi.Vm.Arm();
                    abi.DeleteRoot();
                }
#pragma warning disable CA1031 // Teardown is best effort.
                catch (Exception ex)
#pragma warning restore CA1031
                {
                    Plugin.Log.LogDebug(ex, "plugin {Plugin} shard {Shard}: root teardown trapped", Plugin.Options.Logged, Index);
                }
                finally
                {
                    CallDepth--;
                }
            }

            abi.Dispose();
            Abi = null;
        }

        Generation++;
        _cancellation.Dispose();
        Plugin.Runtime.RootGone(this);
        Plugin.ShardShutDown();
    }

    /// <summary>Used by streams created while no shard is healthy.</summary>
    public static PluginFailure Unavailable(PluginFailure? last) =>
        new(TrapKind.Unavailable, "create_context", last is null ? "no healthy VM" : $"no healthy VM; last failure: {last}");

}
