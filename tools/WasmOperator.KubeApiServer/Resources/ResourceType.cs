using WasmOperator.KubeApiServer.Validation;

namespace WasmOperator.KubeApiServer.Resources;

/// <summary>A served resource: its names, scope, subresources, printer columns and (for custom resources) schema.</summary>
internal sealed record ResourceType
{
    public required string Group { get; init; }

    /// <summary>The served versions, storage version first.</summary>
    public required IReadOnlyList<string> Versions { get; init; }

    public required string Plural { get; init; }

    public required string Singular { get; init; }

    public required string Kind { get; init; }

    public required bool Namespaced { get; init; }

    public IReadOnlyList<string> ShortNames { get; init; } = [];

    public IReadOnlyList<string> Categories { get; init; } = [];

    public bool HasStatusSubresource { get; init; }

    /// <summary>Whether metadata.generation is kept (custom resources and CRDs).</summary>
    public bool TracksGeneration { get; init; }

    public bool IsCustom { get; init; }

    public IReadOnlyList<PrinterColumn> Columns { get; init; } = [];

    /// <summary>Per served version, the schema validator (custom resources only).</summary>
    public IReadOnlyDictionary<string, ISchemaValidator> Validators { get; init; } = new Dictionary<string, ISchemaValidator>();

    /// <summary>Per served version, the openAPIV3Schema (custom resources only), published for kubectl explain.</summary>
    public IReadOnlyDictionary<string, System.Text.Json.Nodes.JsonObject> Schemas { get; init; } = new Dictionary<string, System.Text.Json.Nodes.JsonObject>();

    /// <summary>The storage key shared by every version: group/plural.</summary>
    public string Key => $"{Group}/{Plural}";

    /// <summary>The name kube-apiserver uses in messages: plural for core, plural.group otherwise.</summary>
    public string QualifiedName => Group.Length == 0 ? Plural : $"{Plural}.{Group}";

    public string ListKind => Kind + "List";

    public string ApiVersion(string version) => Group.Length == 0 ? version : $"{Group}/{version}";
}
