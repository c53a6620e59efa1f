using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using Prometheus;
using WasmOperator.Proxy.Chain;

namespace WasmOperator.Proxy.Metrics;

/// <summary>
/// Counts the client connections Kestrel closes on arrival because a data port has <c>--max-connections</c> open (its
/// <c>kestrel.rejected_connections</c> instrument), as Envoy counts <c>downstream_cx_overflow</c>, and says so in at most one
/// line a second. Kestrel's own warning, one per refused connection, is filtered out (ProxyServer): a flood of connections
/// would have been a flood of lines.
/// </summary>
internal sealed partial class ConnectionOverflow : IDisposable
{
    private const string KestrelMeter = "Microsoft.AspNetCore.Server.Kestrel";
    private const string RejectedInstrument = "kestrel.rejected_connections";

    private readonly MeterListener _listener = new();
    private readonly Counter _overflows;
    private readonly int _maxConnections;
    private readonly ILogger _logger;
    private readonly LogThrottle _throttle = new(TimeSpan.FromSeconds(1));

    /// <param name="scope">The meter factory of this proxy's data-plane host: another host in the process (the admin
    /// listener's, or another proxy's in tests) has its own Kestrel meter, not counted here.</param>
    public ConnectionOverflow(IMeterFactory scope, Counter overflows, int maxConnections, ILogger logger)
    {
        _overflows = overflows;
        _maxConnections = maxConnections;
        _logger = logger;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Name == RejectedInstrument && instrument.Meter.Name == KestrelMeter && ReferenceEquals(instrument.Meter.Scope, scope))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((_, count, _, _) => OnRefused(count));
        _listener.Start();
    }

    private void OnRefused(long count)
    {
        _overflows.Inc(count);
        if (!_throttle.TryEnter(out var suppressed))
        {
            return;
        }

        if (suppressed == 0)
        {
            LogRefused(_logger, _maxConnections);
        }
        else
        {
            LogRefusedMore(_logger, _maxConnections, suppressed);
        }
    }

    public void Dispose() => _listener.Dispose();

    [LoggerMessage(Level = LogLevel.Warning, Message = "client connection closed on arrival: a data port already has {MaxConnections} open (--max-connections); " +
        "at most one such line a second, proxy_downstream_cx_overflow_total counts them all")]
    private static partial void LogRefused(ILogger logger, int maxConnections);

    [LoggerMessage(Level = LogLevel.Warning, Message = "client connection closed on arrival: a data port already has {MaxConnections} open (--max-connections); " +
        "{Suppressed} more were closed since the last such line")]
    private static partial void LogRefusedMore(ILogger logger, int maxConnections, long suppressed);
}
