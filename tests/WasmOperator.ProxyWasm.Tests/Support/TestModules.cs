using System.Diagnostics;
using Wasmtime;

namespace WasmOperator.ProxyWasm.Tests.Support;

/// <summary>Locates the AssemblyScript example plugins (built by examples/plugins/build.sh) and WAT fixtures.</summary>
internal static class TestModules
{
    private static readonly Lock BuildGate = new();
    private static bool _built;

    public static string RepoRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !Directory.Exists(Path.Combine(dir.FullName, "examples", "plugins")))
            {
                dir = dir.Parent;
            }

            return dir?.FullName ?? throw new InvalidOperationException("cannot find the repository root (examples/plugins) above " + AppContext.BaseDirectory);
        }
    }

    /// <summary>The bytes of examples/plugins/&lt;name&gt;/build/plugin.wasm, running build.sh once if needed.</summary>
    public static byte[] Plugin(string name)
    {
        var plugins = Path.Combine(RepoRoot, "examples", "plugins");
        var path = Path.Combine(plugins, name, "build", "plugin.wasm");
        lock (BuildGate)
        {
            if (!_built)
            {
                _built = true;
                if (Directory.Exists(Path.Combine(plugins, "node_modules")))
                {
                    using var build = Process.Start(new ProcessStartInfo(Path.Combine(plugins, "build.sh")) { RedirectStandardOutput = true, RedirectStandardError = true })
                        ?? throw new InvalidOperationException("cannot start examples/plugins/build.sh");
                    build.WaitForExit();
                }
            }
        }

        if (!File.Exists(path))
        {
            throw new InvalidOperationException($"{path} is missing: run 'npm ci' and ./build.sh in examples/plugins (make plugins)");
        }

        return File.ReadAllBytes(path);
    }

    /// <summary>A WAT fixture from Fixtures/, converted to Wasm by Wasmtime.</summary>
    public static byte[] Wat(string name) =>
        Module.ConvertText(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", name + ".wat"))).ToArray();
}
