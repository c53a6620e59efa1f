namespace WasmOperator.Modules.Cache;

/// <summary>What a URL resolved to the last time it was fetched.</summary>
internal sealed record IndexEntry(
    string ResolvedRef,
    string? ManifestDigest,
    string ModuleDigest,
    long Size,
    ModuleFormat Format,
    string MediaType,
    DateTimeOffset FetchedAt);
