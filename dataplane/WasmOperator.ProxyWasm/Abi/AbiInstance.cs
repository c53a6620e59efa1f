using System.Buffers.Binary;
using System.Text;
using Microsoft.Extensions.Logging;
using Wasmtime;
using WasmOperator.ProxyWasm.Host;
using WasmOperator.ProxyWasm.Plugins;
using WasmOperator.ProxyWasm.Runtime;

namespace WasmOperator.ProxyWasm.Abi;

/// <summary>
/// The ABI state of one VM (cpp-host <c>WasmBase</c> + contexts): the context table, the root
/// context, the effective context hostcalls target, callout tokens, the last status, and the
/// implementation of every host function against guest memory. Used only under its shard's lock.
/// </summary>
internal sealed class AbiInstance : IDisposable
{
    /// <summary>Longest plugin log message (proxy_log, one WASI stdout/stderr write) passed on whole, in UTF-8 bytes.</summary>
    public const int MaxLogMessageBytes = 16 * 1024;

    private readonly PluginShard _shard;
    private readonly ProxyWasmPlugin _plugin;
    private readonly Dictionary<int, PendingCallout> _pendingCallouts = [];
    private readonly Dictionary<int, GrpcStreamEntry> _grpcStreams = [];
    private Memory? _memory;
    private int _nextContextId = 1;
    private int _nextToken;
    private int _restricted;
    private bool _inConfigure;
    private HttpCalloutResponse? _httpResponse;
    private byte[]? _grpcMessage;
    private HeaderMap? _grpcInitialMetadata;
    private HeaderMap? _grpcTrailingMetadata;
    private (int Code, string Message) _status = (0, "");

    // The shared queues this VM registered, released with it (SharedQueueRegistry.Release).
    private List<int>? _queueIds;

    private AbiInstance(PluginShard shard)
    {
        _shard = shard;
        _plugin = shard.Plugin;
        _queueVmId = Name.GetString(Encoding.UTF8.GetBytes(_plugin.Options.VmId));
    }

    /// <summary>This plugin's vm_id in the form a guest's vm_id is read (<see cref="Name"/>): its UTF-8 bytes, one char each.</summary>
    private readonly string _queueVmId;

    private WasmVm? _vm;

    public WasmVm Vm => _vm ?? throw new InvalidOperationException("the VM is not instantiated");

    /// <summary>The shard this VM runs on.</summary>
    public PluginShard Shard => _shard;

    public int RootContextId { get; private set; }

    public int Effective { get; set; }

    /// <summary>The host event's export called last (on_done, on_log, on_tick, a callout's answer ...): the one a trap names.</summary>
    public string Callback { get; set; } = "proxy_on_host_event";

    public Dictionary<int, StreamContext> Streams { get; } = [];

    public IReadOnlyDictionary<string, string> Environment => _plugin.Options.Environment;

    /// <summary>Instantiates, initializes and starts a VM: init, root context, on_vm_start, validate_configuration, on_configure.</summary>
    public static AbiInstance Create(PluginShard shard)
    {
        var abi = new AbiInstance(shard);
        var plugin = shard.Plugin;
        var options = plugin.Options;
        try
        {
            // Restricted from instantiation on: the module's Wasm start function runs inside it, before _vm is set.
            abi._restricted++;
            try
            {
                abi.Callback = "instantiation";
                abi._vm = new WasmVm(plugin.Module, abi, options.MemoryLimitBytes, plugin.Runtime.DeadlineTicks(options.CallDeadline), options.CallDeadline);
                abi._memory ??= abi.Vm.Memory;
                var vm = abi.Vm;
                vm.Arm();
                if (vm.Initialize is not null)
                {
                    abi.Callback = "_initialize";
                    vm.Initialize();
                    abi.Callback = vm.Main is not null ? "main" : "__main_void";
                    if (vm.Main is not null)
                    {
                        vm.Main(0, 0);
                    }
                    else
                    {
                        vm.MainVoid?.Invoke();
                    }
                }
                else
                {
                    abi.Callback = "_start";
                    vm.Start?.Invoke();
                }
            }
            finally
            {
                abi._restricted--;
            }

            abi.StartRoot();
            return abi;
        }
        catch (Exception ex) when (ex is not PluginLoadException)
        {
            abi.Dispose();
            // What a load failure names, as a per-request failure names its callback.
            throw new VmStartException(abi.Callback, WasmVm.Classify(ex), ex);
        }
        catch
        {
            abi.Dispose();
            throw;
        }
    }

    private void StartRoot()
    {
        RootContextId = _nextContextId++;
        Effective = RootContextId;
        var options = _plugin.Options;
        Vm.Arm();
        Callback = "proxy_on_context_create";
        Vm.OnContextCreate?.Invoke(RootContextId, 0);
        Vm.Arm();
        Callback = "proxy_on_vm_start";
        if (Vm.OnVmStart is not null && Vm.OnVmStart(RootContextId, options.VmConfiguration.Length) == 0)
        {
            throw new PluginLoadException($"plugin '{options.Name}': proxy_on_vm_start returned false for root id '{options.RootId}'");
        }

        _inConfigure = true;
        try
        {
            // cpp-host validateConfiguration: the root context checks the plugin configuration
            // (readable as buffer 7) before on_configure; a module without the export accepts it.
            Vm.Arm();
            Callback = "proxy_validate_configuration";
            if (Vm.ValidateConfiguration is not null && Vm.ValidateConfiguration(RootContextId, options.Configuration.Length) == 0)
            {
                throw new PluginLoadException(
                    $"plugin '{options.Name}': proxy_validate_configuration rejected the plugin configuration ({options.Configuration.Length} bytes, root id '{options.RootId}')")
                {
                    ConfigurationRejected = true,
                };
            }

            Vm.Arm();
            Callback = "proxy_on_configure";
            if (Vm.OnConfigure is not null && Vm.OnConfigure(RootContextId, options.Configuration.Length) == 0)
            {
                throw new PluginLoadException($"plugin '{options.Name}': proxy_on_configure rejected the configuration (root id '{options.RootId}')")
                {
                    ConfigurationRejected = true,
                };
            }
        }
        finally
        {
            _inConfigure = false;
        }
    }

    public static AbiInstance Of(Caller caller)
    {
        var abi = caller.GetData() as AbiInstance ?? throw new InvalidOperationException("store data is not a Proxy-Wasm ABI instance");
        abi._memory ??= caller.GetMemory("memory");
        return abi;
    }

    // ---- callbacks (called by the shard / stream under the shard lock) ----

    public StreamContext CreateStream(IHttpStreamHost host)
    {
        var context = new StreamContext(_nextContextId++, host);
        Streams.Add(context.Id, context);
        Effective = context.Id;
        Vm.OnContextCreate?.Invoke(context.Id, RootContextId);
        return context;
    }

    public int InvokeStream(StreamContext context, StreamCallback callback, int size, bool endOfStream)
    {
        Effective = context.Id;
        context.InCallback = true;
        context.Running = callback is StreamCallback.RequestHeaders or StreamCallback.RequestBody or StreamCallback.RequestTrailers
            ? StreamType.HttpRequest : StreamType.HttpResponse;
        try
        {
            var eos = endOfStream ? 1 : 0;
            return callback switch
            {
                StreamCallback.RequestHeaders => Vm.OnRequestHeaders?.Invoke(context.Id, size, eos) ?? Vm.OnRequestHeaders01?.Invoke(context.Id, size) ?? 0,
                StreamCallback.ResponseHeaders => Vm.OnResponseHeaders?.Invoke(context.Id, size, eos) ?? Vm.OnResponseHeaders01?.Invoke(context.Id, size) ?? 0,
                StreamCallback.RequestBody => Vm.OnRequestBody?.Invoke(context.Id, size, eos) ?? 0,
                StreamCallback.ResponseBody => Vm.OnResponseBody?.Invoke(context.Id, size, eos) ?? 0,
                StreamCallback.RequestTrailers => Vm.OnRequestTrailers?.Invoke(context.Id, size) ?? 0,
                _ => Vm.OnResponseTrailers?.Invoke(context.Id, size) ?? 0,
            };
        }
        finally
        {
            context.InCallback = false;
            context.Running = null;
        }
    }

