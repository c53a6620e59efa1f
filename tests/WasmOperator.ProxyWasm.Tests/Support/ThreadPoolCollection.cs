namespace WasmOperator.ProxyWasm.Tests.Support;

/// <summary>
/// Tests that saturate the thread pool, or read its process-wide queue length, run alone after the
/// parallel ones: other tests' work would blur what they measure, and their load would slow the others.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ThreadPoolCollection
{
    public const string Name = "thread pool";
}
