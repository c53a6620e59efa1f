using System.Security.Cryptography;
using Wasmtime;
using WasmOperator.ProxyWasm.Abi;
using WasmOperator.ProxyWasm.Plugins;
using WasmOperator.ProxyWasm.Runtime;

namespace WasmOperator.ProxyWasm.Check;

/// <summary>Inspects a module's exports and imports (cpp-host <c>bytecode_util</c> + our import table).</summary>
internal static class ModuleChecker
{
    /// <summary>The plugin name the check starts roots under when the caller gives no options.</summary>
    public const string PluginName = "module-check";

    private static readonly string[] CallbackNames =
    [
        "proxy_on_context_create", "proxy_on_vm_start", "proxy_validate_configuration", "proxy_on_configure", "proxy_on_tick",
        "proxy_on_queue_ready", "proxy_on_foreign_function", "proxy_on_new_connection", "proxy_on_downstream_data",
        "proxy_on_upstream_data", "proxy_on_downstream_connection_close", "proxy_on_upstream_connection_close",
        "proxy_on_request_headers", "proxy_on_request_body", "proxy_on_request_trailers", "proxy_on_request_metadata",
        "proxy_on_response_headers", "proxy_on_response_body", "proxy_on_response_trailers", "proxy_on_response_metadata",
        "proxy_on_http_call_response", "proxy_on_grpc_receive_initial_metadata", "proxy_on_grpc_receive",
        "proxy_on_grpc_receive_trailing_metadata", "proxy_on_grpc_trailing_metadata", "proxy_on_grpc_close",
        "proxy_on_done", "proxy_on_log", "proxy_on_delete", "_initialize", "_start", "main",
    ];

    /// <summary>What a module without an allocator is told, by the module check and by a load alike.</summary>
    public const string MissingAllocator =
        "the module exports no allocator: neither malloc nor proxy_on_memory_allocate as (i32) -> i32, through which " +
        "the host hands data to the plugin (Envoy refuses such a module too: \"missing malloc\"); build it with a Proxy-Wasm SDK, which exports one";

    /// <summary>
    /// The export the host allocates guest memory through, in cpp-host's order: <c>malloc</c>, else
    /// <c>proxy_on_memory_allocate</c>, each only as <c>(i32) -&gt; i32</c> (another signature counts as absent, as
    /// <see cref="WasmVm"/> binds it); null if neither. TinyGo exports both, and only its malloc keeps the block alive
    /// until the SDK frees it: its proxy_on_memory_allocate returns a Go slice nothing roots.
    /// </summary>
    public static string? DetectAllocator(Module module)
    {
        string? fallback = null;
        foreach (var export in module.Exports)
        {
            if (export is not FunctionExport function || export.Name is not ("malloc" or "proxy_on_memory_allocate") ||
                ImportLinking.Signature(function.Parameters) != "i" || ImportLinking.Signature(function.Results) != "i")
            {
                continue;
            }

            if (export.Name == "malloc")
            {
                return export.Name;
            }

            fallback = export.Name;
        }

        return fallback;
    }

    public static AbiVersion DetectAbi(Module module)
    {
        var version = AbiVersion.Unknown;
        foreach (var export in module.Exports)
        {
            if (export is not FunctionExport)
            {
                continue;
            }

            var found = export.Name switch
            {
                "proxy_abi_version_0_1_0" => AbiVersion.V0_1_0,
                "proxy_abi_version_0_2_0" => AbiVersion.V0_2_0,
                "proxy_abi_version_0_2_1" => AbiVersion.V0_2_1,
                _ => AbiVersion.Unknown,
            };
            version = found > version ? found : version;
        }

        return version;
    }

    public static ModuleCheckReport Check(ProxyWasmRuntime runtime, ReadOnlySpan<byte> wasm, IReadOnlyList<string> candidateRootIds, PluginOptions? options = null)
    {
        var digest = $"sha256:{Convert.ToHexStringLower(SHA256.HashData(wasm))}";
        var error = Module.Validate(runtime.Engine, wasm);
        if (error is not null)
        {
            return new ModuleCheckReport { Digest = digest, IsValidWasm = false, ValidationError = error };
        }

        using var module = Module.FromBytes(runtime.Engine, digest, wasm);
        var provided = new List<string>();
        var mismatched = new List<string>();
        var unknown = new List<string>();
        var unsupported = new List<string>();
        var callsForeignFunctions = false;
        foreach (var import in module.Imports)
        {
            var name = $"{import.ModuleName}.{import.Name}";
            callsForeignFunctions |= name == "env.proxy_call_foreign_function";
            if (import is not FunctionImport function)
            {
                unsupported.Add(name);
                continue;
            }

            switch (ImportLinking.Classify(function))
            {
                case ImportLinking.Disposition.Provided:
                case ImportLinking.Disposition.SignatureMismatch when ImportLinking.IsGrpcStreamWithoutMetadata(function):
                    provided.Add(name);
                    break;
                case ImportLinking.Disposition.SignatureMismatch:
                    mismatched.Add(name);
                    break;
                default:
                    unknown.Add(name);
                    break;
            }
        }

        var exportsMemory = false;
        var exportedFunctions = new HashSet<string>(StringComparer.Ordinal);
        foreach (var export in module.Exports)
        {
            exportsMemory |= export is MemoryExport && export.Name == "memory";
            if (export is FunctionExport)
            {
                exportedFunctions.Add(export.Name);
            }
        }

        var callbacks = new List<string>();
        foreach (var name in CallbackNames)
        {
            if (exportedFunctions.Contains(name))
            {
                callbacks.Add(name);
            }
        }

        var report = new ModuleCheckReport
        {
            Digest = digest,
            IsValidWasm = true,
            AbiVersion = DetectAbi(module),
            ProvidedImports = provided,
            MismatchedImports = mismatched,
            UnknownImports = unknown,
            UnsupportedImports = unsupported,
            ExportsMemory = exportsMemory,
            Allocator = DetectAllocator(module),
            Callbacks = callbacks,
            ValidatesConfiguration = exportedFunctions.Contains("proxy_validate_configuration"),
            CallsForeignFunctions = callsForeignFunctions,
        };
        if (candidateRootIds.Count == 0 || !report.IsLoadable)
        {
            return report;
        }

        var served = new List<string>();
        var rejected = new Dictionary<string, string>(StringComparer.Ordinal);
        var refusedConfiguration = new HashSet<string>(StringComparer.Ordinal);
        var compiled = runtime.Compile(wasm);
        // A root that would wait for proxy_done is deleted at once: the check keeps no VM.
        var start = (options ?? new PluginOptions { Name = PluginName }) with { Shards = 1, RootDoneGrace = TimeSpan.Zero };
        foreach (var rootId in candidateRootIds)
        {
            try
            {
                using var plugin = runtime.LoadPlugin(compiled, start with { RootId = rootId }, ProxyWasmRuntime.NullHost);
                served.Add(rootId);
            }
            catch (PluginLoadException ex)
            {
                rejected[rootId] = ex.Message;
                if (ex.ConfigurationRejected)
                {
                    refusedConfiguration.Add(rootId);
                }
            }
        }

        return report with { ServedRootIds = served, RejectedRootIds = rejected, ConfigurationRejectedRootIds = refusedConfiguration };
    }
}