    /// <summary>
    /// on_done, then on_log and on_delete. on_done's return is ignored for a stream, as in Envoy and cpp-host
    /// (<c>ContextBase::destroy</c>): only a root context may defer its deletion until <c>proxy_done</c>, so a
    /// plugin cannot keep a finished request's context alive. Its callouts are the root's and go on.
    /// </summary>
    public void CompleteStream(StreamContext context)
    {
        Effective = context.Id;
        context.InCallback = true;
        try
        {
            Callback = "proxy_on_done";
            Vm.OnDone?.Invoke(context.Id);
        }
        finally
        {
            context.InCallback = false;
        }

        FinishStream(context);
    }

    /// <summary>
    /// The stream context is gone, not its callouts: they belong to the root context (see <see cref="StartCallout"/>),
    /// so their replies still come, to the root, after on_delete (the Go SDK expects exactly that,
    /// proxy-wasm-go-sdk#261). Only the end of the VM, with its root context, cancels them (<see cref="Dispose"/>).
    /// </summary>
    private void FinishStream(StreamContext context)
    {
        Effective = context.Id;
        Callback = "proxy_on_log";
        Vm.OnLog?.Invoke(context.Id);
        Callback = "proxy_on_delete";
        Vm.OnDelete?.Invoke(context.Id);
        Streams.Remove(context.Id);
    }

    /// <summary>Removes a call's token; false when it is not pending (answered, cancelled, or never issued).</summary>
    private bool TryTakeCallout(int token, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out PendingCallout? call) =>
        _pendingCallouts.Remove(token, out call);

    public void Tick()
    {
        Effective = RootContextId;
        Callback = "proxy_on_tick";
        Vm.OnTick?.Invoke(RootContextId);
    }

    public void QueueReady(int queueId)
    {
        Effective = RootContextId;
        Callback = "proxy_on_queue_ready";
        Vm.OnQueueReady?.Invoke(RootContextId, queueId);
    }

    public void DeliverHttpResponse(int token, Task<HttpCalloutResponse> task)
    {
        if (!TryTakeCallout(token, out var call))
        {
            return;
        }

        call.Complete();
        Effective = RootContextId;
        Callback = "proxy_on_http_call_response";
        if (task.IsCompletedSuccessfully)
        {
            var response = task.Result;
            _httpResponse = response;
            _status = (0, "");
            try
            {
                Vm.OnHttpCallResponse?.Invoke(RootContextId, token, response.Headers.Count, response.Body.Length, response.Trailers.Count);
            }
            finally
            {
                _httpResponse = null;
            }
        }
        else
        {
            _status = ((int)ProxyStatus.BrokenConnection, "reset");
            Vm.OnHttpCallResponse?.Invoke(RootContextId, token, 0, 0, 0);
        }
    }

    /// <summary>
    /// The answer to a unary call, as Envoy delivers it (<c>GrpcCallClientHandler</c>; <c>Grpc::AsyncRequestImpl</c>
    /// keeps no metadata): status OK with a message is <c>proxy_on_grpc_receive</c> alone (buffer 5 holds the message);
    /// anything else is <c>proxy_on_grpc_close</c> alone, with OK but no message reported as 13 INTERNAL. Never both,
    /// and never the metadata callbacks, which are a stream's: the SDKs forget the token after either callback
    /// (Rust panics on a second one, and on metadata for a token that is not a stream).
    /// </summary>
    public void DeliverGrpcResponse(int token, Task<GrpcCalloutResponse> task)
    {
        if (!TryTakeCallout(token, out var call))
        {
            return;
        }

        call.Complete();
        Effective = RootContextId;
        var (status, message, reply) = task.IsCompletedSuccessfully
            ? (task.Result.Status, task.Result.StatusMessage, task.Result.Message)
            : (GrpcUnavailable, "unavailable", null);
        if (status == GrpcOk && reply is not null)
        {
            Callback = "proxy_on_grpc_receive";
            _grpcMessage = reply;
            try
            {
                Vm.OnGrpcReceive?.Invoke(RootContextId, token, reply.Length);
            }
            finally
            {
                _grpcMessage = null;
            }

            return;
        }

        _status = status == GrpcOk ? (GrpcInternal, "") : (status, message);
        Callback = "proxy_on_grpc_close";
        Vm.OnGrpcClose?.Invoke(RootContextId, token, _status.Code);
    }

    private const int GrpcOk = 0;
    private const int GrpcInternal = 13;
    private const int GrpcUnavailable = 14;

    public void DeliverGrpcStreamMetadata(int token, HeaderMap metadata, bool trailing)
    {
        if (!_grpcStreams.ContainsKey(token))
        {
            return;
        }

        Effective = RootContextId;
        try
        {
            if (trailing)
            {
                _grpcTrailingMetadata = metadata;
                Callback = "proxy_on_grpc_receive_trailing_metadata";
                Vm.OnGrpcReceiveTrailingMetadata?.Invoke(RootContextId, token, metadata.Count);
            }
            else
            {
                _grpcInitialMetadata = metadata;
                Callback = "proxy_on_grpc_receive_initial_metadata";
                Vm.OnGrpcReceiveInitialMetadata?.Invoke(RootContextId, token, metadata.Count);
            }
        }
        finally
        {
            _grpcInitialMetadata = null;
            _grpcTrailingMetadata = null;
        }
    }

    public void DeliverGrpcStreamMessage(int token, byte[] message)
    {
        if (!_grpcStreams.ContainsKey(token))
        {
            return;
        }

        Effective = RootContextId;
        Callback = "proxy_on_grpc_receive";
        _grpcMessage = message;
        try
        {
            Vm.OnGrpcReceive?.Invoke(RootContextId, token, message.Length);
        }
        finally
        {
            _grpcMessage = null;
        }
    }

    public void DeliverGrpcStreamClose(int token, int status, string message)
    {
        if (!_grpcStreams.Remove(token, out var entry))
        {
            return;
        }

        Effective = RootContextId;
        _status = (status, message);
        Callback = "proxy_on_grpc_close";
        Vm.OnGrpcClose?.Invoke(RootContextId, token, status);
    }

    /// <summary>The plugin is going: on_done of the root context; false when the root defers its deletion until <c>proxy_done</c>.</summary>
    public bool RootDone()
    {
        Effective = RootContextId;
        Callback = "proxy_on_done";
        return Vm.OnDone is not { } onDone || onDone(RootContextId) != 0;
    }

    /// <summary>The root context's end: on_delete, after its on_done or its <c>proxy_done</c>.</summary>
    public void DeleteRoot()
    {
        Effective = RootContextId;
        Callback = "proxy_on_delete";
        Vm.OnDelete?.Invoke(RootContextId);
    }

    // ---- guest memory ----

    public bool TryGetSpan(int ptr, int size, out Span<byte> span)
    {
        if (size == 0)
        {
            span = [];
            return true;
        }

        var memory = _memory;
        if (memory is null || size < 0)
        {
            span = [];
            return false;
        }

        try
        {
            // GetSpan checks the bounds itself (memory data + length: four native calls); checking
            // GetLength first as well cost two more on every hostcall argument.
            span = memory.GetSpan((uint)ptr, size);
            return true;
        }
        catch (ArgumentException)
        {
            // Out of bounds: a plugin bug, answered with INVALID_MEMORY_ACCESS by the callers.
            span = [];
            return false;
        }
    }

    public bool TryReadU32(int ptr, out uint value)
    {
        if (TryGetSpan(ptr, 4, out var span))
        {
            value = BinaryPrimitives.ReadUInt32LittleEndian(span);
            return true;
        }

        value = 0;
        return false;
    }

    public bool TryWriteU32(int ptr, uint value)
    {
        if (!TryGetSpan(ptr, 4, out var span))
        {
            return false;
        }

        BinaryPrimitives.WriteUInt32LittleEndian(span, value);
        return true;
    }

