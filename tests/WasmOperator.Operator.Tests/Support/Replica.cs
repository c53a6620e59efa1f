using k8s;
using WasmOperator.Operator.Hosting;
using WasmOperator.Operator.Reconciliation;

namespace WasmOperator.Operator.Tests.Support;

/// <summary>One running operator replica with the desired state it distributes.</summary>
internal sealed class Replica(OperatorHost host, InMemoryPluginDistributor distributor, IKubernetes client) : IAsyncDisposable
{
    private int _stopped;

    public OperatorHost Host { get; } = host;

    public InMemoryPluginDistributor Desired { get; } = distributor;

    /// <summary>Graceful stop: workers finish, the lease is released.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) == 0)
        {
            await Host.DisposeAsync();
            client.Dispose();
        }
    }
}
