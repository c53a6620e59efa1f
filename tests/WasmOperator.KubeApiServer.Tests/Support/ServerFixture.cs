using WasmOperator.KubeApiServer.Hosting;

namespace WasmOperator.KubeApiServer.Tests.Support;

/// <summary>One local API server on a free loopback port, with the test CRD installed, and a kubectl for it.</summary>
internal sealed class ServerFixture : IAsyncDisposable
{
    private ServerFixture(LocalKubeApiServer server)
    {
        Server = server;
        Kubectl = new Kubectl(server);
    }

    public LocalKubeApiServer Server { get; }

    public Kubectl Kubectl { get; }

    public static async Task<ServerFixture> StartAsync(LocalKubeApiServerOptions? options = null, bool installCrd = true)
    {
        var server = await LocalKubeApiServer.StartAsync(options ?? new LocalKubeApiServerOptions());
        var fixture = new ServerFixture(server);
        if (installCrd)
        {
            (await fixture.Kubectl.RunAsync("apply", "-f", Kubectl.TestData("widget-crd.yaml"))).ShouldSucceed();
        }

        return fixture;
    }

    public async ValueTask DisposeAsync()
    {
        Kubectl.Dispose();
        await Server.DisposeAsync();
    }
}