    public bool TryWriteU64(int ptr, ulong value)
    {
        if (!TryGetSpan(ptr, 8, out var span))
        {
            return false;
        }

        BinaryPrimitives.WriteUInt64LittleEndian(span, value);
        return true;
    }

    /// <summary>
    /// Reads a string: UTF-8 text by default; header field names and values pass <see cref="Field"/> (Latin-1),
    /// bytes as they are, one char per byte, the form every header map holds, so a value reaches the wire,
    /// the client and other plugins exactly as written.
    /// </summary>
    private bool TryReadString(int ptr, int size, out string value, Encoding? encoding = null)
    {
        if (TryGetSpan(ptr, size, out var span))
        {
            value = size == 0 ? "" : (encoding ?? Encoding.UTF8).GetString(span);
            return true;
        }

        value = "";
        return false;
    }

    /// <summary>How header fields are read from and written to guest memory: one byte per char (see <see cref="HeaderMap"/>).</summary>
    private static Encoding Field => Encoding.Latin1;

    /// <summary>
    /// How shared-data keys, queue names and vm_ids are read: one char per byte, so they compare as the byte
    /// strings cpp-host keys them by (as UTF-8 every invalid byte became U+FFFD and distinct keys met).
    /// </summary>
    private static Encoding Name => Encoding.Latin1;

    private bool TryReadBytes(int ptr, int size, out byte[] value)
    {
        if (TryGetSpan(ptr, size, out var span))
        {
            value = span.ToArray();
            return true;
        }

        value = [];
        return false;
    }

    /// <summary>Reads a pairs-encoded map from guest memory: OK, INVALID_MEMORY_ACCESS or BAD_ARGUMENT.</summary>
    private int ReadPairs(int ptr, int size, out HeaderMap map)
    {
        map = new HeaderMap();
        if (!TryGetSpan(ptr, size, out var bytes))
        {
            return Status(ProxyStatus.InvalidMemoryAccess);
        }

        return Pairs.TryParse(bytes, map) ? Ok : Status(ProxyStatus.BadArgument);
    }

    /// <summary>Calls the module allocator with hostcalls restricted (cpp-host security rule).</summary>
    private int Allocate(int size)
    {
        var allocator = Vm.Allocator ?? throw new GuestTrapException(TrapKind.MissingImport, "module exports neither malloc nor proxy_on_memory_allocate");
        _restricted++;
        try
        {
            return allocator(size);
        }
        catch (WasmtimeException ex)
        {
            // Wasmtime hands a trap in guest code a hostcall called back to the outer caller as a plain
            // error whose trap code is lost; carry the kind (deadline, unreachable ...) with it.
            throw new GuestTrapException(WasmVm.Classify(ex), ex.Message, ex);
        }
        finally
        {
            _restricted--;
        }
    }

    /// <summary>Returns variable-size data: allocate in the guest, copy, write ptr/size. Empty → 0/0, no allocation.</summary>
    private int CopyOut(ReadOnlySpan<byte> data, int retPtr, int retSize)
    {
        if (data.IsEmpty)
        {
            return TryWriteU32(retPtr, 0) && TryWriteU32(retSize, 0) ? Ok : Status(ProxyStatus.InvalidMemoryAccess);
        }

        var ptr = Allocate(data.Length);
        if (ptr == 0 || !TryGetSpan(ptr, data.Length, out var span))
        {
            return Status(ProxyStatus.InvalidMemoryAccess);
        }

        data.CopyTo(span);
        return TryWriteU32(retPtr, (uint)ptr) && TryWriteU32(retSize, (uint)data.Length) ? Ok : Status(ProxyStatus.InvalidMemoryAccess);
    }

    private int CopyOut(string value, int retPtr, int retSize, Encoding? encoding = null)
    {
        if (value.Length == 0)
        {
            return CopyOut(ReadOnlySpan<byte>.Empty, retPtr, retSize);
        }

        encoding ??= Encoding.UTF8;
        var length = encoding.GetByteCount(value);
        var ptr = Allocate(length);
        if (ptr == 0 || !TryGetSpan(ptr, length, out var span))
        {
            return Status(ProxyStatus.InvalidMemoryAccess);
        }

        encoding.GetBytes(value, span);
        return TryWriteU32(retPtr, (uint)ptr) && TryWriteU32(retSize, (uint)length) ? Ok : Status(ProxyStatus.InvalidMemoryAccess);
    }

    private const int Ok = 0;

    private static int Status(ProxyStatus status) => (int)status;

    private void Guard(string function)
    {
        if (_restricted > 0)
        {
            throw new GuestTrapException(TrapKind.RestrictedHostcall,
                $"Attempted call to restricted proxy-wasm capability {function} during VM start or inside the allocator");
        }
    }

    private StreamContext? EffectiveStream => Effective != RootContextId && Streams.TryGetValue(Effective, out var s) ? s : null;

    /// <summary>
    /// Holds the effective stream's <see cref="IHttpStreamHost.StateLock"/> for the rest of a hostcall that touches that
    /// stream's maps or bodies (<paramref name="streamState"/>): the proxy may be using them on another thread meanwhile
    /// (see <see cref="IHttpStreamHost.StateLock"/>). Nothing for the root context, a callout's own answer, or a host
    /// without a lock. The guest allocator never runs under it: what a hostcall hands back is copied out of the stream
    /// under the lock and into the guest after, so a slow allocator holds up neither the exchange nor another plugin's
    /// hostcall (whose CPU deadline would be spent waiting). The holder of the lock never waits for a VM.
    /// </summary>
    private Lock.Scope LockStreamState(bool streamState) =>
        streamState && EffectiveStream?.Host.StateLock is { } gate ? gate.EnterScope() : default;

    private static bool IsStreamBuffer(int type) => (BufferType)type is BufferType.RequestBody or BufferType.ResponseBody;

    private static bool IsStreamMap(int type) => (MapType)type is MapType.RequestHeaders or MapType.RequestTrailers or MapType.ResponseHeaders or MapType.ResponseTrailers;

    // ---- logging ----

    public int Log(int level, int ptr, int size)
    {
        if (level < (int)_plugin.Runtime.PluginLogLevel)
        {
            return Ok;
        }

        if (!TryGetSpan(ptr, size, out var message))
        {
            return Status(ProxyStatus.InvalidMemoryAccess);
        }

        WriteLog((ProxyLogLevel)Math.Clamp(level, 0, 5), LogText(message, size));
        return Ok;
    }

    /// <summary>
    /// The text of a log message of <paramref name="totalBytes"/> UTF-8 bytes, of which <paramref name="utf8"/> holds
    /// the first (at least <see cref="MaxLogMessageBytes"/> + 1 if it is longer): cut at <see cref="MaxLogMessageBytes"/>
    /// on a character boundary, with a marker. The host copies, queues and writes every line outside the plugin's
    /// memory limit, so one line must not be megabytes.
    /// </summary>
    public static string LogText(ReadOnlySpan<byte> utf8, long totalBytes)
    {
        if (totalBytes <= MaxLogMessageBytes)
        {
            return Encoding.UTF8.GetString(utf8);
        }

        var cut = MaxLogMessageBytes;
        while (cut > 0 && (utf8[cut] & 0xC0) == 0x80)
        {
            cut--; // a UTF-8 continuation byte: the character starts before the cut and is left out whole
        }

        return string.Concat(Encoding.UTF8.GetString(utf8[..cut]), " ... [truncated, ",
            totalBytes.ToString(System.Globalization.CultureInfo.InvariantCulture), " bytes]");
    }

    public void WriteLog(ProxyLogLevel level, string message)
    {
        if (level >= _plugin.Runtime.PluginLogLevel)
        {
            _plugin.WriteLog(level, message);
        }
    }

    public int GetLogLevel(int ret)
    {
        Guard("proxy_get_log_level");
        return TryWriteU32(ret, (uint)_plugin.Runtime.PluginLogLevel) ? Ok : Status(ProxyStatus.InvalidMemoryAccess);
    }

