using System.Text.Json.Serialization;
using WasmOperator.Api.Schema;

namespace WasmOperator.Api.WasmPlugins;

/// <summary>Configuration of the plugin's VM (Istio's VmConfig).</summary>
public sealed class VmConfig
{
    /// <summary>The WASI environment of the plugin, by unique name.</summary>
    [JsonPropertyName("env")]
    [MaxItems(256)]
    [ListMapKeys("name")]
    [CelRule("self.all(x, !has(x.name) || self.exists_one(y, has(y.name) && y.name == x.name))", "env variable names must be unique")]
    public List<EnvVar>? Env { get; set; }
}
