using WasmOperator.Modules.Failures;
using WasmOperator.Modules.Verification;

namespace WasmOperator.Modules.Files;

/// <summary>Reads a module from a <c>file://</c> URL inside one of the allowed roots.</summary>
internal sealed class FileModuleSource(ModuleFetcherOptions options)
{
    public async Task<HashingCopy.Outcome> CopyAsync(string url, Uri uri, string destination, CancellationToken cancellationToken)
    {
        var path = Path.GetFullPath(uri.LocalPath);
        if (!IsUnderAllowedRoot(path))
        {
            throw new InvalidModuleUrlException(url, options.AllowedFileRoots.Count == 0
                ? "file:// modules are disabled; add the module's directory to the operator's --allowed-file-roots (env WASMOP_ALLOWED_FILE_ROOTS), for development only"
                : $"{path} is outside the allowed directories ({string.Join(", ", options.AllowedFileRoots)}); add its directory to the operator's --allowed-file-roots (env WASMOP_ALLOWED_FILE_ROOTS)");
        }

        try
        {
            await using var source = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 81920, useAsync: true);
            // The roots hold for the file read, not for the name in the url: a link inside a root to /etc/passwd was read.
            // Checked on the file opened, so a link changed between a check and the open changes nothing.
            var target = OpenedPath(source, path);
            if (target != path && !IsUnderAllowedRoot(target))
            {
                throw new InvalidModuleUrlException(url,
                    $"{path} is a symbolic link to {target}, which is outside the allowed directories ({string.Join(", ", options.AllowedFileRoots)}); --allowed-file-roots (env WASMOP_ALLOWED_FILE_ROOTS) holds for the file a link points to: link to a file inside them, or add {Path.GetDirectoryName(target)} to it");
            }

            if (source.Length > options.MaxModuleBytes)
            {
                throw options.TooLarge(url, source.Length);
            }

            var outcome = await HashingCopy.CopyAsync(source, destination, options.MaxModuleBytes, cancellationToken);
            return outcome.LimitExceeded ? throw options.TooLarge(url, outcome.Size) : outcome;
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException)
        {
            throw new DownloadFailureException(url, $"cannot read {path}: {ex.Message}", ex);
        }
    }

    private bool IsUnderAllowedRoot(string path)
    {
        foreach (var root in options.AllowedFileRoots)
        {
            // A root that is itself a link (or under one) allows the files where it points.
            var full = Path.GetFullPath(root);
            if (IsUnder(path, full) || IsUnder(path, ResolveLinks(full)))
            {
                return true;
            }
        }

        return false;
    }

    private static bool IsUnder(string path, string root)
    {
        // A root such as "/" keeps its separator after trimming; appending another would match nothing.
        var full = Path.TrimEndingDirectorySeparator(root);
        if (!Path.EndsInDirectorySeparator(full))
        {
            full += Path.DirectorySeparatorChar;
        }

        return path.StartsWith(full, StringComparison.Ordinal);
    }

    /// <summary>The path of the file <paramref name="source"/> has open, every link resolved (Linux: the kernel's own answer).</summary>
    private static string OpenedPath(FileStream source, string path)
    {
        if (OperatingSystem.IsLinux()
            && File.ResolveLinkTarget($"/proc/self/fd/{source.SafeFileHandle.DangerousGetHandle()}", returnFinalTarget: false) is { } opened)
        {
            return opened.FullName;
        }

        return ResolveLinks(path);
    }

    /// <summary><paramref name="path"/> (absolute, normalized) with the links among its components resolved, as far as they exist.</summary>
    private static string ResolveLinks(string path)
    {
        var root = Path.GetPathRoot(path) ?? string.Empty;
        var parts = new Queue<string>(path[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries));
        var resolved = root;
        for (var links = 0; parts.TryDequeue(out var part);)
        {
            var next = Path.Combine(resolved, part);
            if (new FileInfo(next).LinkTarget is not { } target || ++links > 40)
            {
                resolved = next;
                continue;
            }

            // Start again from the target: the components of the link's target may be links themselves.
            var full = Path.GetFullPath(target, resolved);
            var rest = parts.ToArray();
            parts = new Queue<string>(full[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries));
            foreach (var item in rest)
            {
                parts.Enqueue(item);
            }

            resolved = root;
        }

        return resolved;
    }
}
