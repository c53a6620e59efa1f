using System.Globalization;
using System.Runtime.InteropServices;

namespace WasmOperator.Proxy.Chain;

/// <summary>
/// Whether some process has a file open for writing, read from <c>/proc</c> (Linux): a file written in place by a writer
/// that paused (an editor, <c>cat &gt;</c>, a copy stalled on a slow disk) is not whole yet, however long it has kept
/// still. Best effort: processes this one may not inspect (another user's, without privileges) are not seen, and on other
/// systems nothing is. The scan reads every process's descriptors, so it is made only when a changed file has settled.
/// </summary>
internal static class OpenWriters
{
    private const int AccessModeMask = 3; // O_ACCMODE: O_RDONLY 0, O_WRONLY 1, O_RDWR 2

    /// <summary>True when a process we can inspect holds <paramref name="path"/> (after its links) open for writing.</summary>
    public static bool Any(string path)
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }

        if (RealPath(path) is not { } target)
        {
            return false;
        }

        foreach (var process in Processes())
        {
            if (HoldsForWriting(process, target))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// The path with every link resolved, its directories' too (a ConfigMap volume's <c>..data</c>), as <c>/proc</c> names
    /// an open file; null when it does not resolve.
    /// </summary>
    private static string? RealPath(string path)
    {
        var resolved = Native.RealPath(path, IntPtr.Zero);
        if (resolved == IntPtr.Zero)
        {
            return null;
        }

        try
        {
            return Marshal.PtrToStringUTF8(resolved);
        }
        finally
        {
            Native.Free(resolved);
        }
    }

    private static IEnumerable<string> Processes()
    {
        try
        {
            return Directory.EnumerateDirectories("/proc");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    private static bool HoldsForWriting(string process, string target)
    {
        if (!int.TryParse(Path.GetFileName(process), NumberStyles.None, CultureInfo.InvariantCulture, out _))
        {
            return false;
        }

        try
        {
            foreach (var descriptor in Directory.EnumerateFileSystemEntries(Path.Combine(process, "fd")))
            {
                if (new FileInfo(descriptor).LinkTarget == target && OpenForWriting(Path.Combine(process, "fdinfo", Path.GetFileName(descriptor))))
                {
                    return true;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Gone meanwhile, or not ours to inspect.
        }

        return false;
    }

    /// <summary>The descriptor's open flags (fdinfo's <c>flags:</c>, octal) allow writing.</summary>
    private static bool OpenForWriting(string fdinfo)
    {
        foreach (var line in File.ReadLines(fdinfo))
        {
            if (line.StartsWith("flags:", StringComparison.Ordinal))
            {
                var flags = Convert.ToInt64(line["flags:".Length..].Trim(), 8);
                return (flags & AccessModeMask) != 0;
            }
        }

        return false;
    }

    private static class Native
    {
#pragma warning disable SYSLIB1054 // LibraryImport needs unsafe code in this project.
        [DllImport("libc", EntryPoint = "realpath")]
        public static extern IntPtr RealPath([MarshalAs(UnmanagedType.LPUTF8Str)] string path, IntPtr resolved);

        [DllImport("libc", EntryPoint = "free")]
        public static extern void Free(IntPtr pointer);
#pragma warning restore SYSLIB1054
    }
}
