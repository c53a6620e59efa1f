namespace WasmOperator.KubeApiServer.Hosting;

/// <summary>How to run the local API server.</summary>
public sealed record LocalKubeApiServerOptions
{
    /// <summary>The loopback port to listen on; 0 picks a free one.</summary>
    public int Port { get; init; }

    /// <summary>Where objects are persisted across restarts; null keeps them in memory only.</summary>
    public string? DataDirectory { get; init; }

    /// <summary>Where to write the kubeconfig; null writes one into a fresh temporary directory.</summary>
    public string? KubeconfigPath { get; init; }

    /// <summary>How many changes are kept for watches to resume from; older resourceVersions answer 410 Gone.</summary>
    public int HistoryLimit { get; init; } = 10_000;

    /// <summary>Whether Ctrl-C and SIGTERM stop the server (process mode); embedded servers leave signals to their host.</summary>
    public bool HandleProcessSignals { get; init; }

    /// <summary>How often a watch that allows bookmarks gets one (kube-apiserver: about a minute).</summary>
    public TimeSpan BookmarkInterval { get; init; } = TimeSpan.FromSeconds(60);
}
