using WasmOperator.Proxy.Proxying;

namespace WasmOperator.Proxy.Tests.Proxying;

/// <summary>The suite runs the proxy in the socket mode the process uses (proxy.runsettings), not the runtime default.</summary>
public sealed class SocketModeTests
{
    [Fact]
    public void Socket_completions_run_inline_on_the_event_threads_as_in_the_proxy_process() =>
        Assert.True(SocketThreads.InlineCompletions, $"{SocketThreads.InlineCompletionsVariable} is not set: run the tests through the project (proxy.runsettings)");
}
