using WasmOperator.ProxyWasm.Runtime;

namespace WasmOperator.Benchmarks;

/// <summary>CPU time of the calling thread (Linux CLOCK_THREAD_CPUTIME_ID), for comparisons on a shared machine.</summary>
internal static class ThreadCpu
{
    public static double Microseconds() => ThreadCpuClock.Nanoseconds() is { } ns ? ns / 1e3 : double.NaN;
}
