using System.Buffers;
using System.IO.Pipelines;

namespace WasmOperator.Proxy.Forwarding;

/// <summary>
/// Reads of the client's body through Kestrel's PipeReader, which every reader of it (the forwarder, the plugins' body
/// reads) goes through rather than Kestrel's request Stream. That Stream, and a cancelled token passed to either, ends a
/// read of a Content-Length body without handing the buffer back: Kestrel then finds the body "mid-read", its drain after
/// the response fails ("Reading is already in progress", logged as an error) and the keep-alive connection is closed, so
/// a client still uploading may get a broken pipe instead of the answer. A read ended through
/// <see cref="PipeReader.CancelPendingRead"/> and handed back here leaves the rest drainable.
/// </summary>
internal static class ClientBodyReader
{
    /// <summary>
    /// Copies what the client sent next into <paramref name="into"/>; 0 at the end of the body. A read ended by
    /// <see cref="PipeReader.CancelPendingRead"/> (a stop, or <paramref name="cancellationToken"/>, which ends it that way
    /// and is never passed to Kestrel) throws <see cref="OperationCanceledException"/> once the reader is handed back.
    /// </summary>
    public static async ValueTask<int> ReadAsync(PipeReader reader, Memory<byte> into, CancellationToken cancellationToken = default)
    {
        using var cancel = CancelOn(reader, cancellationToken);
        while (true)
        {
            var result = await reader.ReadAsync(CancellationToken.None).ConfigureAwait(false);
            var data = result.Buffer;
            // Cancelled even when the body also completed (the client's stream was reset as the stop was made): a stop is
            // never read as the body's clean end, which would end the upstream request as if whole instead of resetting it.
            if (result.IsCanceled)
            {
                reader.AdvanceTo(data.Start);
                throw Stopped(cancellationToken);
            }

            var take = (int)Math.Min(data.Length, into.Length);
            data.Slice(0, take).CopyTo(into.Span);
            reader.AdvanceTo(data.GetPosition(take));
            if (take > 0 || result.IsCompleted)
            {
                return take;
            }
        }
    }

    /// <summary>
    /// Whether the client's body ends where it has been read to: waits for the client's next bytes or the end of its
    /// stream, and takes nothing (a later read gets the bytes at once). Cancelled as <see cref="ReadAsync"/> is.
    /// </summary>
    public static async ValueTask<bool> EndsHereAsync(PipeReader reader, CancellationToken cancellationToken = default)
    {
        using var cancel = CancelOn(reader, cancellationToken);
        var result = await reader.ReadAsync(CancellationToken.None).ConfigureAwait(false);
        reader.AdvanceTo(result.Buffer.Start);
        if (result.IsCanceled)
        {
            throw Stopped(cancellationToken);
        }

        return result.IsCompleted && result.Buffer.IsEmpty;
    }

    /// <summary>
    /// Makes <paramref name="cancellationToken"/> end a read through <see cref="CancelRead"/>. Disposed before the read
    /// returns: a cancel can only reach this request's body, never the next one's on the connection (Kestrel hands the
    /// reader on).
    /// </summary>
    private static CancellationTokenRegistration CancelOn(PipeReader reader, CancellationToken cancellationToken) =>
        cancellationToken.CanBeCanceled ? cancellationToken.UnsafeRegister(static r => CancelRead((PipeReader)r!), reader) : default;

    /// <summary>A read ended by <see cref="PipeReader.CancelPendingRead"/>: the token's own exception if it was the token.</summary>
    private static OperationCanceledException Stopped(CancellationToken cancellationToken) =>
        cancellationToken.IsCancellationRequested
            ? new OperationCanceledException(cancellationToken)
            : new OperationCanceledException("the rest of the request body is not read: the stream stopped");

    /// <summary>
    /// Ends a read of the client's body that waits on the client. Once the body failed (the client reset its stream, or
    /// sent less than its content-length) Kestrel's reader rethrows that failure from CancelPendingRead, whatever it was,
    /// and no read is waiting: nothing to cancel. Thrown, it would escape the callback that cancels (the RequestAborted
    /// one aborts the upstream connection) and Kestrel would log it as an unhandled exception of the application's.
    /// </summary>
    public static void CancelRead(PipeReader reader)
    {
        try
        {
            reader.CancelPendingRead();
        }
        catch (Exception)
        {
            // The read this was to end has ended with the body's own error, which its reader reports; or the request's
            // body is over (the reader disposed).
        }
    }
}
