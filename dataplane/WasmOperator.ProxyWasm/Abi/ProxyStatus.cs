namespace WasmOperator.ProxyWasm.Abi;

/// <summary>Status codes host functions return (spec "WasmResult").</summary>
public enum ProxyStatus
{
    /// <summary>Success.</summary>
    Ok = 0,
    /// <summary>The key, context or element does not exist.</summary>
    NotFound = 1,
    /// <summary>An argument is invalid.</summary>
    BadArgument = 2,
    /// <summary>Serialized data could not be produced.</summary>
    SerializationFailure = 3,
    /// <summary>Serialized data could not be parsed.</summary>
    ParseFailure = 4,
    /// <summary>A pointer/size pair is outside guest memory.</summary>
    InvalidMemoryAccess = 6,
    /// <summary>The queue or buffer is empty.</summary>
    Empty = 7,
    /// <summary>Compare-and-swap value did not match.</summary>
    CasMismatch = 8,
    /// <summary>Internal host failure.</summary>
    InternalFailure = 10,
    /// <summary>Connection reset (callout failed).</summary>
    BrokenConnection = 11,
    /// <summary>Not implemented by this host.</summary>
    Unimplemented = 12,
}
