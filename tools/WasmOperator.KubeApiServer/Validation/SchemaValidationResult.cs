using System.Text.Json.Nodes;

namespace WasmOperator.KubeApiServer.Validation;

/// <summary>
/// The outcome of schema validation: the defaulted object, or the 422 Status to answer with, and the paths
/// of the fields pruning dropped (for fieldValidation to refuse or warn about).
/// </summary>
internal sealed record SchemaValidationResult(JsonObject Object, JsonObject? InvalidStatus, IReadOnlyList<string> PrunedFields);
