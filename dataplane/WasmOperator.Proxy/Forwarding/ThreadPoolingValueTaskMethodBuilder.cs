using System.Runtime.CompilerServices;
using System.Threading.Tasks.Sources;

namespace WasmOperator.Proxy.Forwarding;

/// <summary>
/// Builds an async <see cref="ValueTask{TResult}"/> method as <see cref="PoolingAsyncValueTaskMethodBuilder{TResult}"/> does,
/// but its state machines come from a pool per thread of up to <see cref="ThreadPoolingBox.Capacity"/> per method.
/// The runtime's pool keeps one per thread and one per core: an event thread with a dozen requests in flight, each
/// suspending before earlier ones hand theirs back, almost never finds one there, and allocated a box per request
/// and method on the forwarding path. Use it only where the task is awaited once, as with the runtime's.
/// </summary>
internal struct ThreadPoolingValueTaskMethodBuilder<TResult>
{
    private ThreadPoolingBox<TResult>? _box;
    private TResult? _result;

    public static ThreadPoolingValueTaskMethodBuilder<TResult> Create() => default;

    public void Start<TStateMachine>(ref TStateMachine stateMachine)
        where TStateMachine : IAsyncStateMachine =>
        default(AsyncValueTaskMethodBuilder<TResult>).Start(ref stateMachine);

    public void SetStateMachine(IAsyncStateMachine stateMachine)
    {
    }

    public void SetResult(TResult result)
    {
        if (_box is null)
        {
            _result = result;
        }
        else
        {
            _box.SetResult(result);
        }
    }

    public void SetException(Exception exception)
    {
        // A box even when it failed before suspending: the task then faults (or is cancelled) as the runtime's builder's does.
        (_box ??= ThreadPoolingBox<TResult, FailedStateMachine>.Rent()).SetException(exception);
    }

    /// <summary>The box of a method that suspended or failed; null for one that returned before either.</summary>
    internal readonly ThreadPoolingBox<TResult>? Box => _box;

    public ValueTask<TResult> Task => _box is { } box ? new ValueTask<TResult>(box, box.Version) : new ValueTask<TResult>(_result!);

    public void AwaitOnCompleted<TAwaiter, TStateMachine>(ref TAwaiter awaiter, ref TStateMachine stateMachine)
        where TAwaiter : INotifyCompletion
        where TStateMachine : IAsyncStateMachine =>
        awaiter.OnCompleted(BoxFor(ref stateMachine).MoveNextAction);

    public void AwaitUnsafeOnCompleted<TAwaiter, TStateMachine>(ref TAwaiter awaiter, ref TStateMachine stateMachine)
        where TAwaiter : ICriticalNotifyCompletion
        where TStateMachine : IAsyncStateMachine =>
        awaiter.UnsafeOnCompleted(BoxFor(ref stateMachine).MoveNextAction);

    private ThreadPoolingBox<TResult> BoxFor<TStateMachine>(ref TStateMachine stateMachine)
        where TStateMachine : IAsyncStateMachine
    {
        var context = ExecutionContext.Capture();
        if (_box is ThreadPoolingBox<TResult, TStateMachine> existing)
        {
            existing.Context = context;
            return existing;
        }

        var box = ThreadPoolingBox<TResult, TStateMachine>.Rent();
        // Before the state machine is copied into the box: the copy's builder must point at the box.
        _box = box;
        box.StateMachine = stateMachine;
        box.Context = context;
        return box;
    }

    /// <summary>The state machine type of a box that only carries a failure from before the first suspension.</summary>
    private struct FailedStateMachine : IAsyncStateMachine
    {
        public void MoveNext()
        {
        }

        public void SetStateMachine(IAsyncStateMachine stateMachine)
        {
        }
    }
}

/// <summary><see cref="ThreadPoolingValueTaskMethodBuilder{TResult}"/> for a method that returns a <see cref="ValueTask"/>.</summary>
internal struct ThreadPoolingValueTaskMethodBuilder
{
    private ThreadPoolingValueTaskMethodBuilder<ThreadPoolingBox.Nothing> _inner;

