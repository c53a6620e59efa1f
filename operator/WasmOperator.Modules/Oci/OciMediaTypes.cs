namespace WasmOperator.Modules.Oci;

/// <summary>Media types the fetcher understands.</summary>
internal static class OciMediaTypes
{
    public const string OciManifest = "application/vnd.oci.image.manifest.v1+json";
    public const string OciIndex = "application/vnd.oci.image.index.v1+json";
    public const string DockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
    public const string DockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json";

    public const string CncfWasmConfig = "application/vnd.wasm.config.v0+json";
    public const string CncfWasmLayer = "application/wasm";
    public const string IstioWasmLayer = "application/vnd.module.wasm.content.layer.v1+wasm";
    public const string WasmToOciLayer = "application/vnd.wasm.content.layer.v1+wasm";
    public const string DockerLayerTarGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    public const string OciLayerTarGzip = "application/vnd.oci.image.layer.v1.tar+gzip";

    /// <summary>The Accept list for manifests: distribution answers 404 to an OCI manifest unless Accept names it.</summary>
    public static readonly string[] ManifestAccept = [OciManifest, OciIndex, DockerManifest, DockerManifestList];

    public static bool IsIndex(string? mediaType) => mediaType is OciIndex or DockerManifestList;
}
