using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using WasmOperator.Validation.Cel;
using WasmOperator.Api.WasmPlugins;
using WasmOperator.ProxyWasm.Plugins;

namespace WasmOperator.Operator.Reconciliation;

/// <summary>
/// The options a proxy starts a plugin with, built from the spec as the proxy builds them (its plugin file and
/// ChainManager): pluginConfig as compact JSON (an unset one is empty), vmConfig.env, limits.maxMemoryBytes and
/// limits.maxCallDuration with the API's defaults (64 MiB, 100 ms). The load check runs with them, so a module is
/// judged under the configuration and limits a proxy will give it.
/// </summary>
internal static class ProxyLoadOptions
{
    public const long DefaultMaxMemoryBytes = 64L * 1024 * 1024;

    public static readonly TimeSpan DefaultMaxCallDuration = TimeSpan.FromMilliseconds(100);

    public static PluginOptions For(WasmPluginSpec spec)
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var variable in spec.VmConfig?.Env ?? [])
        {
            if (variable.Name is { Length: > 0 } name)
            {
                // HOST copies the proxy's own variable, which the operator cannot know: the check sees it empty.
                env[name] = variable.ValueFrom == EnvValueSource.Host ? string.Empty : variable.Value ?? string.Empty;
            }
        }

        return new PluginOptions
        {
            Name = "module-check",
            RootId = spec.PluginName ?? string.Empty,
            Configuration = Configuration(spec),
            Environment = env,
            Shards = 1,
            MemoryLimitBytes = spec.Limits?.MaxMemoryBytes ?? DefaultMaxMemoryBytes,
            CallDeadline = spec.Limits?.MaxCallDuration is { } duration ? ParseDuration(duration) : DefaultMaxCallDuration,
        };
    }

    /// <summary>spec.pluginConfig as proxy_on_configure receives it: compact JSON, as Istio sends a structured config; unset is empty.</summary>
    public static byte[] Configuration(WasmPluginSpec spec) =>
        spec.PluginConfig is null ? [] : Encoding.UTF8.GetBytes(spec.PluginConfig.ToJsonString());

    /// <summary>A short hash of everything in <paramref name="options"/> that can change whether a module starts.</summary>
    public static string Fingerprint(PluginOptions options)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        void Add(string part)
        {
            hash.AppendData(Encoding.UTF8.GetBytes(part.Length.ToString(CultureInfo.InvariantCulture)));
            hash.AppendData(":"u8);
            hash.AppendData(Encoding.UTF8.GetBytes(part));
        }

        Add(options.RootId);
        Add(Convert.ToBase64String(options.Configuration));
        Add(Convert.ToBase64String(options.VmConfiguration));
        Add(options.MemoryLimitBytes.ToString(CultureInfo.InvariantCulture));
        Add(options.CallDeadline.Ticks.ToString(CultureInfo.InvariantCulture));
        foreach (var (name, value) in options.Environment.OrderBy(e => e.Key, StringComparer.Ordinal))
        {
            Add(name);
            Add(value);
        }

        return Convert.ToHexStringLower(hash.GetHashAndReset())[..16];
    }

    /// <summary>
    /// A Go duration as the CRD's rule admits it (<c>100ms</c>, <c>1.5s</c>, <c>1m30s</c>), read as the API server's CEL
    /// <c>duration()</c> reads it. The spec validator refuses anything else first; a value that got past it is named.
    /// </summary>
    internal static TimeSpan ParseDuration(string text) =>
        GoDuration.TryParse(text, out var duration) && duration > TimeSpan.Zero
            ? duration
            : throw new ArgumentException($"spec.limits.maxCallDuration: '{text}' is no positive duration such as 100ms or 1m30s");
}
