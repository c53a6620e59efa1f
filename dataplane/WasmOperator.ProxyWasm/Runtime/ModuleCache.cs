using System.Security.Cryptography;
using Wasmtime;

namespace WasmOperator.ProxyWasm.Runtime;

/// <summary>
/// Disk cache of precompiled modules (<c>Module.Serialize</c>). The file name carries the module
/// digest and a key of the Wasmtime version and engine settings; the content starts with the
/// SHA-256 of the serialized bytes so a corrupt entry is detected, deleted and recompiled.
/// </summary>
internal sealed class ModuleCache(string directory, string engineKey)
{
    private const int HashLength = 32;

    public string PathFor(string digestHex) => Path.Combine(directory, $"{digestHex}-{engineKey}.cwasm");

    public Module? TryLoad(Engine engine, string digestHex)
    {
        var path = PathFor(digestHex);
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            var bytes = File.ReadAllBytes(path);
            if (bytes.Length > HashLength &&
                SHA256.HashData(bytes.AsSpan(HashLength)).AsSpan().SequenceEqual(bytes.AsSpan(0, HashLength)))
            {
                return Module.Deserialize(engine, digestHex, bytes.AsSpan(HashLength));
            }
        }
        catch (Exception ex) when (ex is IOException or WasmtimeException or UnauthorizedAccessException)
        {
            // Fall through: treat as corrupt.
        }

        TryDelete(path);
        return null;
    }

    public void Store(Module module, string digestHex)
    {
        try
        {
            Directory.CreateDirectory(directory);
            var serialized = module.Serialize();
            var content = new byte[HashLength + serialized.Length];
            SHA256.HashData(serialized, content);
            serialized.CopyTo(content.AsSpan(HashLength));
            var path = PathFor(digestHex);
            var temp = $"{path}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
            File.WriteAllBytes(temp, content);
            File.Move(temp, path, overwrite: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // The cache is an optimisation; a read-only disk only costs compile time.
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Ignored: the next store overwrites it.
        }
    }
}
