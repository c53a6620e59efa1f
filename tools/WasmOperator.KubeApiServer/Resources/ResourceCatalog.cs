using System.Text.Json.Nodes;

namespace WasmOperator.KubeApiServer.Resources;

/// <summary>The resources being served: the built-in ones plus one per installed CRD.</summary>
internal sealed class ResourceCatalog
{
    private readonly Lock _gate = new();
    private readonly List<ResourceType> _builtIn;
    private readonly Dictionary<string, ResourceType> _custom = new(StringComparer.Ordinal);
    private readonly Func<JsonObject, string, Validation.ISchemaValidator?> _validatorFactory;

    public ResourceCatalog(Func<JsonObject, string, Validation.ISchemaValidator?> validatorFactory)
    {
        _builtIn = BuiltInResources.Create();
        _validatorFactory = validatorFactory;
    }

    public IReadOnlyList<ResourceType> All
    {
        get
        {
            lock (_gate)
            {
                return [.. _builtIn, .. _custom.Values];
            }
        }
    }

    public ResourceType? Find(string group, string version, string plural)
    {
        foreach (var type in All)
        {
            if (type.Group == group && type.Plural == plural && type.Versions.Contains(version))
            {
                return type;
            }
        }

        return null;
    }

    public ResourceType Get(string group, string plural) =>
        All.First(t => t.Group == group && t.Plural == plural);

    /// <summary>Serves (or re-serves) the resource a CRD defines; the CRD name is plural.group.</summary>
    public ResourceType AddCrd(JsonObject crd)
    {
        var type = CrdResource.FromCrd(crd, _validatorFactory);
        lock (_gate)
        {
            _custom[crd["metadata"]?["name"]?.GetValue<string>() ?? type.QualifiedName] = type;
        }

        return type;
    }

    public void RemoveCrd(string name)
    {
        lock (_gate)
        {
            _custom.Remove(name);
        }
    }
}
