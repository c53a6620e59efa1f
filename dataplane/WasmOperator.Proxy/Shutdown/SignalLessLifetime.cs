using Microsoft.Extensions.Hosting;

namespace WasmOperator.Proxy.Shutdown;

/// <summary>
/// A host lifetime that ignores SIGTERM and Ctrl+C: the default one stops Kestrel at once, closing every listener,
/// where <see cref="ProxyServer.RunAsync"/> first drains (and the admin listener outlives the data listeners).
/// </summary>
internal sealed class SignalLessLifetime : IHostLifetime
{
    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
