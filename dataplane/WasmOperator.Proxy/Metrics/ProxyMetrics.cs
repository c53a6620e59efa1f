using System.Globalization;
using System.Text;
using Prometheus;
using WasmOperator.ProxyWasm.Abi;
using WasmOperator.ProxyWasm.Shared;

namespace WasmOperator.Proxy.Metrics;

/// <summary>The proxy's Prometheus metrics, in a registry of its own (one per proxy instance).</summary>
internal sealed class ProxyMetrics
{
    private static readonly double[] LatencyBuckets = [0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1];
    private readonly CollectorRegistry _registry = Prometheus.Metrics.NewCustomRegistry();
    private readonly Counter _pluginRequests;
    private readonly Counter _traps;
    private readonly Counter _rebuilds;
    private readonly Counter _failOpen;
    private readonly Counter _failClosed;
    private readonly Counter _logOnly;
    private readonly Histogram _latency;

    public ProxyMetrics()
    {
        var factory = Prometheus.Metrics.WithCustomRegistry(_registry);

        // No exemplars: the default provider reads Activity.Current on every Inc/Observe, and the
        // request path records several per callback.
        factory.ExemplarBehavior = ExemplarBehavior.NoExemplars();
        Requests = factory.CreateCounter("proxy_requests_total", "Requests handled by the data-plane listener, by response code class.", "code");
        UpstreamErrors = factory.CreateCounter("proxy_upstream_errors_total", "Requests the forwarder could not complete.");
        Reloads = factory.CreateCounter("proxy_plugin_reloads_total", "Plugin set loads, by result (applied, rejected).", "result");
        _pluginRequests = factory.CreateCounter("wasm_plugin_requests_total", "Requests a plugin saw.", "plugin");
        _traps = factory.CreateCounter("wasm_plugin_traps_total", "Callbacks that failed (trap, deadline, no healthy VM).", "plugin");
        _rebuilds = factory.CreateCounter("wasm_plugin_rebuilds_total", "FAIL_RELOAD retries on a fresh VM shard.", "plugin");
        _failOpen = factory.CreateCounter("wasm_plugin_fail_open_total", "Requests passed on because the plugin failed with FAIL_OPEN.", "plugin");
        _failClosed = factory.CreateCounter("wasm_plugin_fail_closed_total", "Requests answered 503 because the plugin failed.", "plugin");
        _logOnly = factory.CreateCounter("wasm_plugin_log_only_actions_total", "Actions a LOG_ONLY plugin would have taken.", "plugin", "action");
        _latency = factory.CreateHistogram("wasm_plugin_callback_duration_seconds", "Time spent in one plugin callback.",
            new HistogramConfiguration { LabelNames = ["plugin", "callback"], Buckets = LatencyBuckets });

        // Process and runtime: CPU, memory, threads, GC collections (prometheus-net's standard set), and the bytes
        // allocated, which with proxy_requests_total gives the allocation cost of one request.
        DotNetStats.Register(_registry);
        var allocated = factory.CreateGauge("dotnet_gc_allocated_bytes_total", "Bytes allocated on the managed heap since the process started.");
        var poolItems = factory.CreateGauge("dotnet_threadpool_completed_items_total", "Work items the thread pool has run (request processing runs on the socket threads; this counts what left them).");
        var poolThreads = factory.CreateGauge("dotnet_threadpool_threads", "Thread-pool threads.");
        _registry.AddBeforeCollectCallback(() =>
        {
            allocated.Set(GC.GetTotalAllocatedBytes());
            poolItems.Set(ThreadPool.CompletedWorkItemCount);
            poolThreads.Set(ThreadPool.ThreadCount);
        });
    }

    /// <summary>Exports the log writer's counts: lines written and lines dropped because its queue was full.</summary>
    public void ObserveLog(Logging.BatchedLineLoggerProvider log)
    {
        var factory = Prometheus.Metrics.WithCustomRegistry(_registry);
        var written = factory.CreateGauge("proxy_log_lines_written_total", "Log lines written to stdout.");
        var dropped = factory.CreateGauge("proxy_log_lines_dropped_total", "Log lines dropped because the log writer fell behind (its queue was full).");
        _registry.AddBeforeCollectCallback(() =>
        {
            written.Set(log.Written);
            dropped.Set(log.Dropped);
        });
    }

    public Counter Requests { get; }

    public Counter UpstreamErrors { get; }

    public Counter Reloads { get; }

    /// <summary>Pre-bound metric children of one plugin (no label lookups on the request path).</summary>
    public PluginMetrics For(string plugin) => new(
        _pluginRequests.WithLabels(plugin),
        _traps.WithLabels(plugin),
        _rebuilds.WithLabels(plugin),
        _failOpen.WithLabels(plugin),
        _failClosed.WithLabels(plugin),
        action => _logOnly.WithLabels(plugin, action),
        _latency.WithLabels(plugin, "request_headers"),
        _latency.WithLabels(plugin, "request_body"),
        _latency.WithLabels(plugin, "response_headers"),
        _latency.WithLabels(plugin, "response_body"),
        _latency.WithLabels(plugin, "request_trailers"),
        _latency.WithLabels(plugin, "response_trailers"));

    /// <summary>Writes the proxy metrics, then the plugin-defined ones (prefixed <c>wasmcustom_</c>).</summary>
    public async Task ExportAsync(Stream output, MetricRegistry pluginMetrics, CancellationToken cancellationToken)
    {
        await _registry.CollectAndExportAsTextAsync(output, cancellationToken).ConfigureAwait(false);
        var text = new StringBuilder();
        foreach (var metric in pluginMetrics.Snapshot())
        {
            var name = "wasmcustom_" + Sanitize(metric.Name);
            switch (metric.Type)
            {
                case MetricType.Counter:
                    text.Append(CultureInfo.InvariantCulture, $"# TYPE {name} counter\n{name} {metric.Value}\n");
                    break;
                case MetricType.Gauge:
                    text.Append(CultureInfo.InvariantCulture, $"# TYPE {name} gauge\n{name} {metric.Value}\n");
                    break;
                default:
                    text.Append(CultureInfo.InvariantCulture, $"# TYPE {name} summary\n{name}_sum {metric.Value}\n{name}_count {metric.Count}\n");
                    break;
            }
        }

        var bytes = Encoding.UTF8.GetBytes(text.ToString());
        await output.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
    }

    private static string Sanitize(string name)
    {
        var chars = name.ToCharArray();
        for (var i = 0; i < chars.Length; i++)
        {
            if (!char.IsAsciiLetterOrDigit(chars[i]) && chars[i] != '_')
            {
                chars[i] = '_';
            }
        }

        return new string(chars);
    }
}
