using Wasmtime;

namespace WasmOperator.ProxyWasm.Runtime;

/// <summary>
/// The engine adapter (cpp-host <c>WasmVm</c>): one Wasmtime Store + Instance of a compiled module,
/// its memory and its Proxy-Wasm exports bound with typed signatures (a signature mismatch counts as
/// absent). Not thread-safe: the owning shard runs one call at a time.
/// </summary>
internal sealed class WasmVm : IDisposable
{
    /// <summary>
    /// Elements a table may hold (V8's limit, which Envoy and Istio run plugins under). Tables are host memory
    /// outside the linear-memory limit, 8+ bytes an element: unlimited, one table.grow took 1.5 GB.
    /// </summary>
    public const uint MaxTableElements = 10_000_000;

    /// <summary>
    /// How many times longer than its deadline, on the clock, a call may take while it has not used its deadline's
    /// worth of CPU: a thread the machine starves (other processes, a GC pause, a host call that waits) gets this long.
    /// </summary>
    public const int MaxDeadlineWindows = 10;

    private readonly Store _store;
    private readonly ulong _deadlineTicks;
    private readonly long _deadlineNanoseconds;

    // The current call's windows past its first deadline, and the thread's CPU time when the first one ended.
    private int _windows;
    private long _cpuAtDeadline;

    public WasmVm(CompiledModule module, object state, long memoryLimitBytes, ulong deadlineTicks, TimeSpan deadline)
    {
        _deadlineTicks = deadlineTicks;
        _deadlineNanoseconds = (long)deadline.TotalNanoseconds;
        _store = new Store(module.Engine, state);
        _store.SetLimits(memorySize: memoryLimitBytes, tableElements: MaxTableElements, instances: 1, tables: 4, memories: 1);
        _store.SetEpochDeadlineCallback(OnDeadline);
        Arm();
        Instance = module.Linker.Instantiate(_store, module.Module);
        Memory = Instance.GetMemory("memory");
        // cpp-host's order (ModuleChecker.DetectAllocator says why); a module with neither does not compile.
        Allocator = Instance.GetFunction<int, int>("malloc") ?? Instance.GetFunction<int, int>("proxy_on_memory_allocate");
        Initialize = Instance.GetAction("_initialize");
        Start = Instance.GetAction("_start");
        Main = Instance.GetFunction<int, int, int>("main");
        MainVoid = Instance.GetFunction<int>("__main_void");
        OnContextCreate = Instance.GetAction<int, int>("proxy_on_context_create");
        OnVmStart = Instance.GetFunction<int, int, int>("proxy_on_vm_start");
        ValidateConfiguration = Instance.GetFunction<int, int, int>("proxy_validate_configuration");
        OnConfigure = Instance.GetFunction<int, int, int>("proxy_on_configure");
        OnTick = Instance.GetAction<int>("proxy_on_tick");
        OnQueueReady = Instance.GetAction<int, int>("proxy_on_queue_ready");
        OnForeignFunction = Instance.GetAction<int, int, int>("proxy_on_foreign_function");
        if (module.AbiVersion == Abi.AbiVersion.V0_1_0)
        {
            OnRequestHeaders01 = Instance.GetFunction<int, int, int>("proxy_on_request_headers");
            OnResponseHeaders01 = Instance.GetFunction<int, int, int>("proxy_on_response_headers");
        }
        else
        {
            OnRequestHeaders = Instance.GetFunction<int, int, int, int>("proxy_on_request_headers");
            OnResponseHeaders = Instance.GetFunction<int, int, int, int>("proxy_on_response_headers");
        }

        OnRequestBody = Instance.GetFunction<int, int, int, int>("proxy_on_request_body");
        OnResponseBody = Instance.GetFunction<int, int, int, int>("proxy_on_response_body");
        OnRequestTrailers = Instance.GetFunction<int, int, int>("proxy_on_request_trailers");
        OnResponseTrailers = Instance.GetFunction<int, int, int>("proxy_on_response_trailers");
        OnHttpCallResponse = Instance.GetAction<int, int, int, int, int>("proxy_on_http_call_response");
        OnGrpcReceiveInitialMetadata = Instance.GetAction<int, int, int>("proxy_on_grpc_receive_initial_metadata");
        OnGrpcReceive = Instance.GetAction<int, int, int>("proxy_on_grpc_receive");
        OnGrpcReceiveTrailingMetadata = Instance.GetAction<int, int, int>("proxy_on_grpc_receive_trailing_metadata")
            ?? Instance.GetAction<int, int, int>("proxy_on_grpc_trailing_metadata");
        OnGrpcClose = Instance.GetAction<int, int, int>("proxy_on_grpc_close");
        OnDone = Instance.GetFunction<int, int>("proxy_on_done");
        OnLog = Instance.GetAction<int>("proxy_on_log");
        OnDelete = Instance.GetAction<int>("proxy_on_delete");
    }

