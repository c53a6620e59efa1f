using System.Text.Json.Nodes;
using WasmOperator.Validation;

namespace WasmOperator.KubeApiServer.Validation;

/// <summary>Runs the shared CRD validation library and words failures as kube-apiserver's 422 Status.</summary>
internal sealed class CrdSchemaValidatorAdapter(CrdSchemaValidator validator, string group, string kind) : ISchemaValidator
{
    public SchemaValidationResult Validate(JsonObject obj, JsonObject? oldObj)
    {
        var result = validator.Validate(obj, oldObj);
        if (result.IsValid)
        {
            return new SchemaValidationResult(result.Object, null);
        }

        var name = obj["metadata"]?["name"]?.GetValue<string>() ?? string.Empty;
        return new SchemaValidationResult(result.Object, InvalidStatus.Build(kind, group, name, result.Errors));
    }
}
