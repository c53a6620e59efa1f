using System.Runtime.InteropServices;

namespace WasmOperator.Benchmarks;

/// <summary>CPU time of the calling thread (Linux CLOCK_THREAD_CPUTIME_ID), for comparisons on a shared machine.</summary>
internal static class ThreadCpu
{
    private const int ClockThreadCpuTimeId = 3;

    public static double Microseconds()
    {
        if (!OperatingSystem.IsLinux() || clock_gettime(ClockThreadCpuTimeId, out var ts) != 0)
        {
            return double.NaN;
        }

        return ts.Seconds * 1e6 + ts.Nanoseconds / 1e3;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [DllImport("libc", EntryPoint = "clock_gettime")]
#pragma warning disable SYSLIB1054 // LibraryImport needs unsafe code in this project; the struct is blittable.
    private static extern int clock_gettime(int clockId, out Timespec value);
#pragma warning restore SYSLIB1054
}