    public Instance Instance { get; }

    public Memory? Memory { get; }

    public Func<int, int>? Allocator { get; }

    public Action? Initialize { get; }

    public Action? Start { get; }

    public Func<int, int, int>? Main { get; }

    public Func<int>? MainVoid { get; }

    public Action<int, int>? OnContextCreate { get; }

    public Func<int, int, int>? OnVmStart { get; }

    public Func<int, int, int>? ValidateConfiguration { get; }

    public Func<int, int, int>? OnConfigure { get; }

    public Action<int>? OnTick { get; }

    public Action<int, int>? OnQueueReady { get; }

    public Action<int, int, int>? OnForeignFunction { get; }

    public Func<int, int, int, int>? OnRequestHeaders { get; }

    public Func<int, int, int, int>? OnResponseHeaders { get; }

    public Func<int, int, int>? OnRequestHeaders01 { get; }

    public Func<int, int, int>? OnResponseHeaders01 { get; }

    public Func<int, int, int, int>? OnRequestBody { get; }

    public Func<int, int, int, int>? OnResponseBody { get; }

    public Func<int, int, int>? OnRequestTrailers { get; }

    public Func<int, int, int>? OnResponseTrailers { get; }

    public Action<int, int, int, int, int>? OnHttpCallResponse { get; }

    public Action<int, int, int>? OnGrpcReceiveInitialMetadata { get; }

    public Action<int, int, int>? OnGrpcReceive { get; }

    public Action<int, int, int>? OnGrpcReceiveTrailingMetadata { get; }

    public Action<int, int, int>? OnGrpcClose { get; }

    public Func<int, int>? OnDone { get; }

    public Action<int>? OnLog { get; }

    public Action<int>? OnDelete { get; }

    public long MemoryBytes => Memory?.GetLength() ?? 0;

    /// <summary>Starts the CPU deadline for the next outermost call (epoch ticks from now).</summary>
    public void Arm()
    {
        _store.SetEpochDeadline(_deadlineTicks);
        _windows = 0;
    }

    /// <summary>
    /// The epoch ticker measures the clock, not the CPU: a call whose thread the machine did not run (a loaded node, a
    /// GC pause, a host call that waited) reaches its deadline without having used it. The first time the deadline
    /// passes, the thread's CPU time is read (a system call, only here, never per call) and the call gets another
    /// deadline; it fails once it has used its deadline's worth of CPU since then, or after
    /// <see cref="MaxDeadlineWindows"/> deadlines on the clock. A guest that spins is stopped after about twice its
    /// deadline; one the machine starved is not. Where the clock cannot be read, the first deadline stops it.
    /// </summary>
    private ulong OnDeadline(Store store)
    {
        var cpu = ThreadCpuClock.Nanoseconds();
        if (cpu is null)
        {
            throw Overrun("on the clock");
        }

        if (_windows == 0)
        {
            _cpuAtDeadline = cpu.Value;
        }
        else if (cpu.Value - _cpuAtDeadline >= _deadlineNanoseconds)
        {
            throw Overrun("of CPU");
        }
        else if (_windows >= MaxDeadlineWindows - 1)
        {
            throw Overrun($"on the clock ({MaxDeadlineWindows} times its deadline; the thread was not given the CPU for most of it)");
        }

        _windows++;
        return _deadlineTicks;
    }

    private GuestTrapException Overrun(string measure) =>
        new(TrapKind.Deadline, $"the call exceeded limits.maxCallDuration ({_deadlineNanoseconds / 1_000_000.0:0.###} ms) {measure}");

    /// <summary>Maps a Wasmtime exception to a <see cref="TrapKind"/>.</summary>
    public static TrapKind Classify(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is GuestTrapException guest)
            {
                return guest.Kind;
            }
        }

        if (exception is TrapException trap)
        {
            return trap.Type switch
            {
                TrapCode.Interrupt => TrapKind.Deadline,
                TrapCode.StackOverflow => TrapKind.StackOverflow,
                TrapCode.MemoryOutOfBounds or TrapCode.TableOutOfBounds or TrapCode.HeapMisaligned => TrapKind.OutOfBounds,
                TrapCode.Unreachable => TrapKind.Unreachable,
                TrapCode.IntegerDivisionByZero or TrapCode.IntegerOverflow or TrapCode.BadConversionToInteger => TrapKind.Arithmetic,
                _ => TrapKind.Other,
            };
        }

        if (exception is WasmtimeException { ExitCode: not null })
        {
            return TrapKind.ProcExit;
        }

        return TrapKind.Other;
    }

    public void Dispose() => _store.Dispose();
}
