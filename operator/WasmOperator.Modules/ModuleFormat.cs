namespace WasmOperator.Modules;

/// <summary>How the module was packaged at its source.</summary>
public enum ModuleFormat
{
    /// <summary>Plain module bytes from https, http or file.</summary>
    RawWasm,

    /// <summary>CNCF Wasm OCI artifact: config <c>application/vnd.wasm.config.v0+json</c>, layer <c>application/wasm</c>.</summary>
    CncfWasmArtifact,

    /// <summary>Istio's artifact: layer <c>application/vnd.module.wasm.content.layer.v1+wasm</c>.</summary>
    IstioArtifact,

    /// <summary>wasm-to-oci: layer <c>application/vnd.wasm.content.layer.v1+wasm</c>.</summary>
    WasmToOci,

    /// <summary>A Docker or OCI image whose last tar+gzip layer holds <c>plugin.wasm</c>.</summary>
    ImageWithPluginWasm,
}
