using WasmOperator.ProxyWasm.Runtime;

namespace WasmOperator.ProxyWasm.Tests.Support;

/// <summary>One runtime for tests that do not depend on process-wide state (metrics, queues).</summary>
internal static class SharedRuntime
{
    public static ProxyWasmRuntime Instance { get; } = new();
}
