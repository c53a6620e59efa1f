using System.Collections.Concurrent;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using WasmOperator.Proxy.Admin;

namespace WasmOperator.Proxy.Shutdown;

/// <summary>
/// Envoy's graceful drain of the data-plane connections while the listeners keep accepting. An HTTP/2 connection gets
/// GOAWAY when the drain starts. An HTTP/1.1 response that starts during the drain carries <c>Connection: close</c> and
/// its connection closes after it; an idle keep-alive connection is left open, because closing it would lose a request
/// the client sent as the close crossed it (HTTP/1.1 has no GOAWAY to say which requests were seen). The connections
/// left when the listeners stop, by when the endpoint has left the load balancers, are closed then (Kestrel's stop).
/// </summary>
internal sealed class ConnectionDrainer
{
    private readonly ConcurrentDictionary<string, IConnectionLifetimeNotificationFeature> _http2 = new(StringComparer.Ordinal);
    private readonly ServerState _state;
    private readonly Func<object, Task> _closeIfDraining;
    private readonly Metrics.StripedCounter _inFlight = new();

    public ConnectionDrainer(ServerState state)
    {
        _state = state;
        _closeIfDraining = CloseIfDraining;
    }

    /// <summary>Kestrel connection middleware of the h2c listener: tracks the connection while it is open.</summary>
    public ConnectionDelegate TrackHttp2(ConnectionDelegate next) => async connection =>
    {
        if (connection.Features.Get<IConnectionLifetimeNotificationFeature>() is not { } lifetime)
        {
            await next(connection).ConfigureAwait(false);
            return;
        }

        _http2[connection.ConnectionId] = lifetime;
        try
        {
            await next(connection).ConfigureAwait(false);
        }
        finally
        {
            _http2.TryRemove(connection.ConnectionId, out _);
        }
    };

    public int OpenHttp2Connections => _http2.Count;

    /// <summary>Requests on the data listeners whose handling has not ended (<see cref="Enter"/>).</summary>
    public int InFlightRequests => (int)Math.Max(0, _inFlight.Sum());

    /// <summary>
    /// Counts a request in <see cref="InFlightRequests"/> until the scope is disposed at the end of its handling (what
    /// shutdown reports waiting for, and cutting at --drain-timeout): two interlocked operations on the calling processor's
    /// cell (a count all cores shared cost a cache-line transfer on each), no allocation.
    /// </summary>
    public InFlight Enter()
    {
        _inFlight.Increment();
        return new InFlight(this);
    }

    /// <summary>One request's place in <see cref="InFlightRequests"/>.</summary>
    public readonly struct InFlight(ConnectionDrainer drainer) : IDisposable
    {
        public void Dispose() => drainer._inFlight.Decrement();
    }

    /// <summary>Sends GOAWAY on every open HTTP/2 connection: its streams finish, new ones go elsewhere.</summary>
    public void GoAwayAll()
    {
        foreach (var (_, lifetime) in _http2)
        {
            lifetime.RequestClose();
        }
    }

    /// <summary>Called as each request starts: asks its connection to close after it if the drain began by its response.</summary>
    public void OnRequest(HttpContext context)
    {
        if (_state.Draining)
        {
            // Accepted during the drain: answer it, and ask the client to go elsewhere for the next one.
            CloseAfterResponse(context);
        }
        else if (!HttpProtocol.IsHttp2(context.Request.Protocol))
        {
            // The drain may begin while this request is in flight; decided when the response head is written, as
            // Envoy does, so that the head says so (a close after a keep-alive head would race the next request).
            context.Response.OnStarting(_closeIfDraining, context);
        }
    }

    private Task CloseIfDraining(object state)
    {
        var context = (HttpContext)state;
        // An upgrade's 101 ends HTTP/1.1 on the connection anyway; what follows is no longer ours to close (Envoy's skip).
        if (_state.Draining && context.Response.StatusCode != StatusCodes.Status101SwitchingProtocols)
        {
            CloseAfterResponse(context);
        }

        return Task.CompletedTask;
    }

    /// <summary>Kestrel answers HTTP/1.1 with <c>Connection: close</c> and closes after it, or sends GOAWAY on HTTP/2.</summary>
    private static void CloseAfterResponse(HttpContext context) =>
        context.Features.Get<IConnectionLifetimeNotificationFeature>()?.RequestClose();
}
