using System.Text.Json.Nodes;
using WasmOperator.Validation;

namespace WasmOperator.KubeApiServer.Validation;

/// <summary>Builds the validator for one version of a CRD (null when that version has no schema).</summary>
internal static class SchemaValidatorFactory
{
    public static ISchemaValidator? Create(JsonObject crd, string version)
    {
        if (crd["spec"]?["versions"] is not JsonArray versions
            || !versions.Any(v => v?["name"]?.GetValue<string>() == version && v["schema"]?["openAPIV3Schema"] is not null))
        {
            return null;
        }

        var validator = CrdSchemaValidator.FromCrd(crd, version);
        var group = crd["spec"]!["group"]!.GetValue<string>();
        var kind = crd["spec"]!["names"]!["kind"]!.GetValue<string>();
        return new CrdSchemaValidatorAdapter(validator, group, kind);
    }
}
