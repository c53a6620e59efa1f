using WasmOperator.ProxyWasm.Host;
using WasmOperator.ProxyWasm.Runtime;

namespace WasmOperator.ProxyWasm.Plugins;

/// <summary>The outcome of one stream callback.</summary>
/// <param name="Status">What to do next.</param>
/// <param name="Action">The raw action the plugin returned (0 continue, 1 pause, 2-4 C++/AS variants).</param>
/// <param name="LocalResponse">Set when <paramref name="Status"/> is <see cref="FilterStatus.LocalResponse"/>.</param>
/// <param name="Failure">Set when <paramref name="Status"/> is <see cref="FilterStatus.Failed"/>.</param>
/// <param name="LocalResponse">The plugin's local reply; with <see cref="FilterStatus.Failed"/>, one it asked for in the call before it failed.</param>
public readonly record struct FilterResult(FilterStatus Status, int Action, LocalResponse? LocalResponse, PluginFailure? Failure)
{
    internal static FilterResult FromAction(int action) => new(action == 0 ? FilterStatus.Continue : FilterStatus.Pause, action, null, null);

    /// <summary>
    /// A header callback's action: 2 (ContinueAndEndStream in the C++ and AssemblyScript SDKs) continues, as Envoy's
    /// convertFilterHeadersStatus sends it to its default branch (Continue); every other non-zero value pauses.
    /// </summary>
    internal static FilterResult FromHeadersAction(int action) => new(action is 0 or 2 ? FilterStatus.Continue : FilterStatus.Pause, action, null, null);

    internal static FilterResult Local(LocalResponse response) => new(FilterStatus.LocalResponse, 0, response, null);

    internal static FilterResult Failed(PluginFailure failure) => new(FilterStatus.Failed, 0, null, failure);
}
