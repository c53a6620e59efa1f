namespace WasmOperator.Modules.Tests.Fixtures;

/// <summary>One anonymous registry shared by the tests of a class; each test uses its own repositories.</summary>
public sealed class RegistryFixture : IAsyncLifetime
{
    private RegistryProcess? _registry;

    internal RegistryProcess Registry => _registry ?? throw new InvalidOperationException("not started");

    public async Task InitializeAsync() => _registry = await RegistryProcess.StartAsync();

    public async Task DisposeAsync()
    {
        if (_registry is not null)
        {
            await _registry.DisposeAsync();
        }
    }
}
