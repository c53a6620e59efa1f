using System.Text.Json.Nodes;
using WasmOperator.Validation;

namespace WasmOperator.KubeApiServer.Validation;

/// <summary>Runs the shared CRD validation library and words failures as kube-apiserver's 422 Status.</summary>
internal sealed class CrdSchemaValidatorAdapter(CrdSchemaValidator validator, string group, string kind) : ISchemaValidator
{
    public SchemaValidationResult Validate(JsonObject obj, JsonObject? oldObj)
    {
        var result = validator.Validate(obj, oldObj);
        // kube-apiserver never prunes or defaults ObjectMeta from the CRD schema, even when it declares
        // `metadata: {type: object}` (as crds/wasmplugin.yaml does): keep the metadata as received.
        var admitted = result.Object;
        admitted["metadata"] = obj["metadata"]?.DeepClone();
        if (result.IsValid)
        {
            return new SchemaValidationResult(admitted, null, result.PrunedFields);
        }

        var name = obj["metadata"]?["name"]?.GetValue<string>() ?? string.Empty;
        return new SchemaValidationResult(admitted, InvalidStatus.Build(kind, group, name, result.Errors), result.PrunedFields);
    }
}
