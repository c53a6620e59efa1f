using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;
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
    private readonly Counter _reloadRetries;
    private readonly Counter _failOpen;
    private readonly Counter _failClosed;
    private readonly Counter _logOnly;
    private readonly Histogram _latency;
    private readonly PluginMetricNames _pluginNames;
    // One striped metric per Prometheus child (two would each publish their own count into it), in publishing order.
    private readonly Dictionary<object, IStripedMetric> _striped = new(ReferenceEqualityComparer.Instance);

    public ProxyMetrics(ILogger<ProxyMetrics> logger)
    {
        _pluginNames = new PluginMetricNames(logger);
        var factory = Prometheus.Metrics.WithCustomRegistry(_registry);

        // No exemplars: the default provider reads Activity.Current on every Inc/Observe, and the
        // request path records several per callback.
        factory.ExemplarBehavior = ExemplarBehavior.NoExemplars();
        Requests = factory.CreateCounter("proxy_requests_total", "Requests handled by the data-plane listener, by response code class.", "code");
        UpstreamErrors = factory.CreateCounter("proxy_upstream_errors_total", "Requests the forwarder could not complete.");
        UpstreamRetries = factory.CreateCounter("proxy_upstream_retries_total",
            "Requests sent again on a new upstream connection after a pooled one closed or reset before any response byte (Envoy's upstream_rq_retry).");
        DownstreamOverflows = factory.CreateCounter("proxy_downstream_cx_overflow_total",
            "Client connections closed on arrival because their data port had --max-connections open (Envoy's downstream_cx_overflow).");
        CalloutOverflows = factory.CreateCounter("proxy_callout_overflow_total",
            "Plugin callouts refused at once because their cluster had --max-callouts-per-cluster in flight (Envoy's upstream_rq_pending_overflow); the plugin gets the failure.",
            "cluster");
        DownstreamResets = factory.CreateCounter("proxy_downstream_resets_total", "Requests the client reset or left before their response completed (Envoy's DC flag).");
        PluginResets = factory.CreateCounter("proxy_plugin_resets_total",
            "Streams reset because a plugin closed them (proxy_close_stream) or replied once the response had started or the stream was upgraded, counted in no response class if no response had started (Envoy's downstream_rq_tx_reset).");
        StreamIdleTimeouts = factory.CreateCounter("proxy_stream_idle_timeouts_total",
            "Streams ended because no byte moved either way for --stream-idle-timeout (Envoy's downstream_rq_idle_timeout, SI flag).");
        Reloads = factory.CreateCounter("proxy_plugin_reloads_total", "Plugin set loads, by result (applied, rejected).", "result");
        _pluginRequests = factory.CreateCounter("wasm_plugin_requests_total", "Requests that reached the plugin in the chain (not those an earlier plugin answered or failed closed); a plugin that did not load counts each request its failStrategy acted on.", "plugin");
        _traps = factory.CreateCounter("wasm_plugin_traps_total",
            "Failures of a plugin's VMs: a callback (a stream's, on_log, on_tick, a callout's answer, a queue event ...) trapped or passed its CPU deadline or memory limit.", "plugin");
        _rebuilds = factory.CreateCounter("wasm_plugin_rebuilds_total", "Failed VMs rebuilt from the compiled module after their backoff.", "plugin");
        _reloadRetries = factory.CreateCounter("wasm_plugin_reload_retries_total", "Requests FAIL_RELOAD retried on another VM after on_request_headers failed.", "plugin");
        _failOpen = factory.CreateCounter("wasm_plugin_fail_open_total", "Requests passed on because the plugin failed with FAIL_OPEN, or failed running LOG_ONLY.", "plugin");
        _failClosed = factory.CreateCounter("wasm_plugin_fail_closed_total", "Requests answered 503 because the plugin failed (FAIL_CLOSE, or FAIL_RELOAD once its retry failed too), or reset when their response had started.", "plugin");
        _logOnly = factory.CreateCounter("wasm_plugin_log_only_actions_total", "Actions a LOG_ONLY plugin would have taken.", "plugin", "action");
        _latency = factory.CreateHistogram("wasm_plugin_callback_duration_seconds", "Time spent in one plugin callback.",
            new HistogramConfiguration { LabelNames = ["plugin", "callback"], Buckets = LatencyBuckets });

        // Process and runtime: CPU, memory, threads, GC collections (prometheus-net's standard set), and the bytes
        // allocated, which with proxy_requests_total gives the allocation cost of one request.
        DotNetStats.Register(_registry);
        // Counts since the start are counters (TYPE counter, as their _total says): a gauge named _total fails promtool's lint.
        var allocated = factory.CreateCounter("dotnet_gc_allocated_bytes_total", "Bytes allocated on the managed heap since the process started.");
        var poolItems = factory.CreateCounter("dotnet_threadpool_completed_items_total", "Work items the thread pool has run (request processing runs on the socket threads; this counts what left them).");
        var poolThreads = factory.CreateGauge("dotnet_threadpool_threads", "Thread-pool threads.");
        _registry.AddBeforeCollectCallback(() =>
        {
            allocated.IncTo(GC.GetTotalAllocatedBytes());
            poolItems.IncTo(ThreadPool.CompletedWorkItemCount);
            poolThreads.Set(ThreadPool.ThreadCount);
        });
        _registry.AddBeforeCollectCallback(() =>
        {
            lock (_striped)
            {
                foreach (var metric in _striped.Values)
                {
                    metric.Publish();
                }
            }
        });
    }

    /// <summary>
    /// A child the request path counts on striped cells (one per processor), published before each scrape: for the counts every request
    /// changes, which as one Prometheus child would pass a cache line between the socket threads on each request.
    /// </summary>
    public StripedCount Striped(Counter.Child child) => Register(child, static c => new StripedCount(c));

    private StripedHistogram Striped(Histogram.Child child) => Register(child, static c => new StripedHistogram(c, LatencyBuckets));

    private TStriped Register<TChild, TStriped>(TChild child, Func<TChild, TStriped> create)
        where TChild : notnull
        where TStriped : IStripedMetric
    {
        lock (_striped)
        {
            if (!_striped.TryGetValue(child, out var metric))
            {
                metric = create(child);
                _striped[child] = metric;
            }

            return (TStriped)metric;
        }
    }

    /// <summary>Exports the log writer's counts: lines written and lines dropped because its queue was full.</summary>
    public void ObserveLog(Logging.BatchedLineLoggerProvider log)
    {
        var factory = Prometheus.Metrics.WithCustomRegistry(_registry);
        var written = factory.CreateCounter("proxy_log_lines_written_total", "Log lines written to stdout.");
        var dropped = factory.CreateCounter("proxy_log_lines_dropped_total", "Log lines dropped because the log writer fell behind (its queue was full, of lines or of bytes).");
        _registry.AddBeforeCollectCallback(() =>
        {
            written.IncTo(log.Written);
            dropped.IncTo(log.Dropped);
        });
    }

    /// <summary>
    /// Exports the bytes of bodies kept now for LOG_ONLY plugins whose callbacks wait on their decision: back to 0 once
    /// none waits, so bytes never given back (which would in time leave no room under --max-deferred-body-bytes) show.
    /// </summary>
    public void ObserveDeferredBodies(Proxying.DeferredBodyBudget budget)
    {
        var kept = Prometheus.Metrics.WithCustomRegistry(_registry).CreateGauge("proxy_log_only_deferred_body_bytes",
            "Bytes of request and response bodies kept now, proxy-wide, for LOG_ONLY plugins whose callbacks wait on their decision (bounded by --max-deferred-body-bytes).");
        _registry.AddBeforeCollectCallback(() => kept.Set(budget.Kept));
    }

    /// <summary>
    /// Exports the plugin callouts (HTTP, gRPC calls and streams) in flight now, by cluster, as Envoy's
    /// <c>upstream_rq_active</c>: what holds places under --max-callouts-per-cluster, back to 0 once they end. A callout belongs
    /// to the plugin's root context, as in Envoy, so one without timeout to a cluster that never answers holds its place after
    /// the request that made it ended, until the VM ends: this shows it.
    /// </summary>
    public void ObserveCallouts(Func<IEnumerable<KeyValuePair<string, int>>> inFlight)
    {
        var active = Prometheus.Metrics.WithCustomRegistry(_registry).CreateGauge("proxy_callouts_active",
            "Plugin callouts (HTTP, gRPC calls and streams) in flight now, by cluster (Envoy's upstream_rq_active; at most --max-callouts-per-cluster).",
            "cluster");
        _registry.AddBeforeCollectCallback(() =>
        {
            foreach (var (cluster, count) in inFlight())
            {
                active.WithLabels(cluster).Set(count);
            }
        });
    }

    public Counter Requests { get; }

    public Counter UpstreamErrors { get; }

    public Counter UpstreamRetries { get; }

    public Counter DownstreamResets { get; }

    public Counter DownstreamOverflows { get; }

    /// <summary>Plugin callouts refused at their cluster's limit, by cluster (Envoy's upstream_rq_pending_overflow).</summary>
    public Counter CalloutOverflows { get; }

    public Counter PluginResets { get; }

    public Counter StreamIdleTimeouts { get; }

    public Counter Reloads { get; }

    /// <summary>Pre-bound metric children of one plugin (no label lookups on the request path).</summary>
    public PluginMetrics For(string plugin) => new(
        Striped(_pluginRequests.WithLabels(plugin)),
        _traps.WithLabels(plugin),
        _rebuilds.WithLabels(plugin),
        _reloadRetries.WithLabels(plugin),
        _failOpen.WithLabels(plugin),
        _failClosed.WithLabels(plugin),
        action => _logOnly.WithLabels(plugin, action),
        Striped(_latency.WithLabels(plugin, "request_headers")),
        Striped(_latency.WithLabels(plugin, "request_body")),
        Striped(_latency.WithLabels(plugin, "response_headers")),
        Striped(_latency.WithLabels(plugin, "response_body")),
        Striped(_latency.WithLabels(plugin, "request_trailers")),
        Striped(_latency.WithLabels(plugin, "response_trailers")),
        // on_done, on_log and on_delete, which run together at the stream's end (an access-logging plugin's work is in on_log).
        Striped(_latency.WithLabels(plugin, "stream_end")));

    /// <summary>
    /// Writes the proxy metrics, then the plugin-defined ones (under their own names, as Envoy), one family per exported
    /// name: plugin names that sanitise to the same name and type share a family (the later ones labelled with their
    /// own name), and a name already taken by another type, or by a histogram's <c>_bucket</c>/<c>_sum</c>/<c>_count</c>
    /// series, is exported under a suffixed name (logged once). Prometheus rejects a whole scrape that repeats a TYPE.
    /// </summary>
    public async Task ExportAsync(Stream output, MetricRegistry pluginMetrics, CancellationToken cancellationToken)
    {
        using var own = new MemoryStream();
        await _registry.CollectAndExportAsTextAsync(own, cancellationToken).ConfigureAwait(false);
        _pluginNames.Reserve(SeriesOf(own));
        own.Position = 0;
        await own.CopyToAsync(output, cancellationToken).ConfigureAwait(false);
        var snapshot = pluginMetrics.Snapshot();
        var families = new List<List<(MetricRegistry.MetricValue Metric, PluginMetricName Name)>>();
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var metric in snapshot)
        {
            if (_pluginNames.For(metric.Name, metric.Type) is not { } name)
            {
                continue;
            }

            if (!index.TryGetValue(name.Family, out var i))
            {
                i = families.Count;
                index[name.Family] = i;
                families.Add([]);
            }

            families[i].Add((metric, name));
        }

        var text = new StringBuilder();
        foreach (var family in families)
        {
            var (first, firstName) = family[0];
            var name = firstName.Family;
            text.Append("# HELP ").Append(name).Append(" Proxy-Wasm plugin metric ");
            AppendEscaped(text, first.Name, help: true);
            text.Append(".\n# TYPE ").Append(name).Append(first.Type switch { MetricType.Counter => " counter\n", MetricType.Gauge => " gauge\n", _ => " histogram\n" });
            foreach (var (metric, exported) in family)
            {
                if (metric.Type == MetricType.Histogram)
                {
                    // Cumulative buckets, as Envoy exports its histograms.
                    var cumulative = 0L;
                    for (var b = 0; b < metric.BucketCounts.Count; b++)
                    {
                        cumulative += metric.BucketCounts[b];
                        AppendSample(text, name + "_bucket", exported.Label, cumulative, MetricRegistry.HistogramBounds[b].ToString(CultureInfo.InvariantCulture));
                    }

                    AppendSample(text, name + "_bucket", exported.Label, metric.Count, "+Inf");
                    AppendSample(text, name + "_sum", exported.Label, metric.Value);
                    AppendSample(text, name + "_count", exported.Label, metric.Count);
                }
                else
                {
                    AppendSample(text, name, exported.Label, metric.Value);
                }
            }
        }

        var bytes = Encoding.UTF8.GetBytes(text.ToString());
        await output.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The series names a text export writes: each family's name, and a histogram's or summary's own series.</summary>
    private static List<string> SeriesOf(MemoryStream export)
    {
        var series = new List<string>();
        foreach (var line in Encoding.UTF8.GetString(export.GetBuffer(), 0, (int)export.Length).Split('\n'))
        {
            if (!line.StartsWith("# TYPE ", StringComparison.Ordinal) || line.Split(' ') is not [_, _, var name, var type])
            {
                continue;
            }

            series.Add(name);
            if (type is "histogram" or "summary")
            {
                series.AddRange([name + "_bucket", name + "_sum", name + "_count"]);
            }
        }

        return series;
    }

    private static void AppendSample(StringBuilder text, string name, string? label, long value, string? le = null)
    {
        text.Append(name);
        if (label is not null || le is not null)
        {
            text.Append('{');
            if (label is not null)
            {
                text.Append("wasm_metric=\"");
                AppendEscaped(text, label, help: false);
                text.Append(le is null ? "\"" : "\",");
            }

            if (le is not null)
            {
                text.Append("le=\"").Append(le).Append('"');
            }

            text.Append('}');
        }

        text.Append(' ').Append(value.ToString(CultureInfo.InvariantCulture)).Append('\n');
    }

    /// <summary>The text format's escapes: backslash and line feed everywhere, the double quote in label values.</summary>
    private static void AppendEscaped(StringBuilder text, string value, bool help)
    {
        foreach (var c in value)
        {
            _ = c switch
            {
                '\\' => text.Append(@"\\"),
                '\n' => text.Append(@"\n"),
                '"' when !help => text.Append("\\\""),
                _ => text.Append(c),
            };
        }
    }
}
