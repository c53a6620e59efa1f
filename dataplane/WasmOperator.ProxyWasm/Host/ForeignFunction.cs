using WasmOperator.ProxyWasm.Abi;

namespace WasmOperator.ProxyWasm.Host;

/// <summary>
/// A host function a plugin calls by name with <c>proxy_call_foreign_function</c> (Envoy's
/// <c>RegisterForeignFunction</c>). It runs synchronously on the VM's thread while the plugin waits,
/// so it must be quick and must not call back into the plugin. The returned status is what the
/// plugin sees; <paramref name="result"/> (also on an error status, as cpp-host does) is copied into
/// guest memory through the plugin's allocator, nothing is allocated for an empty result. An
/// exception is answered with <see cref="ProxyStatus.InternalFailure"/>.
/// </summary>
/// <param name="arguments">The argument bytes, valid only during the call.</param>
/// <param name="result">The result bytes to return to the plugin.</param>
public delegate ProxyStatus ForeignFunction(ReadOnlySpan<byte> arguments, out byte[] result);
