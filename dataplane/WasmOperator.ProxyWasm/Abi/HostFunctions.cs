using Wasmtime;

namespace WasmOperator.ProxyWasm.Abi;

/// <summary>
/// Links every Proxy-Wasm host function of the spec (module <c>env</c>) with its exact signature
/// (all i32 except the i64 metric values) to <see cref="AbiInstance"/>. The signatures are also kept
/// in <see cref="Signatures"/> so the module check and the per-module linker can tell a provided
/// import from a mismatched one.
/// </summary>
internal static class HostFunctions
{
    public const string Module = "env";

    /// <summary>(module, name) → parameter kinds ('i' = i32, 'I' = i64) and result kinds.</summary>
    public static Dictionary<(string Module, string Name), (string Params, string Results)> Signatures { get; } = [];

    private static readonly Lock SignatureGate = new();
    private static volatile bool _signaturesComplete;

    /// <summary>Fills <see cref="Signatures"/> once per process (the linker definitions record them).</summary>
    public static void EnsureSignatures(Engine engine)
    {
        lock (SignatureGate)
        {
            if (_signaturesComplete)
            {
                return;
            }

            using var linker = new Linker(engine);
            Define(linker);
            Wasi.WasiFunctions.Define(linker);
            _signaturesComplete = true;
        }
    }

    /// <summary>Records a signature while the table is being filled; later linker builds only read it.</summary>
    internal static string Record(string module, string name, string parameters, string results)
    {
        if (!_signaturesComplete)
        {
            Signatures[(module, name)] = (parameters, results);
        }

        return name;
    }

    private static string Env(string name, string parameters, string results = "i") => Record(Module, name, parameters, results);

