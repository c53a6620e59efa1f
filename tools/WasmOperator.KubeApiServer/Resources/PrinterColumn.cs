using System.Text.Json.Nodes;

namespace WasmOperator.KubeApiServer.Resources;

/// <summary>One column of a Table response: its definition and how to compute its cell from an object.</summary>
internal sealed record PrinterColumn(string Name, string Type, string Format, string Description, int Priority, Func<JsonObject, JsonNode?> Cell);
