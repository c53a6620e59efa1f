using WasmOperator.ProxyWasm.Runtime;

namespace WasmOperator.ProxyWasm.Tests.Runtime;

/// <summary>
/// <see cref="ProxyWasmRuntimeOptions.Profiling"/>: with the perf map on, a profile of the process names a plugin's
/// functions; off, the runtime publishes nothing. The map is removed after each test: only this class turns the profiler on.
/// </summary>
public sealed class WasmProfilingTests : IDisposable
{
    private static readonly string PerfMap = $"/tmp/perf-{Environment.ProcessId}.map";

    /// <summary>A module whose one function carries <paramref name="name"/> in its name section.</summary>
    private static byte[] Named(string name) => Wasmtime.Module.ConvertText($$"""
        (module
          (memory (export "memory") 1)
          (func (export "malloc") (param i32) (result i32) i32.const 1024)
          (func ${{name}} (export "proxy_abi_version_0_2_0")))
        """).ToArray();

    private static string Unique(string prefix) => prefix + "_" + Guid.NewGuid().ToString("N");

    private static string MapText() => File.Exists(PerfMap) ? File.ReadAllText(PerfMap) : "";

    public void Dispose() => File.Delete(PerfMap);

    [Fact]
    public void With_the_perf_map_a_compiled_guest_function_is_listed_by_its_name()
    {
        var name = Unique("profiled");
        using var runtime = new ProxyWasmRuntime(new ProxyWasmRuntimeOptions { Profiling = WasmProfiling.PerfMap });

        runtime.Compile(Named(name));

        Assert.Contains(name, MapText(), StringComparison.Ordinal);
    }

    [Fact]
    public void Without_it_nothing_of_the_guest_is_published()
    {
        var name = Unique("unprofiled");
        using var runtime = new ProxyWasmRuntime();

        runtime.Compile(Named(name));

        Assert.DoesNotContain(name, MapText(), StringComparison.Ordinal);
    }
}
