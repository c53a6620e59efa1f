using System.Text.Json.Nodes;

namespace WasmOperator.KubeApiServer.Storage;

/// <summary>What a transaction decided: keep the object as is, store a new version, or remove it.</summary>
internal sealed record StoreChange(StoreChangeKind Kind, JsonObject? Object)
{
    public static StoreChange Keep(JsonObject? current) => new(StoreChangeKind.Keep, current);

    public static StoreChange Put(JsonObject obj) => new(StoreChangeKind.Put, obj);

    public static StoreChange Remove(JsonObject last) => new(StoreChangeKind.Remove, last);
}
