using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using WasmOperator.Benchmarks;

if (args is ["--soak", ..])
{
    // Steady-state check: per-request wall and thread-CPU time of the add_header lifecycle over
    // successive batches (`--soak [requests per batch] [wat] [open=N]`). Thread-CPU time is what to compare
    // on a loaded machine: time spent while other processes run is not counted. `open=N` keeps N other
    // streams open on the same VM during the run, as the requests in flight on a shard under load.
    var perBatch = args.Length > 1 && int.TryParse(args[1], System.Globalization.CultureInfo.InvariantCulture, out var n) ? n : 10_000;
    var wat = args.Contains("wat");
    var open = args.Where(a => a.StartsWith("open=", StringComparison.Ordinal))
        .Select(a => int.Parse(a["open=".Length..], System.Globalization.CultureInfo.InvariantCulture)).LastOrDefault();
    var benchmarks = new ProxyWasmBenchmarks();
    benchmarks.Setup();
    benchmarks.HoldOpenStreams(open, wat);
    var cpuPerRequest = new List<double>();
    var minWall = double.MaxValue;
    for (var batch = 0; batch < 7; batch++)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var cpu = ThreadCpu.Microseconds();
        for (var i = 0; i < perBatch; i++)
        {
            if (wat)
            {
                benchmarks.AddHeaderWatRequestLifecycle();
            }
            else
            {
                benchmarks.AddHeaderRequestLifecycle();
            }
        }

        var cpuUs = (ThreadCpu.Microseconds() - cpu) / perBatch;
        var wallUs = watch.Elapsed.TotalMicroseconds / perBatch;
        cpuPerRequest.Add(cpuUs);
        minWall = Math.Min(minWall, wallUs);
        Console.WriteLine($"batch {batch}: {wallUs:F2} us/request wall, {cpuUs:F2} us/request thread CPU");
    }

    cpuPerRequest.Sort();
    // On a shared machine the fastest batch is the best estimate of the uncontended cost.
    Console.WriteLine($"fastest batch: {minWall:F2} us/request wall; median thread CPU: {cpuPerRequest[cpuPerRequest.Count / 2]:F2} us/request");
    benchmarks.Cleanup();
    return;
}

// In-process short runs: no extra project build on a shared 2-core machine; numbers are indicative.
var config = DefaultConfig.Instance
    .AddJob(Job.ShortRun.WithToolchain(InProcessEmitToolchain.Instance))
    .AddDiagnoser(MemoryDiagnoser.Default)
    .WithOptions(ConfigOptions.DisableOptimizationsValidator);
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, config);