    public int GetCurrentTime(int ret)
    {
        Guard("proxy_get_current_time_nanoseconds");
        var nanos = (ulong)(DateTimeOffset.UtcNow - DateTimeOffset.UnixEpoch).Ticks * 100UL;
        return TryWriteU64(ret, nanos) ? Ok : Status(ProxyStatus.InvalidMemoryAccess);
    }

    public int SetTickPeriod(int period)
    {
        Guard("proxy_set_tick_period_milliseconds");
        _shard.SetTickPeriod(period);
        return Ok;
    }

    // ---- buffers ----

    private ProxyStatus TryGetBuffer(int type, out ReadOnlySpan<byte> bytes, out BodyBuffer? body)
    {
        body = null;
        bytes = [];
        switch ((BufferType)type)
        {
            case BufferType.RequestBody or BufferType.ResponseBody:
                body = EffectiveStream?.Host.GetBody((BufferType)type);
                if (body is null)
                {
                    return ProxyStatus.NotFound;
                }

                bytes = body.Span;
                return ProxyStatus.Ok;
            case BufferType.HttpCallResponseBody:
                if (_httpResponse is null)
                {
                    return ProxyStatus.NotFound;
                }

                bytes = _httpResponse.Body;
                return ProxyStatus.Ok;
            case BufferType.GrpcReceiveBuffer:
                if (_grpcMessage is null)
                {
                    return ProxyStatus.NotFound;
                }

                bytes = _grpcMessage;
                return ProxyStatus.Ok;
            case BufferType.VmConfiguration:
                // Envoy's Context::getBuffer hands out the VM configuration in every callback, not only on_vm_start.
                bytes = _plugin.Options.VmConfiguration;
                return ProxyStatus.Ok;
            case BufferType.PluginConfiguration when _inConfigure:
                bytes = _plugin.Options.Configuration;
                return ProxyStatus.Ok;
            case >= BufferType.RequestBody and <= BufferType.ForeignFunctionArguments:
                return ProxyStatus.NotFound;
            default:
                return ProxyStatus.BadArgument;
        }
    }

    public int GetBufferBytes(int type, int start, int maxSize, int retPtr, int retSize)
    {
        Guard("proxy_get_buffer_bytes");
        var s = (uint)start;
        var max = (uint)maxSize;
        if ((ulong)s + max > uint.MaxValue)
        {
            return Status(ProxyStatus.BadArgument);
        }

        var streamState = IsStreamBuffer(type);
        if (!streamState)
        {
            var status = TryGetBuffer(type, out var bytes, out _);
            return status != ProxyStatus.Ok ? Status(status)
                : s > bytes.Length ? Status(ProxyStatus.BadArgument)
                : CopyOut(bytes.Slice((int)s, (int)Math.Min(max, (uint)bytes.Length - s)), retPtr, retSize);
        }

        // A stream's body: copied out of it under its state lock, handed to the guest after (see LockStreamState).
        byte[] copy;
        int length;
        using (LockStreamState(streamState))
        {
            var status = TryGetBuffer(type, out var bytes, out _);
            if (status != ProxyStatus.Ok)
            {
                return Status(status);
            }

            if (s > bytes.Length)
            {
                return Status(ProxyStatus.BadArgument);
            }

            length = (int)Math.Min(max, (uint)bytes.Length - s);
            copy = System.Buffers.ArrayPool<byte>.Shared.Rent(length);
            bytes.Slice((int)s, length).CopyTo(copy);
        }

        try
        {
            return CopyOut(copy.AsSpan(0, length), retPtr, retSize);
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(copy);
        }
    }

    public int SetBufferBytes(int type, int start, int size, int ptr, int length)
    {
        Guard("proxy_set_buffer_bytes");
        using var state = LockStreamState(IsStreamBuffer(type));
        var status = TryGetBuffer(type, out _, out var body);
        if (status != ProxyStatus.Ok)
        {
            return Status(status);
        }

        if (body is null)
        {
            return Status(ProxyStatus.BadArgument);
        }

        if (!TryGetSpan(ptr, length, out var data))
        {
            return Status(ProxyStatus.InvalidMemoryAccess);
        }

        // Envoy's Buffer::copyFrom: start 0 drains `size` bytes (as many as there are) and prepends the data, so (0, 0)
        // prepends and (0, >= length) replaces the body; a start at or past the end appends (Go passes MaxInt32); any
        // other start is BAD_ARGUMENT. Start and size are u32.
        var s = (uint)start;
        var current = body.Length;
        if (s != 0 && s < (uint)current)
        {
            return Status(ProxyStatus.BadArgument);
        }

        var drained = s == 0 ? (int)Math.Min((uint)size, (uint)current) : 0;

        // The body is host memory outside the plugin's memory limit: it may not grow past the proxy's body limit.
        var newLength = (long)current - drained + data.Length;
        if (newLength > _plugin.Options.MaxBodyBytes && newLength > current)
        {
            return Status(ProxyStatus.BadArgument);
        }

        if (s == 0)
        {
            body.Splice(0, drained, data);
        }
        else
        {
            body.Append(data);
        }

        return Ok;
    }

    public int GetBufferStatus(int type, int retLength, int retFlags)
    {
        Guard("proxy_get_buffer_status");
        using var state = LockStreamState(IsStreamBuffer(type));
        var status = TryGetBuffer(type, out var bytes, out _);
        if (status != ProxyStatus.Ok)
        {
            return Status(status);
        }

        return TryWriteU32(retLength, (uint)bytes.Length) && TryWriteU32(retFlags, 0) ? Ok : Status(ProxyStatus.InvalidMemoryAccess);
    }

    // ---- header maps ----

    private ProxyStatus TryGetMap(int type, out HeaderMap? map)
    {
        map = (MapType)type switch
        {
            MapType.RequestHeaders or MapType.RequestTrailers or MapType.ResponseHeaders or MapType.ResponseTrailers =>
                EffectiveStream?.Host.GetHeaderMap((MapType)type),
            MapType.GrpcInitialMetadata => _grpcInitialMetadata,
            MapType.GrpcTrailingMetadata => _grpcTrailingMetadata,
            MapType.HttpCallResponseHeaders => _httpResponse?.Headers,
            MapType.HttpCallResponseTrailers => _httpResponse?.Trailers,
            _ => null,
        };
        if (map is not null)
        {
            return ProxyStatus.Ok;
        }

        return type is >= 0 and <= 7 ? ProxyStatus.NotFound : ProxyStatus.BadArgument;
    }

    /// <summary>
    /// A map that is not there (trailers that did not come or not yet, a failed callout's answer, gRPC metadata outside
    /// its callbacks, any stream map from the root context) reads as an empty one: OK and no pairs, as in Envoy
    /// (<c>getHeaderMapPairs</c> of a null map). The Rust SDK's <c>get_map</c> panics on any other status, so NOT_FOUND
    /// trapped e.g. <c>get_http_request_trailers()</c> in the body callback of a request without trailers. Only an
    /// unknown map type is BAD_ARGUMENT (cpp-host checks the type first).
    /// </summary>
    public int GetHeaderMapPairs(int type, int retPtr, int retSize)
    {
        Guard("proxy_get_header_map_pairs");
        if (!IsStreamMap(type))
        {
            var status = TryGetMap(type, out var map);
            return map is not null ? CopyOutPairs(map, retPtr, retSize)
                : status == ProxyStatus.NotFound ? CopyOut(ReadOnlySpan<byte>.Empty, retPtr, retSize)
                : Status(status);
        }

        // A stream's map: serialized under its state lock, handed to the guest after: the guest allocator never runs
        // while the lock is held, so a slow one cannot hold up the exchange or another plugin's hostcall.
        byte[] pairs;
        int size;
        using (LockStreamState(streamState: true))
        {
            TryGetMap(type, out var map);
            if (map is null)
            {
                return CopyOut(ReadOnlySpan<byte>.Empty, retPtr, retSize);
            }

            size = Pairs.SerializedSize(map);
            pairs = System.Buffers.ArrayPool<byte>.Shared.Rent(size);
            Pairs.Serialize(map, pairs.AsSpan(0, size));
        }

        try
        {
            return CopyOut(pairs.AsSpan(0, size), retPtr, retSize);
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(pairs);
        }
    }

