using System.IO.Pipelines;
using WasmOperator.Proxy.Forwarding;

namespace WasmOperator.Proxy.Tests.Forwarding;

/// <summary>Reads of the client's body through Kestrel's PipeReader (a real <see cref="Pipe"/> here).</summary>
public sealed class ClientBodyReaderTests
{
    [Fact]
    public async Task A_read_cancelled_as_the_body_also_ended_is_a_stop_not_the_bodys_clean_end()
    {
        // A gRPC stream idle timeout resets the client's stream and cancels the read at once: read as the body's end, the
        // upstream request was ended whole (END_STREAM) instead of reset.
        var pipe = new Pipe();
        await pipe.Writer.WriteAsync("partial"u8.ToArray());
        await pipe.Writer.CompleteAsync();
        pipe.Reader.CancelPendingRead();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => ClientBodyReader.ReadAsync(pipe.Reader, new byte[16]).AsTask());

        // The bytes were handed back, not consumed: the body stays drainable.
        var rest = await pipe.Reader.ReadAsync();
        Assert.Equal(7, rest.Buffer.Length);
    }

    [Fact]
    public async Task A_token_ends_a_read_waiting_on_the_client_without_passing_it_to_the_reader()
    {
        var pipe = new Pipe();
        using var stop = new CancellationTokenSource();
        var reading = ClientBodyReader.ReadAsync(pipe.Reader, new byte[16], stop.Token).AsTask();

        await stop.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => reading);
        await pipe.Writer.WriteAsync("more"u8.ToArray());
        Assert.Equal(4, await ClientBodyReader.ReadAsync(pipe.Reader, new byte[16]));
    }
}
