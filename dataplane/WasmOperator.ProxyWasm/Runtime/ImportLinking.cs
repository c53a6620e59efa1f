using Wasmtime;
using WasmOperator.ProxyWasm.Abi;
using WasmOperator.ProxyWasm.Wasi;

namespace WasmOperator.ProxyWasm.Runtime;

/// <summary>
/// Classifies a module's function imports against what the host provides, and builds the
/// per-module linker: provided imports link to the host functions; a known name with another
/// signature (proxy-runtime's 10-parameter <c>proxy_grpc_call</c>) links to a stub answering
/// UNIMPLEMENTED, except proxy-runtime's 7-parameter <c>proxy_grpc_stream</c>, which opens a stream
/// without initial metadata; unknown WASI functions answer ENOSYS; any other unknown import links to a stub
/// that traps only when called.
/// </summary>
internal static class ImportLinking
{
    public enum Disposition
    {
        Provided,
        SignatureMismatch,
        WasiStub,
        TrapStub,
    }

    public static string Signature(IReadOnlyList<ValueKind> kinds)
    {
        var chars = new char[kinds.Count];
        for (var i = 0; i < kinds.Count; i++)
        {
            chars[i] = kinds[i] switch
            {
                ValueKind.Int32 => 'i',
                ValueKind.Int64 => 'I',
                ValueKind.Float32 => 'f',
                ValueKind.Float64 => 'F',
                _ => 'x',
            };
        }

        return new string(chars);
    }

    public static Disposition Classify(FunctionImport import)
    {
        if (HostFunctions.Signatures.TryGetValue((import.ModuleName, import.Name), out var signature))
        {
            return signature.Params == Signature(import.Parameters) && signature.Results == Signature(import.Results)
                ? Disposition.Provided
                : Disposition.SignatureMismatch;
        }

        return Array.IndexOf(WasiFunctions.Modules, import.ModuleName) >= 0 && Signature(import.Results) == "i"
            ? Disposition.WasiStub
            : Disposition.TrapStub;
    }

    /// <summary>proxy-runtime (AssemblyScript) declares <c>proxy_grpc_stream</c> without initial metadata: 7 i32 parameters.</summary>
    public static bool IsGrpcStreamWithoutMetadata(FunctionImport import) =>
        import.ModuleName == HostFunctions.Module && import.Name == "proxy_grpc_stream" &&
        Signature(import.Parameters) == "iiiiiii" && Signature(import.Results) == "i";

    public static Linker Build(Engine engine, Module module)
    {
        var linker = new Linker(engine) { AllowShadowing = true };
        HostFunctions.Define(linker);
        WasiFunctions.Define(linker);
        foreach (var import in module.Imports)
        {
            if (import is not FunctionImport function)
            {
                continue;
            }

            var disposition = Classify(function);
            if (disposition == Disposition.Provided)
            {
                continue;
            }

            var name = $"{function.ModuleName}.{function.Name}";
            var results = function.Results;
            Function.UntypedCallbackDelegate callback = disposition switch
            {
                Disposition.SignatureMismatch when IsGrpcStreamWithoutMetadata(function) =>
                    (Caller caller, ReadOnlySpan<ValueBox> args, Span<ValueBox> res) => res[0] = AbiInstance.Of(caller).GrpcStream(
                        args[0].AsInt32(), args[1].AsInt32(), args[2].AsInt32(), args[3].AsInt32(), args[4].AsInt32(), args[5].AsInt32(),
                        0, 0, args[6].AsInt32()),
                Disposition.SignatureMismatch when Signature(results) == "i" =>
                    (Caller caller, ReadOnlySpan<ValueBox> args, Span<ValueBox> res) => res[0] = (int)ProxyStatus.Unimplemented,
                Disposition.WasiStub =>
                    (Caller caller, ReadOnlySpan<ValueBox> args, Span<ValueBox> res) => res[0] = WasiFunctions.NoSys,
                _ => (Caller caller, ReadOnlySpan<ValueBox> args, Span<ValueBox> res) =>
                    throw new GuestTrapException(TrapKind.MissingImport, $"call to import {name}, which this host does not provide"),
            };
            linker.DefineFunction(function.ModuleName, function.Name, callback, function.Parameters, results);
        }

        return linker;
    }
}
