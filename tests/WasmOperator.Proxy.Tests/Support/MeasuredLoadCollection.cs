namespace WasmOperator.Proxy.Tests.Support;

/// <summary>
/// Tests that measure a request rate run alone, after the parallel ones, so their own load is
/// what they measure rather than the other tests' proxies.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MeasuredLoadCollection
{
    public const string Name = "measured load";
}
