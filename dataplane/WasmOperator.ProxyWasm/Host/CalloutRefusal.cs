namespace WasmOperator.ProxyWasm.Host;

/// <summary>Why the proxy refused a callout before sending it (<see cref="CalloutRefusedException"/>).</summary>
public enum CalloutRefusal
{
    /// <summary>No cluster of that name is configured.</summary>
    UnknownCluster,

    /// <summary>The cluster has as many callouts in flight as it may (Envoy's circuit breaker overflows).</summary>
    Overflow,

    /// <summary>The request cannot be sent as asked (a gRPC authority that is no host name): BAD_ARGUMENT.</summary>
    InvalidRequest,
}
