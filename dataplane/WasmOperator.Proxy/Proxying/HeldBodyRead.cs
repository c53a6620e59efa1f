using System.IO.Pipelines;
using WasmOperator.Proxy.Forwarding;

namespace WasmOperator.Proxy.Proxying;

/// <summary>
/// A direction's body read while a plugin holds part of that body, raced against the plugins' decision on it: a resume,
/// reply or close a plugin makes from outside a callback (a callout's answer, a tick) takes effect at once, as Envoy's
/// continueDecoding, continueEncoding and sendLocalReply do, not when the peer sends more. Made only once a body is held.
/// A read, once started, is kept until it completes, whatever woke the wait first: no chunk is lost, and nothing else
/// uses <see cref="Buffer"/> meanwhile.
/// </summary>
internal sealed class HeldBodyRead : IAsyncDisposable
{
    private readonly Exchange _exchange;
    private readonly bool _request;

    // The request's: Kestrel's reader of the client's body (ClientBodyReader), whose read is ended through
    // CancelPendingRead. A cancelled token would leave a Content-Length body mid-read, not drainable after the reply.
    private readonly PipeReader? _client;

    // The response's: the upstream's body (or an upgraded stream's side, either way), and what cancels a read still
    // waiting on it once the stream stopped.
    private readonly Stream? _upstream;
    private readonly CancellationTokenSource? _cancel;

    private readonly CancellationToken _cancellationToken;
    private readonly byte[] _buffer;
    private Task<int>? _read;
    private bool _disposed;

    private HeldBodyRead(Exchange exchange, bool request, PipeReader? client, Stream? upstream, byte[] buffer, CancellationToken cancellationToken)
    {
        _exchange = exchange;
        _request = request;
        _client = client;
        _upstream = upstream;
        _buffer = buffer;
        _cancellationToken = cancellationToken;
        if (upstream is not null)
        {
            _cancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        }
    }

    /// <summary>The request body's held read, from Kestrel's reader of the client's body.</summary>
    public static HeldBodyRead ForRequest(Exchange exchange, PipeReader client, byte[] buffer, CancellationToken cancellationToken) =>
        new(exchange, request: true, client, null, buffer, cancellationToken);

    /// <summary>The response body's held read, from the upstream's body.</summary>
    public static HeldBodyRead ForResponse(Exchange exchange, Stream upstream, byte[] buffer, CancellationToken cancellationToken) =>
        new(exchange, request: false, null, upstream, buffer, cancellationToken);

    /// <summary>
    /// An upgraded stream's held read in <paramref name="request"/>'s direction (<see cref="PluginUpgradedStream"/>): from
    /// the client's upgraded stream, or from the upstream's.
    /// </summary>
    public static HeldBodyRead ForUpgraded(Exchange exchange, bool request, Stream source, byte[] buffer, CancellationToken cancellationToken) =>
        new(exchange, request, null, source, buffer, cancellationToken);

    /// <summary>What reads fill.</summary>
    public byte[] Buffer => _buffer;

    /// <summary>A read is under way: the next bytes come from it, held or not.</summary>
    public bool Reading => _read is not null;

    /// <summary>The next read (of up to <paramref name="count"/> bytes), or, first, what the plugins holding the body decide.</summary>
    public async ValueTask<HeldBodyStep> NextAsync(int count)
    {
        var reading = _read ??= StartRead(count);
        while (!reading.IsCompleted && _exchange.Holds(_request))
        {
            var decided = _exchange.WhenHeldDecided(_request);
            if (!decided.IsCompleted)
            {
                await Task.WhenAny(reading, decided).ConfigureAwait(false);
                if (!decided.IsCompleted)
                {
                    break;
                }
            }

            if (_exchange.MustLeaveIoThread)
            {
                // The released bytes run through plugin code.
                await Task.Yield();
            }

            var released = await _exchange.ReleaseHeldAsync(_request).ConfigureAwait(false);
            if (released is null)
            {
                return HeldBodyStep.Stopped;
            }

            if (released.Length > 0)
            {
                return new HeldBodyStep(-1, released);
            }
        }

        _read = null;
        return new HeldBodyStep(await reading.ConfigureAwait(false), null);
    }

    private Task<int> StartRead(int count) => _client is not null
        ? ClientBodyReader.ReadAsync(_client, _buffer.AsMemory(0, count), _cancellationToken).AsTask()
        : _upstream!.ReadAsync(_buffer.AsMemory(0, count), _cancel!.Token).AsTask();

    /// <summary>Ends a read still under way (it is cancelled and waited for: its buffer may be reused after).</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        if (_read is { } read)
        {
            if (_client is not null)
            {
                // Still within the request (its handler ends this read before it returns): a cancel that comes after the
                // read completed reaches this request's body only, which Kestrel's drain then reads past.
                if (!read.IsCompleted)
                {
                    ClientBodyReader.CancelRead(_client);
                }
            }
            else
            {
                await _cancel!.CancelAsync().ConfigureAwait(false);
            }

            await ((Task)read).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            _read = null;
        }

        _cancel?.Dispose();
    }
}
