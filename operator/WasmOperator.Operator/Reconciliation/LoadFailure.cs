using System.Text.RegularExpressions;

namespace WasmOperator.Operator.Reconciliation;

/// <summary>
/// What a user can act on in the Proxy-Wasm runtime's load failure: the callback that failed, its one-line detail and
/// what the plugin logged. The runtime's message is for the proxy's log: it names the check's own plugin and carries
/// Wasmtime's wasm backtrace over several lines, none of which belongs in a status condition or an event.
/// </summary>
internal sealed partial record LoadFailure(string? Callback, string Detail, string? Logged)
{
    private const string LoggedMarker = "; the plugin logged: ";

    public static LoadFailure Parse(string message)
    {
        string? logged = null;
        var at = message.LastIndexOf(LoggedMarker, StringComparison.Ordinal);
        if (at >= 0)
        {
            logged = SourceLocation().Replace(FirstLine(message[(at + LoggedMarker.Length)..]), "");
            message = message[..at];
        }

        message = StartPrefix().Replace(message, "");
        string? callback = null;
        if (Function().Match(message) is { Success: true } function)
        {
            callback = function.Groups["callback"].Value;
            message = message[function.Length..];
        }

        return new LoadFailure(callback, Backtrace().Replace(FirstLine(message), "").TrimEnd(' ', ';', ':'), logged);
    }

    /// <summary>One line: "proxy_on_vm_start failed: detail; the plugin logged "…"".</summary>
    public override string ToString() =>
        (Callback is null ? Detail : $"{Callback} failed: {Detail}") + (Logged is null ? "" : $"; the plugin logged \"{Logged}\"");

    private static string FirstLine(string text)
    {
        var end = text.IndexOf('\n', StringComparison.Ordinal);
        return (end < 0 ? text : text[..end]).Trim();
    }

    // "plugin 'module-check' (root id 'x', module sha256:…) failed to start: ": the status names the root id and module itself.
    [GeneratedRegex(@"^plugin '[^']*' \(root id '.*?', module \S+\) (failed to start|cannot start): ")]
    private static partial Regex StartPrefix();

    [GeneratedRegex(@"^Function: (?<callback>\S+) failed \(\w+\): ")]
    private static partial Regex Function();

    // Wasmtime's "error while executing at wasm backtrace:" ends the line the frames follow.
    [GeneratedRegex(@";?\s*(error while executing at )?wasm backtrace:?\s*$")]
    private static partial Regex Backtrace();

    // AssemblyScript's abort appends " at: ~lib/file.ts(991:5)", the SDK's source line.
    [GeneratedRegex(@"\s+at: \S+\(\d+:\d+\)$")]
    private static partial Regex SourceLocation();
}