    /// <summary>A map that is not a stream's (a callout's answer), serialized straight into the guest's allocation.</summary>
    private int CopyOutPairs(HeaderMap map, int retPtr, int retSize)
    {
        var size = Pairs.SerializedSize(map);
        if (size == 0)
        {
            return CopyOut(ReadOnlySpan<byte>.Empty, retPtr, retSize);
        }

        var ptr = Allocate(size);
        if (ptr == 0 || !TryGetSpan(ptr, size, out var span))
        {
            return Status(ProxyStatus.InvalidMemoryAccess);
        }

        Pairs.Serialize(map, span);
        return TryWriteU32(retPtr, (uint)ptr) && TryWriteU32(retSize, (uint)size) ? Ok : Status(ProxyStatus.InvalidMemoryAccess);
    }

    public int SetHeaderMapPairs(int type, int ptr, int size)
    {
        Guard("proxy_set_header_map_pairs");
        using var state = LockStreamState(IsStreamMap(type));
        var status = TryGetMap(type, out var map);
        if (map is null)
        {
            return Status(status);
        }

        var read = ReadPairs(ptr, size, out var parsed);
        if (read != Ok)
        {
            return read;
        }

        map.Clear();
        foreach (var entry in parsed.Entries)
        {
            map.Add(entry.Key, entry.Value);
        }

        return Ok;
    }

    public int GetHeaderMapValue(int type, int keyPtr, int keySize, int retPtr, int retSize)
    {
        Guard("proxy_get_header_map_value");
        string? value;
        using (LockStreamState(IsStreamMap(type)))
        {
            var status = TryGetMap(type, out var map);
            if (map is null)
            {
                return Status(status);
            }

            if (!TryReadString(keyPtr, keySize, out var key, Field))
            {
                return Status(ProxyStatus.InvalidMemoryAccess);
            }

            // Strings are immutable: the value is copied to the guest after the lock (see LockStreamState).
            value = map.Get(key);
        }

        if (value is null)
        {
            // 0.1.0 answered OK with an empty value; 0.2.x answers NOT_FOUND.
            return _plugin.Module.AbiVersion == AbiVersion.V0_1_0 ? CopyOut(ReadOnlySpan<byte>.Empty, retPtr, retSize) : Status(ProxyStatus.NotFound);
        }

        return CopyOut(value, retPtr, retSize, Field);
    }

    public int AddHeaderMapValue(int type, int keyPtr, int keySize, int valuePtr, int valueSize, bool replace)
    {
        Guard(replace ? "proxy_replace_header_map_value" : "proxy_add_header_map_value");
        using var state = LockStreamState(IsStreamMap(type));
        var status = TryGetMap(type, out var map);
        if (map is null)
        {
            return Status(status);
        }

        if (!TryReadString(keyPtr, keySize, out var key, Field) || !TryReadString(valuePtr, valueSize, out var value, Field))
        {
            return Status(ProxyStatus.InvalidMemoryAccess);
        }

        var (replaced, replacedBytes) = replace ? map.Measure(key) : (0, 0);
        if (!FitsPairs(map, 1 - replaced, key.Length + value.Length - replacedBytes))
        {
            return Status(ProxyStatus.BadArgument);
        }

        if (replace)
        {
            map.Set(key, value);
        }
        else
        {
            map.Add(key, value);
        }

        return Ok;
    }

    /// <summary>
    /// Whether the map may change by <paramref name="pairs"/> entries and <paramref name="bytes"/> bytes of names and
    /// values: a map a plugin grows stays within what <c>proxy_set_header_map_pairs</c> accepts (cpp-host: 1 MiB of
    /// pairs encoding, 1024 pairs), as it is host memory outside the plugin's memory limit. Shrinking is always allowed.
    /// </summary>
    private static bool FitsPairs(HeaderMap map, int pairs, int bytes)
    {
        if (pairs <= 0 && bytes <= 0)
        {
            return true;
        }

        var count = (long)map.Count + pairs;
        return count <= Pairs.MaxPairs && Pairs.SerializedSize(count, (long)map.ByteSize + bytes) <= Pairs.MaxBytes;
    }

    public int RemoveHeaderMapValue(int type, int keyPtr, int keySize)
    {
        Guard("proxy_remove_header_map_value");
        using var state = LockStreamState(IsStreamMap(type));
        var status = TryGetMap(type, out var map);
        if (map is null)
        {
            return Status(status);
        }

        if (!TryReadString(keyPtr, keySize, out var key, Field))
        {
            return Status(ProxyStatus.InvalidMemoryAccess);
        }

        map.Remove(key);
        return Ok;
    }

    public int GetHeaderMapSize(int type, int ret)
    {
        Guard("proxy_get_header_map_size");
        using var state = LockStreamState(IsStreamMap(type));
        var status = TryGetMap(type, out var map);
        if (map is null)
        {
            return Status(status);
        }

        return TryWriteU32(ret, (uint)map.ByteSize) ? Ok : Status(ProxyStatus.InvalidMemoryAccess);
    }

    // ---- properties ----

    private bool TryReadPath(int ptr, int size, out string path)
    {
        if (!TryReadString(ptr, size, out path))
        {
            return false;
        }

        path = path.TrimEnd('\0').Replace('\0', '.');
        return true;
    }

    public int GetProperty(int pathPtr, int pathSize, int retPtr, int retSize)
    {
        Guard("proxy_get_property");
        if (!TryReadPath(pathPtr, pathSize, out var path))
        {
            return Status(ProxyStatus.InvalidMemoryAccess);
        }

        var options = _plugin.Options;
        switch (path)
        {
            case "plugin_name":
                return CopyOut(options.Name, retPtr, retSize);
            case "plugin_root_id":
                return CopyOut(options.RootId, retPtr, retSize);
            case "plugin_vm_id":
                return CopyOut(options.VmId, retPtr, retSize);
        }

        var stream = EffectiveStream;
        bool found;
        byte[] value = [];
        using (LockStreamState(stream is not null))
        {
            // Stream properties are read from its maps (request.path, response.headers.*).
            found = stream is not null && stream.Host.TryGetProperty(path, out value);
        }

        if (found)
        {
            return CopyOut(value, retPtr, retSize);
        }

        if (_plugin.Host.TryGetProperty(path, out value))
        {
            return CopyOut(value, retPtr, retSize);
        }

        return Status(ProxyStatus.NotFound);
    }

    public int SetProperty(int pathPtr, int pathSize, int valuePtr, int valueSize)
    {
        Guard("proxy_set_property");
        if (!TryReadPath(pathPtr, pathSize, out var path) || !TryGetSpan(valuePtr, valueSize, out var value))
        {
            return Status(ProxyStatus.InvalidMemoryAccess);
        }

        var stream = EffectiveStream;
        return stream is not null && stream.Host.TrySetProperty(path, value) ? Ok : Status(ProxyStatus.NotFound);
    }

    // ---- stream control ----