    public static void Define(Linker linker)
    {
        linker.DefineFunction(Module, Env("proxy_log", "iii"), static (Caller c, int level, int ptr, int size) => AbiInstance.Of(c).Log(level, ptr, size));
        linker.DefineFunction(Module, Env("proxy_get_log_level", "i"), static (Caller c, int ret) => AbiInstance.Of(c).GetLogLevel(ret));
        linker.DefineFunction(Module, Env("proxy_get_current_time_nanoseconds", "i"), static (Caller c, int ret) => AbiInstance.Of(c).GetCurrentTime(ret));
        linker.DefineFunction(Module, Env("proxy_set_tick_period_milliseconds", "i"), static (Caller c, int period) => AbiInstance.Of(c).SetTickPeriod(period));
        linker.DefineFunction(Module, Env("proxy_get_buffer_bytes", "iiiii"), static (Caller c, int type, int start, int max, int retPtr, int retSize) => AbiInstance.Of(c).GetBufferBytes(type, start, max, retPtr, retSize));
        linker.DefineFunction(Module, Env("proxy_set_buffer_bytes", "iiiii"), static (Caller c, int type, int start, int size, int ptr, int len) => AbiInstance.Of(c).SetBufferBytes(type, start, size, ptr, len));
        linker.DefineFunction(Module, Env("proxy_get_buffer_status", "iii"), static (Caller c, int type, int retLen, int retFlags) => AbiInstance.Of(c).GetBufferStatus(type, retLen, retFlags));
        linker.DefineFunction(Module, Env("proxy_get_header_map_pairs", "iii"), static (Caller c, int type, int retPtr, int retSize) => AbiInstance.Of(c).GetHeaderMapPairs(type, retPtr, retSize));
        linker.DefineFunction(Module, Env("proxy_set_header_map_pairs", "iii"), static (Caller c, int type, int ptr, int size) => AbiInstance.Of(c).SetHeaderMapPairs(type, ptr, size));
        linker.DefineFunction(Module, Env("proxy_get_header_map_value", "iiiii"), static (Caller c, int type, int kp, int ks, int retPtr, int retSize) => AbiInstance.Of(c).GetHeaderMapValue(type, kp, ks, retPtr, retSize));
        linker.DefineFunction(Module, Env("proxy_add_header_map_value", "iiiii"), static (Caller c, int type, int kp, int ks, int vp, int vs) => AbiInstance.Of(c).AddHeaderMapValue(type, kp, ks, vp, vs, replace: false));
        linker.DefineFunction(Module, Env("proxy_replace_header_map_value", "iiiii"), static (Caller c, int type, int kp, int ks, int vp, int vs) => AbiInstance.Of(c).AddHeaderMapValue(type, kp, ks, vp, vs, replace: true));
        linker.DefineFunction(Module, Env("proxy_remove_header_map_value", "iii"), static (Caller c, int type, int kp, int ks) => AbiInstance.Of(c).RemoveHeaderMapValue(type, kp, ks));
        linker.DefineFunction(Module, Env("proxy_get_header_map_size", "ii"), static (Caller c, int type, int ret) => AbiInstance.Of(c).GetHeaderMapSize(type, ret));
        linker.DefineFunction(Module, Env("proxy_get_property", "iiii"), static (Caller c, int pp, int ps, int retPtr, int retSize) => AbiInstance.Of(c).GetProperty(pp, ps, retPtr, retSize));
        linker.DefineFunction(Module, Env("proxy_set_property", "iiii"), static (Caller c, int pp, int ps, int vp, int vs) => AbiInstance.Of(c).SetProperty(pp, ps, vp, vs));
        linker.DefineFunction(Module, Env("proxy_send_local_response", "iiiiiiii"), static (Caller c, int status, int dp, int ds, int bp, int bs, int hp, int hs, int grpc) => AbiInstance.Of(c).SendLocalResponse(status, dp, ds, bp, bs, hp, hs, grpc));
        linker.DefineFunction(Module, Env("proxy_http_call", "iiiiiiiiii"), static (Caller c, int up, int us, int hp, int hs, int bp, int bs, int tp, int ts, int timeout, int retToken) => AbiInstance.Of(c).HttpCall(up, us, hp, hs, bp, bs, tp, ts, timeout, retToken));
        linker.DefineFunction(Module, Env("proxy_grpc_call", "iiiiiiiiiiii"), static (Caller c, int up, int us, int sp, int ss, int mp, int ms, int ip, int isz, int msgp, int msgs, int timeout, int retToken) => AbiInstance.Of(c).GrpcCall(up, us, sp, ss, mp, ms, ip, isz, msgp, msgs, timeout, retToken));
        linker.DefineFunction(Module, Env("proxy_grpc_stream", "iiiiiiiii"), static (Caller c, int up, int us, int sp, int ss, int mp, int ms, int ip, int isz, int retToken) => AbiInstance.Of(c).GrpcStream(up, us, sp, ss, mp, ms, ip, isz, retToken));
        linker.DefineFunction(Module, Env("proxy_grpc_send", "iiii"), static (Caller c, int token, int p, int s, int eos) => AbiInstance.Of(c).GrpcSend(token, p, s, eos));
        linker.DefineFunction(Module, Env("proxy_grpc_cancel", "i"), static (Caller c, int token) => AbiInstance.Of(c).GrpcCancel(token));
        linker.DefineFunction(Module, Env("proxy_grpc_close", "i"), static (Caller c, int token) => AbiInstance.Of(c).GrpcClose(token));
        linker.DefineFunction(Module, Env("proxy_get_status", "iii"), static (Caller c, int code, int mp, int ms) => AbiInstance.Of(c).GetStatus(code, mp, ms));
        linker.DefineFunction(Module, Env("proxy_set_shared_data", "iiiii"), static (Caller c, int kp, int ks, int vp, int vs, int cas) => AbiInstance.Of(c).SetSharedData(kp, ks, vp, vs, cas));
        linker.DefineFunction(Module, Env("proxy_get_shared_data", "iiiii"), static (Caller c, int kp, int ks, int retPtr, int retSize, int retCas) => AbiInstance.Of(c).GetSharedData(kp, ks, retPtr, retSize, retCas));
        linker.DefineFunction(Module, Env("proxy_register_shared_queue", "iii"), static (Caller c, int np, int ns, int ret) => AbiInstance.Of(c).RegisterSharedQueue(np, ns, ret));
        linker.DefineFunction(Module, Env("proxy_resolve_shared_queue", "iiiii"), static (Caller c, int vp, int vs, int np, int ns, int ret) => AbiInstance.Of(c).ResolveSharedQueue(vp, vs, np, ns, ret));
        linker.DefineFunction(Module, Env("proxy_enqueue_shared_queue", "iii"), static (Caller c, int qid, int p, int s) => AbiInstance.Of(c).EnqueueSharedQueue(qid, p, s));
        linker.DefineFunction(Module, Env("proxy_dequeue_shared_queue", "iii"), static (Caller c, int qid, int retPtr, int retSize) => AbiInstance.Of(c).DequeueSharedQueue(qid, retPtr, retSize));
        linker.DefineFunction(Module, Env("proxy_define_metric", "iiii"), static (Caller c, int type, int np, int ns, int ret) => AbiInstance.Of(c).DefineMetric(type, np, ns, ret));
        linker.DefineFunction(Module, Env("proxy_increment_metric", "iI"), static (Caller c, int id, long delta) => AbiInstance.Of(c).IncrementMetric(id, delta));
        linker.DefineFunction(Module, Env("proxy_record_metric", "iI"), static (Caller c, int id, long value) => AbiInstance.Of(c).RecordMetric(id, value));
        linker.DefineFunction(Module, Env("proxy_get_metric", "ii"), static (Caller c, int id, int ret) => AbiInstance.Of(c).GetMetric(id, ret));
        linker.DefineFunction(Module, Env("proxy_continue_stream", "i"), static (Caller c, int type) => AbiInstance.Of(c).ContinueStream(type));
        linker.DefineFunction(Module, Env("proxy_close_stream", "i"), static (Caller c, int type) => AbiInstance.Of(c).CloseStream(type));
        linker.DefineFunction(Module, Env("proxy_done", ""), static (Caller c) => AbiInstance.Of(c).Done());
        linker.DefineFunction(Module, Env("proxy_set_effective_context", "i"), static (Caller c, int id) => AbiInstance.Of(c).SetEffectiveContext(id));
        linker.DefineFunction(Module, Env("proxy_call_foreign_function", "iiiiii"), static (Caller c, int np, int ns, int ap, int asz, int retPtr, int retSize) => AbiInstance.Of(c).CallForeignFunction(np, ns, ap, asz, retPtr, retSize));

        // 0.1.0 only (cpp-host and the old Rust SDK declare them ()->i32).
        linker.DefineFunction(Module, Env("proxy_get_configuration", "ii"), static (Caller c, int retPtr, int retSize) => AbiInstance.Of(c).GetConfiguration(retPtr, retSize));
        linker.DefineFunction(Module, Env("proxy_continue_request", ""), static (Caller c) => AbiInstance.Of(c).ContinueStream((int)StreamType.HttpRequest));
        linker.DefineFunction(Module, Env("proxy_continue_response", ""), static (Caller c) => AbiInstance.Of(c).ContinueStream((int)StreamType.HttpResponse));
        linker.DefineFunction(Module, Env("proxy_clear_route_cache", ""), static (Caller c) => AbiInstance.Of(c).ClearRouteCache());

        // Emscripten helpers.
        linker.DefineFunction(Module, Env("emscripten_notify_memory_growth", "i", ""), static (Caller c, int index) => { });
        linker.DefineFunction(Module, Env("pthread_equal", "ii"), static (Caller c, int a, int b) => a == b ? 1 : 0);
    }
}