    public static ThreadPoolingValueTaskMethodBuilder Create() => default;

    public void Start<TStateMachine>(ref TStateMachine stateMachine)
        where TStateMachine : IAsyncStateMachine =>
        default(AsyncValueTaskMethodBuilder).Start(ref stateMachine);

    public void SetStateMachine(IAsyncStateMachine stateMachine)
    {
    }

    public void SetResult() => _inner.SetResult(default);

    public void SetException(Exception exception) => _inner.SetException(exception);

    public ValueTask Task => _inner.Box is { } box ? new ValueTask(box, box.Version) : default;

    public void AwaitOnCompleted<TAwaiter, TStateMachine>(ref TAwaiter awaiter, ref TStateMachine stateMachine)
        where TAwaiter : INotifyCompletion
        where TStateMachine : IAsyncStateMachine =>
        _inner.AwaitOnCompleted(ref awaiter, ref stateMachine);

    public void AwaitUnsafeOnCompleted<TAwaiter, TStateMachine>(ref TAwaiter awaiter, ref TStateMachine stateMachine)
        where TAwaiter : ICriticalNotifyCompletion
        where TStateMachine : IAsyncStateMachine =>
        _inner.AwaitUnsafeOnCompleted(ref awaiter, ref stateMachine);
}

internal static class ThreadPoolingBox
{
    /// <summary>Boxes kept per thread and method: more than the requests in flight on an event thread under load.</summary>
    public const int Capacity = 64;

    /// <summary>The result of a method that returns none.</summary>
    public readonly struct Nothing;
}

/// <summary>A suspended async method and the task it completes: the state machine, its context, its result or failure.</summary>
internal abstract class ThreadPoolingBox<TResult> : IValueTaskSource<TResult>, IValueTaskSource
{
    private ManualResetValueTaskSourceCore<TResult> _core;

    public Action MoveNextAction { get; protected init; } = null!;

    public ExecutionContext? Context;

    public short Version => _core.Version;

    public void SetResult(TResult result) => _core.SetResult(result);

    public void SetException(Exception exception) => _core.SetException(exception);

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);

    public TResult GetResult(short token)
    {
        try
        {
            return _core.GetResult(token);
        }
        finally
        {
            // The one await is over: the box may serve the next call.
            _core.Reset();
            Recycle();
        }
    }

    void IValueTaskSource.GetResult(short token) => GetResult(token);

    protected abstract void Recycle();
}

internal sealed class ThreadPoolingBox<TResult, TStateMachine> : ThreadPoolingBox<TResult>
    where TStateMachine : IAsyncStateMachine
{
    [ThreadStatic]
    private static ThreadPoolingBox<TResult, TStateMachine>?[]? _pool;

    [ThreadStatic]
    private static int _pooled;

    private static readonly ContextCallback Step = static box => ((ThreadPoolingBox<TResult, TStateMachine>)box!).StateMachine.MoveNext();

    public TStateMachine StateMachine = default!;

    private ThreadPoolingBox() => MoveNextAction = MoveNext;

    public static ThreadPoolingBox<TResult, TStateMachine> Rent()
    {
        if (_pooled > 0)
        {
            var pool = _pool!;
            var box = pool[--_pooled]!;
            pool[_pooled] = null;
            return box;
        }

        return new ThreadPoolingBox<TResult, TStateMachine>();
    }

    private void MoveNext()
    {
        if (Context is { } context)
        {
            ExecutionContext.Run(context, Step, this);
        }
        else
        {
            StateMachine.MoveNext();
        }
    }

    protected override void Recycle()
    {
        StateMachine = default!;
        Context = null;
        var pool = _pool ??= new ThreadPoolingBox<TResult, TStateMachine>?[ThreadPoolingBox.Capacity];
        if (_pooled < pool.Length)
        {
            pool[_pooled++] = this;
        }
    }
}