    public int SendLocalResponse(int statusCode, int detailsPtr, int detailsSize, int bodyPtr, int bodySize, int headersPtr, int headersSize, int grpcStatus)
    {
        Guard("proxy_send_local_response");
        if (!TryReadString(detailsPtr, detailsSize, out var details) || !TryReadBytes(bodyPtr, bodySize, out var body))
        {
            return Status(ProxyStatus.InvalidMemoryAccess);
        }

        var read = ReadPairs(headersPtr, headersSize, out var headers);
        if (read != Ok)
        {
            return read;
        }

        var stream = EffectiveStream;
        if (stream is null)
        {
            return RootStreamControl;
        }

        if (statusCode is < 200 or > 599)
        {
            // A reply is the final response: a 1xx would leave the client waiting for one (or break the h2 stream), and
            // a number outside 100-599 is no status. The plugin meant to stop the request, so it stays stopped, as 500.
            WriteLog(ProxyLogLevel.Warn, $"proxy_send_local_response: {statusCode} is no final status (200-599); the reply is sent as 500");
            statusCode = 500;
        }

        // Envoy (context.cc sendLocalResponse): only a well-known gRPC status 0..16 makes a gRPC reply;
        // -1 (the SDKs' "not gRPC") and every other value outside that range mean no gRPC status at all.
        var response = new LocalResponse(statusCode, details, body, headers, grpcStatus is >= 0 and <= 16 ? grpcStatus : null);
        stream.LocalResponseSent = true;
        if (stream.InCallback)
        {
            stream.PendingLocalResponse = response;
        }
        else
        {
            var host = stream.Host;
            _shard.Defer(() => host.SendLocalResponse(response));
        }

        return Ok;
    }

    public int ContinueStream(int type)
    {
        Guard("proxy_continue_stream");
        if (type is < 0 or > 3)
        {
            return Status(ProxyStatus.BadArgument);
        }

        var stream = EffectiveStream;
        if (stream is null)
        {
            return RootStreamControl;
        }

        // Inside a callback, continuing its own direction is what its return value says; continuing the other direction
        // (the request waits at its end while on_response_body runs) resumes it after this VM call, as Envoy's
        // Context::continueStream queues continueDecoding/continueEncoding whichever callback runs. In on_done/on_log
        // the stream is ending: nothing to resume.
        var ownDirection = stream.InCallback && (stream.Running is null || stream.Running == (StreamType)type);
        if (!ownDirection && !stream.LocalResponseSent)
        {
            var host = stream.Host;
            _shard.Defer(() => host.ContinueStream((StreamType)type));
        }

        return Ok;
    }

    public int CloseStream(int type)
    {
        Guard("proxy_close_stream");
        if (type is < 0 or > 3)
        {
            return Status(ProxyStatus.BadArgument);
        }

        var stream = EffectiveStream;
        if (stream is null)
        {
            return RootStreamControl;
        }

        var host = stream.Host;
        _shard.Defer(() => host.CloseStream((StreamType)type));
        return Ok;
    }

    /// <summary>
    /// What <c>proxy_continue_stream</c>, <c>proxy_close_stream</c> and <c>proxy_send_local_response</c> answer on the root
    /// context, which has no stream: OK and nothing happens, as in Envoy (<c>Context::continueStream</c>,
    /// <c>closeStream</c> and <c>sendLocalResponse</c> act only through a stream's filter callbacks). That is also
    /// where a reply lands whose stream is gone: <c>proxy_set_effective_context</c> to it answers BAD_ARGUMENT and
    /// the root stays effective, so resuming or answering the finished request does nothing (AssemblyScript's
    /// auth example resumes it regardless; a NOT_FOUND made its <c>CHECK_RESULT</c> exit).
    /// </summary>
    private const int RootStreamControl = Ok;

    /// <summary>
    /// <c>proxy_done</c> (cpp-host <c>WasmBase::done</c>): OK from a root context that deferred its deletion when its plugin
    /// went (its on_done returned false); its on_delete follows after this VM call. NOT_FOUND from any other context, or
    /// before that: streams never defer their deletion (see <see cref="CompleteStream"/>).
    /// </summary>
    public int Done()
    {
        Guard("proxy_done");
        return Effective == RootContextId && _shard.RootDoneCalled() ? Ok : Status(ProxyStatus.NotFound);
    }

    public int SetEffectiveContext(int id)
    {
        Guard("proxy_set_effective_context");
        if (id != RootContextId && !Streams.ContainsKey(id))
        {
            return Status(ProxyStatus.BadArgument);
        }

        Effective = id;
        return Ok;
    }

    public int ClearRouteCache()
    {
        Guard("proxy_clear_route_cache");
        return Ok;
    }

    public int GetConfiguration(int retPtr, int retSize)
    {
        Guard("proxy_get_configuration");
        return CopyOut(_plugin.Options.Configuration, retPtr, retSize);
    }

    /// <summary>
    /// cpp-host <c>call_foreign_function</c>: NOT_FOUND for an unknown name, otherwise the function's
    /// status, with its result returned through the allocator when <paramref name="retPtr"/> is not 0
    /// (and its size written when <paramref name="retSize"/> is not 0).
    /// </summary>
    public int CallForeignFunction(int namePtr, int nameSize, int argsPtr, int argsSize, int retPtr, int retSize)
    {
        Guard("proxy_call_foreign_function");
        if (!TryReadString(namePtr, nameSize, out var name) || !TryGetSpan(argsPtr, argsSize, out var arguments))
        {
            return Status(ProxyStatus.InvalidMemoryAccess);
        }

        if (!_plugin.ForeignFunctions.TryGetValue(name, out var function))
        {
            return Status(ProxyStatus.NotFound);
        }

        ProxyStatus status;
        byte[] result;
        try
        {
            status = function(arguments, out result);
            result ??= [];
        }
#pragma warning disable CA1031 // A failing host function is reported to the plugin, not a VM failure.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            WriteLog(ProxyLogLevel.Error, $"foreign function '{name}' failed: {ex.Message}");
            status = ProxyStatus.InternalFailure;
            result = [];
        }

        if (retPtr != 0)
        {
            var ptr = 0;
            if (result.Length > 0)
            {
                ptr = Allocate(result.Length);
                if (ptr == 0 || !TryGetSpan(ptr, result.Length, out var span))
                {
                    return Status(ProxyStatus.InvalidMemoryAccess);
                }

                result.CopyTo(span);
            }

            if (!TryWriteU32(retPtr, (uint)ptr))
            {
                return Status(ProxyStatus.InvalidMemoryAccess);
            }
        }

        if (retSize != 0 && !TryWriteU32(retSize, (uint)result.Length))
        {
            return Status(ProxyStatus.InvalidMemoryAccess);
        }

