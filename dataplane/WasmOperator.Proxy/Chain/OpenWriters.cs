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

        var file = Identity(path);
        foreach (var process in Processes())
        {
            if (HoldsForWriting(process, target, file))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// The file's mount and inode, as fdinfo gives them for a descriptor of it (a hard link's writer names another path);
    /// null where fdinfo has no <c>ino:</c> (kernels before 5.14: then only its path is matched).
    /// </summary>
    private static (long Mount, long Inode)? Identity(string path)
    {
        try
        {
            using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            var info = Read($"/proc/self/fdinfo/{handle.DangerousGetHandle()}");
            return info.Inode is { } inode && info.Mount is { } mount ? (mount, inode) : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
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

    private static bool HoldsForWriting(string process, string target, (long Mount, long Inode)? file)
    {
        if (!int.TryParse(Path.GetFileName(process), NumberStyles.None, CultureInfo.InvariantCulture, out _))
        {
            return false;
        }

        try
        {
            foreach (var descriptor in Directory.EnumerateFileSystemEntries(Path.Combine(process, "fd")))
            {
                // Files only (sockets, pipes and the like name no path); the same path, or the same file by another.
                var link = new FileInfo(descriptor).LinkTarget;
                if (link is null || !link.StartsWith('/') || (link != target && file is null))
                {
                    continue;
                }

                var info = Read(Path.Combine(process, "fdinfo", Path.GetFileName(descriptor)));
                if ((info.Flags & AccessModeMask) != 0 && (link == target || (info.Mount, info.Inode) == file))
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

    /// <summary>A descriptor's fdinfo: its open flags (octal), mount id and inode (the last two absent on old kernels).</summary>
    private static (long Flags, long? Mount, long? Inode) Read(string fdinfo)
    {
        long flags = 0;
        long? mount = null, inode = null;
        foreach (var line in File.ReadLines(fdinfo))
        {
            if (line.StartsWith("flags:", StringComparison.Ordinal))
            {
                flags = Convert.ToInt64(line["flags:".Length..].Trim(), 8);
            }
            else if (line.StartsWith("mnt_id:", StringComparison.Ordinal))
            {
                mount = long.Parse(line["mnt_id:".Length..].Trim(), CultureInfo.InvariantCulture);
            }
            else if (line.StartsWith("ino:", StringComparison.Ordinal))
            {
                inode = long.Parse(line["ino:".Length..].Trim(), CultureInfo.InvariantCulture);
            }
        }

        return (flags, mount, inode);
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
