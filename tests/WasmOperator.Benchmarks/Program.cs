using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using WasmOperator.Benchmarks;

if (args is ["--soak", ..])
{
    // Steady-state check: per-request time of the add_header lifecycle over successive batches.
    var benchmarks = new ProxyWasmBenchmarks();
    benchmarks.Setup();
    for (var batch = 0; batch < 5; batch++)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        for (var i = 0; i < 10_000; i++)
        {
            benchmarks.AddHeaderRequestLifecycle();
        }

        Console.WriteLine($"batch {batch}: {watch.Elapsed.TotalMicroseconds / 10_000:F2} us/request");
    }

    benchmarks.Cleanup();
    return;
}

// In-process short runs: no extra project build on a shared 2-core machine; numbers are indicative.
var config = DefaultConfig.Instance
    .AddJob(Job.ShortRun.WithToolchain(InProcessEmitToolchain.Instance))
    .AddDiagnoser(MemoryDiagnoser.Default)
    .WithOptions(ConfigOptions.DisableOptimizationsValidator);
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, config);
