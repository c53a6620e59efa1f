namespace WasmOperator.KubeApiServer.Storage;

internal enum StoreChangeKind
{
    Keep,
    Put,
    Remove,
}
