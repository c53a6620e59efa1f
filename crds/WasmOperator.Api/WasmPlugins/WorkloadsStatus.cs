using System.Text.Json.Serialization;
using WasmOperator.Api.Schema;

namespace WasmOperator.Api.WasmPlugins;

/// <summary>Counts of the selected proxies and the first few that fail.</summary>
public sealed class WorkloadsStatus
{
    /// <summary>Proxies selected by the plugin.</summary>
    [JsonPropertyName("selected")]
    public int? Selected { get; set; }

    /// <summary>Selected proxies running the desired revision.</summary>
    [JsonPropertyName("ready")]
    public int? Ready { get; set; }

    /// <summary>Proxies on the canary revision.</summary>
    [JsonPropertyName("canary")]
    public int? Canary { get; set; }

    /// <summary>Proxies that rejected or cannot run the plugin.</summary>
    [JsonPropertyName("failed")]
    public int? Failed { get; set; }

    /// <summary>"ready/selected", shown by kubectl get.</summary>
    [JsonPropertyName("summary")]
    public string? Summary { get; set; }

    /// <summary>The first few failing proxies with their reason.</summary>
    [JsonPropertyName("failing")]
    [MaxItems(10)]
    public List<FailingWorkload>? Failing { get; set; }
}
