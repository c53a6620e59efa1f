using System.Runtime.InteropServices;

namespace WasmOperator.ProxyWasm.Runtime;

/// <summary>CPU time the calling thread has run (Linux <c>CLOCK_THREAD_CPUTIME_ID</c>); a system call, so read it rarely.</summary>
internal static class ThreadCpuClock
{
    private const int ClockThreadCpuTimeId = 3;

    /// <summary>Nanoseconds of CPU the calling thread has used, or null where the clock cannot be read (not Linux).</summary>
    public static long? Nanoseconds() =>
        OperatingSystem.IsLinux() && clock_gettime(ClockThreadCpuTimeId, out var ts) == 0 ? ts.Seconds * 1_000_000_000 + ts.Nanoseconds : null;

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