        return Status(status);
    }

    public int Unimplemented(string function)
    {
        Guard(function);
        return Status(ProxyStatus.Unimplemented);
    }

    public int GetStatus(int codePtr, int messagePtr, int messageSize)
    {
        Guard("proxy_get_status");
        if (!TryWriteU32(codePtr, (uint)_status.Code))
        {
            return Status(ProxyStatus.InvalidMemoryAccess);
        }

        return CopyOut(_status.Message, messagePtr, messageSize);
    }

    // ---- callouts ----

    public int HttpCall(int upstreamPtr, int upstreamSize, int headersPtr, int headersSize, int bodyPtr, int bodySize,
        int trailersPtr, int trailersSize, int timeoutMs, int retToken)
    {
        Guard("proxy_http_call");
        if (!TryReadString(upstreamPtr, upstreamSize, out var upstream))
        {
            return Status(ProxyStatus.InvalidMemoryAccess);
        }

        var read = ReadPairs(headersPtr, headersSize, out var headers);
        if (read != Ok)
        {
            return read;
        }

        if (!TryReadBytes(bodyPtr, bodySize, out var body))
        {
            return Status(ProxyStatus.InvalidMemoryAccess);
        }

        read = ReadPairs(trailersPtr, trailersSize, out var trailers);
        if (read != Ok)
        {
            return read;
        }

        // Envoy (context.cc httpCall): a negative timeout (the u32 read as a C int), an unknown cluster
        // (the host rejects it synchronously, see StartCallout) or a request without :method, :path or
        // :authority is BadArgument, and no response is ever delivered for it. Timeout 0 means no timeout. What the
        // host cannot send (a :path not starting with '/', say) it refuses itself, and says why.
        if (timeoutMs < 0 || headers.Get(":method") is null || headers.Get(":path") is null || headers.Get(":authority") is null || upstream.Length == 0)
        {
            return Status(ProxyStatus.BadArgument);
        }

        return StartCallout(
            retToken,
            new HttpCalloutRequest(upstream, headers, body, trailers, TimeSpan.FromMilliseconds(timeoutMs)),
            static (host, request, cancel) => host.SendHttpCalloutAsync(request, cancel),
            static (abi, token, response) => abi.DeliverHttpResponse(token, response),
            unknownCluster: ProxyStatus.BadArgument);
    }

    public int GrpcCall(int upstreamPtr, int upstreamSize, int servicePtr, int serviceSize, int methodPtr, int methodSize,
        int metadataPtr, int metadataSize, int messagePtr, int messageSize, int timeoutMs, int retToken)
    {
        Guard("proxy_grpc_call");
        var read = ReadGrpcTarget(upstreamPtr, upstreamSize, servicePtr, serviceSize, methodPtr, methodSize, metadataPtr, metadataSize,
            out var target, out var service, out var method, out var metadata);
        if (read != Ok)
        {
            return read;
        }

        if (!TryReadBytes(messagePtr, messageSize, out var message))
        {
            return Status(ProxyStatus.InvalidMemoryAccess);
        }

        return StartCallout(
            retToken,
            new GrpcCalloutRequest(target.Cluster, service, method, metadata, message, TimeSpan.FromMilliseconds((uint)timeoutMs)) { Authority = target.Authority },
            static (host, request, cancel) => host.SendGrpcCalloutAsync(request, cancel),
            static (abi, token, response) => abi.DeliverGrpcResponse(token, response),
            UnknownGrpcCluster(target));
    }

    /// <summary>
    /// What a gRPC call or stream to a cluster the proxy does not know answers (Envoy <c>Context::grpcCall</c>): a bare
    /// cluster name is PARSE_FAILURE; a <c>GrpcService</c> naming one gets a client all the same, whose send fails at
    /// once, INTERNAL_FAILURE. (Envoy then also calls <c>proxy_on_grpc_close</c> for the token it never handed out,
    /// which the SDKs trap on; nothing is delivered here.)
    /// </summary>
    private static ProxyStatus UnknownGrpcCluster(GrpcTarget target) =>
        target.IsServiceConfig ? ProxyStatus.InternalFailure : ProxyStatus.ParseFailure;

    /// <summary>
    /// Issues a callout token, hands the request to the proxy and delivers its completion to the root context
    /// after the current VM call (never re-entering the VM). The root context owns the call whichever context
    /// made it (cpp-host <c>exports.cc</c> makes every call on <c>context->root_context()</c>, and Envoy's
    /// <c>Context::~Context</c> cancels only what that context itself made): a stream's end does not cancel it,
    /// only the VM's (<see cref="Dispose"/>); the cluster's callout limit and the call's timeout bound it. A proxy that
    /// throws synchronously is a failed callout, except a <see cref="CalloutRefusedException"/>: the proxy refused the
    /// request itself, so the hostcall answers a status and nothing is delivered, as in Envoy, whose async client
    /// fails such a send at once: <paramref name="unknownCluster"/> for a cluster it does not know, INTERNAL_FAILURE for
    /// an overflowing one.
    /// </summary>
    private int StartCallout<TRequest, TResponse>(int retToken, TRequest request,
        Func<IPluginHost, TRequest, CancellationToken, Task<TResponse>> send, Action<AbiInstance, int, Task<TResponse>> deliver,
        ProxyStatus unknownCluster)
    {
        var token = ++_nextToken;
        if (!TryWriteU32(retToken, (uint)token))
        {
            return Status(ProxyStatus.InvalidMemoryAccess);
        }

        var call = new PendingCallout(_shard.Cancellation);
        _pendingCallouts.Add(token, call);
        Task<TResponse> task;
        try
        {
            task = send(_plugin.Host, request, call.Token);
        }
        catch (CalloutRefusedException refused)
        {
            TryTakeCallout(token, out _);
            call.Complete();
            return Status(Refused(refused, unknownCluster));
        }
#pragma warning disable CA1031 // A host failing synchronously is delivered like a failed callout.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            task = Task.FromException<TResponse>(ex);
        }

        var shard = _shard;
        var generation = shard.Generation;
        task.ContinueWith(t => shard.Post(generation, abi => deliver(abi, token, t)),
            CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
        return Ok;
    }

    private ProxyStatus Refused(CalloutRefusedException refused, ProxyStatus unknownCluster)
    {
        _plugin.Log.LogDebug("plugin {Plugin}: callout refused: {Reason}", _plugin.Options.Logged, refused.Message);
        return refused.Reason switch
        {
            CalloutRefusal.UnknownCluster => unknownCluster,
            CalloutRefusal.InvalidRequest => ProxyStatus.BadArgument,
            _ => ProxyStatus.InternalFailure,
        };
    }

    /// <summary>
    /// Reads the target, service, method and initial metadata shared by gRPC calls and streams: BAD_ARGUMENT for a
    /// <c>GrpcService</c> without an Envoy gRPC cluster, or an empty service or method name. The request metadata are
    /// the service's <c>initial_metadata</c> followed by the plugin's (Envoy's client sets the first, then the plugin's
    /// are added).
    /// </summary>
    private int ReadGrpcTarget(int upstreamPtr, int upstreamSize, int servicePtr, int serviceSize, int methodPtr, int methodSize,
        int metadataPtr, int metadataSize, out GrpcTarget target, out string service, out string method, out HeaderMap metadata)
    {
        target = GrpcTarget.Unread;
        metadata = new HeaderMap();
        if (!TryGetSpan(upstreamPtr, upstreamSize, out var upstream) | !TryReadString(servicePtr, serviceSize, out service) |
            !TryReadString(methodPtr, methodSize, out method))
        {
            return Status(ProxyStatus.InvalidMemoryAccess);
        }

        var read = ReadPairs(metadataPtr, metadataSize, out var own);
        if (read != Ok)
        {
            return read;
        }

        if (!GrpcTarget.TryRead(upstream, out target) || service.Length == 0 || method.Length == 0)
        {
            return Status(ProxyStatus.BadArgument);
        }

        metadata = target.InitialMetadata;
        foreach (var (name, value) in own.Entries)
        {
            metadata.Add(name, value);
        }

        return Ok;
    }

    public int GrpcStream(int upstreamPtr, int upstreamSize, int servicePtr, int serviceSize, int methodPtr, int methodSize,
        int metadataPtr, int metadataSize, int retToken)
    {
        Guard("proxy_grpc_stream");
        var read = ReadGrpcTarget(upstreamPtr, upstreamSize, servicePtr, serviceSize, methodPtr, methodSize, metadataPtr, metadataSize,
            out var target, out var service, out var method, out var metadata);
        if (read != Ok)
        {
            return read;
        }

        var token = ++_nextToken;
        if (!TryWriteU32(retToken, (uint)token))
        {
            return Status(ProxyStatus.InvalidMemoryAccess);
        }

        // Registered before the proxy sees it: events it reports synchronously are queued and find the token.
        // Owned by the root context, as calls are (see StartCallout).
        var entry = new GrpcStreamEntry();
        _grpcStreams[token] = entry;
        var events = new GrpcStreamEvents(_shard, _shard.Generation, token);
        try
        {
            entry.Call = _plugin.Host.OpenGrpcStream(new GrpcStreamRequest(target.Cluster, service, method, metadata) { Authority = target.Authority }, events);
        }
        catch (CalloutRefusedException refused)
        {
            _grpcStreams.Remove(token);
            return Status(Refused(refused, UnknownGrpcCluster(target)));
        }
#pragma warning disable CA1031 // A host failing to open is delivered like an unavailable upstream.
        catch (Exception)
#pragma warning restore CA1031
        {
            entry.Call = null;
        }

        if (entry.Call is null)
        {
            events.OnClose(14, "unavailable");
        }

        return Ok;
    }

    public int GrpcSend(int token, int messagePtr, int messageSize, int endOfStream)
    {
        Guard("proxy_grpc_send");
        if (!_grpcStreams.TryGetValue(token, out var entry))
        {
            return _pendingCallouts.ContainsKey(token) ? Status(ProxyStatus.BadArgument) : Status(ProxyStatus.NotFound);
        }

        if (!TryReadBytes(messagePtr, messageSize, out var message))
        {
            return Status(ProxyStatus.InvalidMemoryAccess);
        }

        if (entry.Call is null || entry.LocalClosed)
        {
            return Status(ProxyStatus.BadArgument);
        }

        entry.LocalClosed = endOfStream != 0;
        try
        {
            entry.Call.Send(message, endOfStream != 0);
        }
#pragma warning disable CA1031 // A proxy failing to send is reported to the plugin, not thrown into the VM.
        catch (Exception)
#pragma warning restore CA1031
        {
            return Status(ProxyStatus.InternalFailure);
        }

        return Ok;
    }

    public int GrpcCancel(int token)
    {
        Guard("proxy_grpc_cancel");
        if (_grpcStreams.Remove(token, out var entry))
        {
            CancelQuietly(entry);
            return Ok;
        }

        return CancelCall(token) ? Ok : Status(ProxyStatus.NotFound);
    }

    /// <summary>Streams: half-close, responses keep coming until the remote close (Envoy). Unary calls: same as cancel.</summary>
    public int GrpcClose(int token)
    {
        Guard("proxy_grpc_close");
        if (!_grpcStreams.TryGetValue(token, out var entry))
        {
            return CancelCall(token) ? Ok : Status(ProxyStatus.NotFound);
        }

        if (!entry.LocalClosed)
        {
            entry.LocalClosed = true;
            try
            {
                entry.Call?.Close();
            }
#pragma warning disable CA1031 // A proxy failing to close is reported to the plugin, not thrown into the VM.
            catch (Exception)
#pragma warning restore CA1031
            {
                return Status(ProxyStatus.InternalFailure);
            }
        }

        return Ok;
    }

    /// <summary>A unary call the plugin cancelled: the proxy stops it and nothing is delivered (Envoy <c>grpcCancel</c>).</summary>
    private bool CancelCall(int token)
    {
        if (!TryTakeCallout(token, out var call))
        {
            return false;
        }

        call.Cancel();
        return true;
    }

    private static void CancelQuietly(GrpcStreamEntry entry)
    {
        try
        {
            entry.Call?.Cancel();
        }
#pragma warning disable CA1031 // Cancelling is best effort.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }

    // ---- shared data and queues ----

    public int GetSharedData(int keyPtr, int keySize, int retPtr, int retSize, int retCas)
    {
        Guard("proxy_get_shared_data");
        if (!TryReadString(keyPtr, keySize, out var key, Name))
        {
            return Status(ProxyStatus.InvalidMemoryAccess);
        }

        var status = _plugin.SharedData.Get(key, out var value, out var cas);
        if (status != ProxyStatus.Ok)
        {
            return Status(status);
        }

        var copied = CopyOut(value, retPtr, retSize);
        if (copied != Ok)
        {
            return copied;
        }

        return TryWriteU32(retCas, cas) ? Ok : Status(ProxyStatus.InvalidMemoryAccess);
    }

    public int SetSharedData(int keyPtr, int keySize, int valuePtr, int valueSize, int cas)
    {
        Guard("proxy_set_shared_data");
        if (!TryReadString(keyPtr, keySize, out var key, Name) || !TryReadBytes(valuePtr, valueSize, out var value))
        {
            return Status(ProxyStatus.InvalidMemoryAccess);
        }

        return Status(_plugin.SharedData.Set(key, value, (uint)cas));
    }

    public int RegisterSharedQueue(int namePtr, int nameSize, int ret)
    {
        Guard("proxy_register_shared_queue");
        if (!TryReadString(namePtr, nameSize, out var name, Name))
        {
            return Status(ProxyStatus.InvalidMemoryAccess);
        }

        var shard = _shard;
        var generation = shard.Generation;
        var id = _plugin.Runtime.Queues.Register(_queueVmId, name, this, qid => shard.Post(generation, abi => abi.QueueReady(qid)));
        _queueIds ??= [];
        if (!_queueIds.Contains(id))
        {
            _queueIds.Add(id);
        }

        return TryWriteU32(ret, (uint)id) ? Ok : Status(ProxyStatus.InvalidMemoryAccess);
    }

    /// <summary>
    /// This VM stops being told of the queues it registered (it goes, or its plugin does): each returns to the VM that
    /// registered it before, if one is still live. Idempotent.
    /// </summary>
    public void ReleaseSharedQueues()
    {
        if (_queueIds is not { } ids)
        {
            return;
        }

        _queueIds = null;
        foreach (var id in ids)
        {
            _plugin.Runtime.Queues.Release(this, id);
        }
    }

    public int ResolveSharedQueue(int vmIdPtr, int vmIdSize, int namePtr, int nameSize, int ret)
    {
        Guard("proxy_resolve_shared_queue");
        if (!TryReadString(vmIdPtr, vmIdSize, out var vmId, Name) || !TryReadString(namePtr, nameSize, out var name, Name))
        {
            return Status(ProxyStatus.InvalidMemoryAccess);
        }

        if (!_plugin.Runtime.Queues.TryResolve(vmId, name, out var id))
        {
            return Status(ProxyStatus.NotFound);
        }

        return TryWriteU32(ret, (uint)id) ? Ok : Status(ProxyStatus.InvalidMemoryAccess);
    }

    public int EnqueueSharedQueue(int queueId, int ptr, int size)
    {
        Guard("proxy_enqueue_shared_queue");
        if (!TryReadBytes(ptr, size, out var data))
        {
            return Status(ProxyStatus.InvalidMemoryAccess);
        }

        return Status(_plugin.Runtime.Queues.Enqueue(queueId, data));
    }

    public int DequeueSharedQueue(int queueId, int retPtr, int retSize)
    {
        Guard("proxy_dequeue_shared_queue");
        var status = _plugin.Runtime.Queues.Dequeue(queueId, out var data);
        return status == ProxyStatus.Ok ? CopyOut(data, retPtr, retSize) : Status(status);
    }

    // ---- metrics ----

    public int DefineMetric(int type, int namePtr, int nameSize, int ret)
    {
        Guard("proxy_define_metric");
        if (type is < 0 or > 2)
        {
            return Status(ProxyStatus.BadArgument);
        }

        if (!TryReadString(namePtr, nameSize, out var name))
        {
            return Status(ProxyStatus.InvalidMemoryAccess);
        }

        // Never refused for a name another plugin (or this one) defined with another type: as in Envoy, each type
        // has its own metrics.
        var id = _plugin.Metrics.Define((MetricType)type, name);
        return TryWriteU32(ret, (uint)id) ? Ok : Status(ProxyStatus.InvalidMemoryAccess);
    }

    public int IncrementMetric(int id, long delta)
    {
        Guard("proxy_increment_metric");
        return Status(_plugin.Metrics.Increment(id, delta));
    }

    public int RecordMetric(int id, long value)
    {
        Guard("proxy_record_metric");
        return Status(_plugin.Metrics.Record(id, value));
    }

    public int GetMetric(int id, int ret)
    {
        Guard("proxy_get_metric");
        var status = _plugin.Metrics.Get(id, out var value);
        if (status != ProxyStatus.Ok)
        {
            return Status(status);
        }

        return TryWriteU64(ret, (ulong)value) ? Ok : Status(ProxyStatus.InvalidMemoryAccess);
    }

    /// <summary>The VM is gone with every context: all calls are cancelled and all gRPC streams reset.</summary>
    public void Dispose()
    {
        ReleaseSharedQueues();

        // Taken out first: a cancellation may complete a call inline, and its delivery must find nothing.
        PendingCallout[] calls = [.. _pendingCallouts.Values];
        _pendingCallouts.Clear();
        GrpcStreamEntry[] streams = [.. _grpcStreams.Values];
        _grpcStreams.Clear();
        foreach (var call in calls)
        {
            call.Cancel();
        }

        foreach (var entry in streams)
        {
            CancelQuietly(entry);
        }

        _vm?.Dispose();
    }
}
