namespace WasmOperator.ProxyWasm.Plugins;

/// <summary>What the proxy should do after a stream callback.</summary>
public enum FilterStatus
{
    /// <summary>Continue to the next filter / upstream.</summary>
    Continue,
    /// <summary>Stop iteration: for headers wait for <c>ContinueStream</c>; for bodies buffer and call again with the cumulative size.</summary>
    Pause,
    /// <summary>The plugin sent a local response (<see cref="FilterResult.LocalResponse"/>); stop processing.</summary>
    LocalResponse,
    /// <summary>The VM failed (<see cref="FilterResult.Failure"/>); apply the plugin's fail strategy.</summary>
    Failed,
}
