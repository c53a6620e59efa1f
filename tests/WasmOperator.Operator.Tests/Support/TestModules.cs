using System.Security.Cryptography;
using Wasmtime;

namespace WasmOperator.Operator.Tests.Support;

/// <summary>Real Wasm modules written to a temporary directory and served as file:// URLs.</summary>
internal sealed class TestModules : IDisposable
{
    public TestModules()
    {
        Root = Directory.CreateTempSubdirectory("wasmop-modules-").FullName;
    }

    public string Root { get; }

    /// <summary>
    /// A minimal Proxy-Wasm 0.2.1 module; <paramref name="variant"/> changes its bytes (and digest), and
    /// <paramref name="padding"/> bytes of data make it that much bigger (for cache size tests).
    /// </summary>
    public (string Url, string Sha256) ProxyWasm(string variant, int padding = 0) => Write($"proxy-{variant}.wasm", $$"""
        (module
          (memory (export "memory") {{2 + (padding / 65536)}})
          (data (i32.const 16) "{{variant}}")
          (data (i32.const 1024) "{{new string('p', padding)}}")
          (func (export "proxy_abi_version_0_2_1"))
          (func (export "proxy_on_memory_allocate") (param i32) (result i32) (i32.const 1024))
          (func (export "proxy_on_context_create") (param i32 i32))
          (func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 1))
          (func (export "proxy_on_configure") (param i32 i32) (result i32) (i32.const 1))
          (func (export "proxy_on_done") (param i32) (result i32) (i32.const 1))
          (func (export "proxy_on_delete") (param i32)))
        """);

    /// <summary>A valid Wasm module that is not a Proxy-Wasm plugin (no ABI marker, no allocator).</summary>
    public (string Url, string Sha256) NotProxyWasm() => Write("plain.wasm", """
        (module
          (memory (export "memory") 1)
          (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1))))
        """);

    /// <summary>A module written in WebAssembly text, for checks that need a particular export or import.</summary>
    public (string Url, string Sha256) Wat(string name, string wat) => Write(name, wat);

    /// <summary>examples/plugins/&lt;name&gt;/build/plugin.wasm, copied here (run `make plugins` if it is missing).</summary>
    public (string Url, string Sha256) Example(string name)
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !Directory.Exists(Path.Combine(directory.FullName, "examples", "plugins")))
        {
            directory = directory.Parent;
        }

        var source = Path.Combine(directory?.FullName ?? throw new DirectoryNotFoundException("examples/plugins not found above " + AppContext.BaseDirectory),
            "examples", "plugins", name, "build", "plugin.wasm");
        var bytes = File.Exists(source) ? File.ReadAllBytes(source) : throw new FileNotFoundException($"{source} is missing: run `make plugins`", source);
        var path = Path.Combine(Root, $"example-{name}.wasm");
        File.WriteAllBytes(path, bytes);
        return (new Uri(path).AbsoluteUri, Convert.ToHexStringLower(SHA256.HashData(bytes)));
    }

    public string PathOf(string url) => new Uri(url).LocalPath;

    public void Dispose() => Directory.Delete(Root, recursive: true);

    private (string Url, string Sha256) Write(string name, string wat)
    {
        var bytes = Module.ConvertText(wat).ToArray();
        var path = Path.Combine(Root, name);
        File.WriteAllBytes(path, bytes);
        return (new Uri(path).AbsoluteUri, Convert.ToHexStringLower(SHA256.HashData(bytes)));
    }
}
