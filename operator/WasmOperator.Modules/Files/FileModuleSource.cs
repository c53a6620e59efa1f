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
            // A root such as "/" keeps its separator after trimming; appending another would match nothing.
            var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root));
            if (!Path.EndsInDirectorySeparator(full))
            {
                full += Path.DirectorySeparatorChar;
            }

            if (path.StartsWith(full, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }
}
