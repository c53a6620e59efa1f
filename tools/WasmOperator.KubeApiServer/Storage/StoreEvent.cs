using System.Text.Json.Nodes;

namespace WasmOperator.KubeApiServer.Storage;

/// <summary>One change in the store, as a watch sees it. Objects are frozen: never mutate them.</summary>
internal sealed record StoreEvent(string Type, string ResourceKey, JsonObject Object, JsonObject? OldObject, long Revision);
