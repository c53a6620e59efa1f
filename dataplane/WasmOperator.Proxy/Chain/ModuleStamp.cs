namespace WasmOperator.Proxy.Chain;

/// <summary>
/// A file's identity as a stat sees it: the file its path resolves to through every symlink on the way, its size and
/// its last write time (Length -1: missing or unreadable). Of the file itself, not of a link to it: kubelet mounts a
/// ConfigMap's keys as links into <c>..data</c>, a link it swaps by rename to a new directory, so a new module leaves
/// the key's link (its length and time) as it was, and may come with the old one's size and time too (a ConfigMap
/// from the same build, files unpacked with their times kept); the directory it resolves to is new every time.
/// </summary>
internal readonly record struct ModuleStamp(string Path, string Target, long Length, DateTime LastWriteUtc)
{
    /// <summary>Links followed before a path counts as a loop, as Linux's MAXSYMLINKS.</summary>
    private const int MaxLinks = 40;

    public static ModuleStamp Of(string path)
    {
        try
        {
            var target = Resolve(path);
            var info = new FileInfo(target);
            return info.Exists ? new ModuleStamp(path, target, info.Length, info.LastWriteTimeUtc) : Missing(path, target);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            return Missing(path, path);
        }
    }

    private static ModuleStamp Missing(string path, string target) => new(path, target, -1, default);

    /// <summary>
    /// <paramref name="path"/> with every symlink along it followed, as realpath(3) does (a <c>..</c> after a link
    /// climbs from where the link led); a part that does not exist is kept as written. A readlink per part: a module
    /// path has a handful.
    /// </summary>
    private static string Resolve(string path)
    {
        var full = System.IO.Path.GetFullPath(path);
        var root = System.IO.Path.GetPathRoot(full) ?? "/";
        var resolved = root;
        var pending = new Stack<string>();
        Push(pending, full[root.Length..]);
        var links = 0;
        while (pending.TryPop(out var part))
        {
            if (part.Length == 0 || part == ".")
            {
                continue;
            }

            if (part == "..")
            {
                resolved = System.IO.Path.GetDirectoryName(resolved) ?? root;
                continue;
            }

            var next = System.IO.Path.Join(resolved, part);
            var link = new FileInfo(next).LinkTarget;
            if (link is null)
            {
                resolved = next;
                continue;
            }

            if (++links > MaxLinks)
            {
                throw new IOException($"{path}: too many levels of symbolic links");
            }

            if (System.IO.Path.IsPathRooted(link))
            {
                resolved = root;
            }

            Push(pending, link);
        }

        return resolved;

        static void Push(Stack<string> pending, string relative)
        {
            var parts = relative.Split('/');
            for (var i = parts.Length - 1; i >= 0; i--)
            {
                pending.Push(parts[i]);
            }
        }
    }
}
