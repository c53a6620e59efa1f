using WasmOperator.ProxyWasm.Abi;

namespace WasmOperator.Proxy.Configuration;

/// <summary>Plugin log levels by Envoy's names (<c>trace debug info warning error critical off</c>; <c>warn</c> too).</summary>
internal static class PluginLogLevels
{
    public const string Names = "trace, debug, info, warning, error, critical, off";

    /// <summary>
    /// Nothing is written: spdlog's <c>off</c>, one above critical, so every line falls below it. It is also what Envoy's
    /// <c>proxy_get_log_level</c> answers then (spdlog's level as an int).
    /// </summary>
    public const ProxyLogLevel Off = (ProxyLogLevel)6;

    public static bool TryParse(string? text, out ProxyLogLevel level)
    {
        (var known, level) = text?.ToLowerInvariant() switch
        {
            "trace" => (true, ProxyLogLevel.Trace),
            "debug" => (true, ProxyLogLevel.Debug),
            "info" => (true, ProxyLogLevel.Info),
            "warning" or "warn" => (true, ProxyLogLevel.Warn),
            "error" => (true, ProxyLogLevel.Error),
            "critical" => (true, ProxyLogLevel.Critical),
            "off" => (true, Off),
            _ => (false, ProxyLogLevel.Info),
        };
        return known;
    }

    public static string Name(ProxyLogLevel level) => level switch
    {
        ProxyLogLevel.Trace => "trace",
        ProxyLogLevel.Debug => "debug",
        ProxyLogLevel.Info => "info",
        ProxyLogLevel.Warn => "warning",
        ProxyLogLevel.Error => "error",
        ProxyLogLevel.Critical => "critical",
        _ => "off",
    };
}
