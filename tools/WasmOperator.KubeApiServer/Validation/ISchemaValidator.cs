using System.Text.Json.Nodes;

namespace WasmOperator.KubeApiServer.Validation;

/// <summary>Prunes, defaults and validates a custom resource against its CRD schema.</summary>
internal interface ISchemaValidator
{
    /// <summary>Returns the pruned and defaulted copy and the field errors (empty when valid).</summary>
    SchemaValidationResult Validate(JsonObject obj, JsonObject? oldObj);
}
