namespace WasmOperator.Proxy.Proxying;

/// <summary>
/// A direction's body read while a plugin holds part of that body, raced against the plugins' decision on it: a resume,
/// reply or close a plugin makes from outside a callback (a callout's answer, a tick) takes effect at once, as Envoy's
/// continueDecoding, continueEncoding and sendLocalReply do, not when the peer sends more. Made only once a body is held.
/// A read, once started, is kept until it completes, whatever woke the wait first: no chunk is lost, and nothing else
/// uses <see cref="Buffer"/> meanwhile.
/// </summary>
internal sealed class HeldBodyRead(Exchange exchange, bool request, Stream source, byte[] buffer, CancellationToken cancellationToken) : IAsyncDisposable
{
    // Cancels a read still waiting on the peer once the stream stopped.
    private readonly CancellationTokenSource _cancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
    private Task<int>? _read;
    private bool _disposed;

    /// <summary>What reads fill.</summary>
    public byte[] Buffer => buffer;

    /// <summary>A read is under way: the next bytes come from it, held or not.</summary>
    public bool Reading => _read is not null;

    /// <summary>The next read (of up to <paramref name="count"/> bytes), or, first, what the plugins holding the body decide.</summary>
    public async ValueTask<HeldBodyStep> NextAsync(int count)
    {
        var reading = _read ??= source.ReadAsync(buffer.AsMemory(0, count), _cancel.Token).AsTask();
        while (!reading.IsCompleted && exchange.Holds(request))
        {
            var decided = exchange.WhenHeldDecided(request);
            if (!decided.IsCompleted)
            {
                await Task.WhenAny(reading, decided).ConfigureAwait(false);
                if (!decided.IsCompleted)
                {
                    break;
                }
            }

            if (exchange.MustLeaveIoThread)
            {
                // The released bytes run through plugin code.
                await Task.Yield();
            }

            var released = await exchange.ReleaseHeldAsync(request).ConfigureAwait(false);
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
            await _cancel.CancelAsync().ConfigureAwait(false);
            await ((Task)read).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            _read = null;
        }

        _cancel.Dispose();
    }
}
