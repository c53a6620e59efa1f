using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace WasmOperator.Proxy.Proxying;

/// <summary>
/// One side of an upgraded stream (a WebSocket over HTTP/1.1 or h2c's extended CONNECT, any other upgrade) as YARP relays
/// it once the plugins let the upstream's 101 through, as Envoy passes an upgrade's payload through its filter chain: what
/// YARP reads from it runs through the body callbacks of its direction first (the client's side: on_request_body, chain
/// order; the upstream's: on_response_body, reverse order), each chunk as it comes, with end_of_stream when that side
/// ends; what leaves the chain is what YARP copies on. Writes (the other direction, already through the plugins) pass.
/// A plugin holding a chunk holds its direction (up to the body buffer limit, then the stream is reset) until it resumes
/// or a later chunk's callback continues, as for a body (<see cref="HeldBodyRead"/>). Made only for requests with plugins.
/// </summary>
internal sealed class PluginUpgradedStream(Exchange exchange, Stream inner, bool request) : Stream
{
    private const string Stopped = "a plugin stopped the upgraded stream";

    // Not pooled: a held read may still be filling it when YARP disposes the stream.
    private readonly byte[] _chunk = new byte[16 * 1024];
    private byte[] _pending = [];
    private int _offset;
    private bool _ended;
    private HeldBodyRead? _held;

    /// <summary>
    /// Puts the plugins on both sides of <paramref name="upstream"/>'s upgraded stream before YARP relays it: the upstream's
    /// side through its content, the client's through the upgrade features YARP takes it from.
    /// </summary>
    public static async ValueTask RelayThroughPluginsAsync(HttpContext context, HttpResponseMessage upstream, Exchange exchange, CancellationToken cancellationToken)
    {
        var upstreamSide = await upstream.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        exchange.TimeUpgradedStream();
        upstream.Content = new UpgradedContent(new PluginUpgradedStream(exchange, upstreamSide, request: false));
        var upgrade = context.Features.Get<IHttpUpgradeFeature>();
        var connect = context.Features.Get<IHttpExtendedConnectFeature>();
        var features = new ClientSide(exchange, upgrade, connect);
        if (upgrade is not null)
        {
            context.Features.Set<IHttpUpgradeFeature>(features);
        }

        if (connect is not null)
        {
            context.Features.Set<IHttpExtendedConnectFeature>(features);
        }
    }

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => inner.CanWrite;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty)
        {
            // YARP's wait for data without a buffer: nothing to run through the plugins yet.
            return 0;
        }

        while (_offset >= _pending.Length)
        {
            if (_ended)
            {
                return 0;
            }

            int read;
            var afterUpstreamEnded = false;
            try
            {
                if (_held is { Reading: true } || exchange.Holds(request))
                {
                    // A plugin holds part of this direction: its resume from outside a callback (a tick, a callout's
                    // answer) goes on at once, not when the peer sends more.
                    _held ??= HeldBodyRead.ForUpgraded(exchange, request, inner, _chunk, cancellationToken);
                    var next = await _held.NextAsync(_chunk.Length).ConfigureAwait(false);
                    if (next.IsStopped)
                    {
                        throw await StopAsync().ConfigureAwait(false);
                    }

                    if (next.Released is { } released)
                    {
                        exchange.StreamActive();
                        _pending = released;
                        _offset = 0;
                        continue;
                    }

                    read = next.Read;
                }
                else
                {
                    read = await inner.ReadAsync(_chunk, cancellationToken).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (request && exchange.ResponseEnded)
            {
                // The upstream ended the stream and YARP stopped reading the client's side: it ends here too, with
                // end_of_stream for the plugins; what they leave has nowhere to go.
                read = 0;
                afterUpstreamEnded = true;
            }

            // Bytes moved on this side, whether a plugin holds them or not: the stream idle timer starts over (Envoy's
            // counts either direction; YARP's never saw a held chunk).
            exchange.StreamActive();

            if (exchange.MustLeaveIoThread)
            {
                await Task.Yield();
            }

            _ended = read == 0;
            var output = await exchange.PushUpgradedChunkAsync(request, _chunk.AsSpan(0, read).ToArray(), _ended).ConfigureAwait(false);
            if (output is null)
            {
                throw await StopAsync().ConfigureAwait(false);
            }

            if (afterUpstreamEnded)
            {
                return 0;
            }

            _pending = output;
            _offset = 0;
        }

        var count = Math.Min(buffer.Length, _pending.Length - _offset);
        _pending.AsMemory(_offset, count).CopyTo(buffer);
        _offset += count;
        return count;
    }

    /// <summary>A plugin replied or closed (or held past the limit): after the 101 that resets the stream, and YARP's copy fails.</summary>
    private async ValueTask<IOException> StopAsync()
    {
        await exchange.WriteReplyAsync().ConfigureAwait(false);
        return new IOException(Stopped);
    }

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => inner.WriteAsync(buffer, cancellationToken);

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => inner.WriteAsync(buffer, offset, count, cancellationToken);

    public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);

    public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

    public override void Flush() => inner.Flush();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            // YARP disposes both sides once its copies are done; a held read still under way fails with the stream.
            inner.Dispose();
            _ = _held?.DisposeAsync().AsTask();
        }

        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        await inner.DisposeAsync().ConfigureAwait(false);
        if (_held is not null)
        {
            await _held.DisposeAsync().ConfigureAwait(false);
        }

        await base.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>The upstream's response content once upgraded: YARP reads (and writes) its stream, the plugins' side of it.</summary>
    private sealed class UpgradedContent(Stream stream) : HttpContent
    {
        protected override Task<Stream> CreateContentReadStreamAsync() => Task.FromResult(stream);

        protected override Task SerializeToStreamAsync(Stream target, TransportContext? context) => stream.CopyToAsync(target);

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                stream.Dispose();
            }

            base.Dispose(disposing);
        }
    }

    /// <summary>The client's upgrade features as YARP takes the client's side of the stream from them: it comes through the plugins.</summary>
    private sealed class ClientSide(Exchange exchange, IHttpUpgradeFeature? upgrade, IHttpExtendedConnectFeature? connect)
        : IHttpUpgradeFeature, IHttpExtendedConnectFeature
    {
        public bool IsUpgradableRequest => upgrade?.IsUpgradableRequest == true;

        public bool IsExtendedConnect => connect?.IsExtendedConnect == true;

        public string? Protocol => connect?.Protocol;

        public async Task<Stream> UpgradeAsync() =>
            new PluginUpgradedStream(exchange, await (upgrade ?? throw new InvalidOperationException("not an upgradable request")).UpgradeAsync().ConfigureAwait(false), request: true);

        public async ValueTask<Stream> AcceptAsync() =>
            new PluginUpgradedStream(exchange, await (connect ?? throw new InvalidOperationException("not an extended CONNECT")).AcceptAsync().ConfigureAwait(false), request: true);
    }
}
