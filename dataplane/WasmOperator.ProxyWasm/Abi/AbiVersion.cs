namespace WasmOperator.ProxyWasm.Abi;

/// <summary>Proxy-Wasm ABI version a module declares with its <c>proxy_abi_version_X_Y_Z</c> export.</summary>
public enum AbiVersion
{
    /// <summary>No known marker export.</summary>
    Unknown = 0,
    /// <summary>0.1.0: 2-argument header callbacks, <c>proxy_get_configuration</c>.</summary>
    V0_1_0 = 1,
    /// <summary>0.2.0 (Go, TinyGo, AssemblyScript 0.1.8).</summary>
    V0_2_0 = 2,
    /// <summary>0.2.1 (Rust, C++).</summary>
    V0_2_1 = 3,
}
