namespace WasmOperator.Proxy.Tests.Support;

/// <summary>Module files for plugin specs: the AssemblyScript examples (make plugins) and the WAT fixtures.</summary>
internal static class TestModules
{
    private static readonly Lock Gate = new();

    public static string RepoRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !Directory.Exists(Path.Combine(dir.FullName, "examples", "plugins")))
            {
                dir = dir.Parent;
            }

            return dir?.FullName ?? throw new InvalidOperationException("cannot find the repository root above " + AppContext.BaseDirectory);
        }
    }

    /// <summary>examples/plugins/&lt;name&gt;/build/plugin.wasm (run `make plugins` if missing).</summary>
    public static string Example(string name)
    {
        var path = Path.Combine(RepoRoot, "examples", "plugins", name, "build", "plugin.wasm");
        return File.Exists(path) ? path : throw new InvalidOperationException($"{path} is missing: run `make plugins`");
    }

    /// <summary>Fixtures/&lt;name&gt;.wat compiled to a .wasm file next to it (again when the .wat is newer).</summary>
    public static string Wat(string name)
    {
        var wat = Path.Combine(AppContext.BaseDirectory, "Fixtures", name + ".wat");
        var wasm = Path.Combine(AppContext.BaseDirectory, "Fixtures", name + ".wasm");
        lock (Gate)
        {
            if (!File.Exists(wasm) || File.GetLastWriteTimeUtc(wasm) < File.GetLastWriteTimeUtc(wat))
            {
                var bytes = Wasmtime.Module.ConvertText(File.ReadAllText(wat)).ToArray();
                File.WriteAllBytes(wasm, bytes);
            }
        }

        return wasm;
    }

    /// <summary>A YAML list item for the plugin file; <paramref name="extra"/> holds more fields, one per line.</summary>
    /// <summary>
    /// The auth example's config for the harness's authorizer, with a callout timeout a loaded full run cannot reach: the
    /// example's default 1 s was passed by a first callout now and then, and the 504 read as a denial (401).
    /// </summary>
    public const string AuthzConfig = "pluginConfig: {cluster: authz, timeoutMs: 30000}";

    public static string Plugin(string name, string wasmPath, string rootId, string? config = null, string extra = "")
    {
        var text = $"- name: {name}\n  url: file://{wasmPath}\n  pluginName: {rootId}\n";
        if (config is not null)
        {
            text += $"  pluginConfig: \"{config}\"\n";
        }

        foreach (var line in extra.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            text += "  " + line + "\n";
        }

        return text;
    }

    /// <summary>A whole plugin file; with no plugins, 'plugins: []' (a bare 'plugins:' is refused as a write in progress).</summary>
    public static string Yaml(params string[] plugins) => plugins.Length == 0 ? "plugins: []\n" : "plugins:\n" + string.Concat(plugins);
}
