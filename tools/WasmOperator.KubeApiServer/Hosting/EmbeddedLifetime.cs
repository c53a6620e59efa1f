using Microsoft.Extensions.Hosting;

namespace WasmOperator.KubeApiServer.Hosting;

/// <summary>
/// A host lifetime that leaves Ctrl-C and SIGTERM to the embedding process (a test host, the operator's tests):
/// the server stops when it is disposed, not when the process is signalled.
/// </summary>
internal sealed class EmbeddedLifetime : IHostLifetime
{
    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
