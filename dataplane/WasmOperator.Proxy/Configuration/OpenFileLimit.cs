using System.Runtime.InteropServices;

namespace WasmOperator.Proxy.Configuration;

/// <summary>
/// The process's open-file limit (RLIMIT_NOFILE) and the client connections it leaves room for. Every client connection,
/// upstream connection and callout holds a descriptor; when none is left, Kestrel retries accept() in a tight loop and
/// the runtime, unable to open anything, aborts the whole process. So the soft limit is raised to the hard one at start
/// (as Go programs do), and client connections are capped below it: a connection past the cap is closed on arrival, as
/// nginx stops accepting at worker_connections and Envoy at its overload manager's connection limit.
/// </summary>
internal static class OpenFileLimit
{
    /// <summary>Descriptors kept for everything but connections: the runtime, the admin listener, modules, the plugin file.</summary>
    public const long Reserve = 256;

    private const int RlimitNofile = 7;

    /// <summary>Raises the soft limit to the hard one; returns (before, after), or null where it cannot be read (not Linux).</summary>
    public static (long Before, long After)? Raise()
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        try
        {
            return RaiseOnLinux();
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            // A libc this name does not resolve to (a musl image): run with the limit as it is, uncapped.
            return null;
        }
    }

    private static (long Before, long After)? RaiseOnLinux()
    {
        if (getrlimit(RlimitNofile, out var limit) != 0)
        {
            return null;
        }

        var before = (long)Math.Min(limit.Current, long.MaxValue);
        if (limit.Current < limit.Maximum)
        {
            var raised = limit with { Current = limit.Maximum };
            if (setrlimit(RlimitNofile, in raised) == 0)
            {
                return (before, (long)Math.Min(limit.Maximum, long.MaxValue));
            }
        }

        return (before, before);
    }

    /// <summary>
    /// Client connections per listener that fit in <paramref name="openFiles"/> descriptors. Kestrel counts each data
    /// listener (HTTP/1.1, h2c) and the upgraded connections apart, so three such counts may fill up together; each
    /// connection may need an upstream one too: a sixth of what the reserve leaves.
    /// </summary>
    public static int MaxConnectionsFor(long openFiles) => (int)Math.Clamp((openFiles - Reserve) / 6, 16, 1_000_000);

    [StructLayout(LayoutKind.Sequential)]
    private readonly record struct Rlimit(ulong Current, ulong Maximum);

#pragma warning disable SYSLIB1054 // LibraryImport needs unsafe code in this project; the struct is blittable.
    [DllImport("libc", SetLastError = true)]
    private static extern int getrlimit(int resource, out Rlimit limit);

    [DllImport("libc", SetLastError = true)]
    private static extern int setrlimit(int resource, in Rlimit limit);
#pragma warning restore SYSLIB1054
}
