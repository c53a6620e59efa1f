namespace WasmOperator.Proxy.Configuration;

/// <summary>Requests whose path starts with <paramref name="PathPrefix"/> go to <paramref name="Cluster"/>.</summary>
internal sealed record RouteOption(string PathPrefix, string Cluster);
