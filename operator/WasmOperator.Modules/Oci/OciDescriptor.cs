namespace WasmOperator.Modules.Oci;

/// <summary>
/// A content descriptor from a manifest or index. <paramref name="ReferenceType"/> is the
/// <c>vnd.docker.reference.type</c> annotation (<c>attestation-manifest</c> on buildx's provenance entries).
/// </summary>
internal sealed record OciDescriptor(string MediaType, string Digest, long Size, string? Os = null, string? Architecture = null, string? ReferenceType = null);
