namespace WasmOperator.Modules.Oci;

/// <summary>A content descriptor from a manifest or index.</summary>
internal sealed record OciDescriptor(string MediaType, string Digest, long Size, string? Os = null, string? Architecture = null);
