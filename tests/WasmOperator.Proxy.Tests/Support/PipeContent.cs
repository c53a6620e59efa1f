using System.IO.Pipelines;
using System.Net;

namespace WasmOperator.Proxy.Tests.Support;

/// <summary>
/// A request body of unknown length that the test writes to when it wants (<see cref="Writer"/>): the
/// client sends its headers at once and each write as it is made, as a streaming gRPC client does.
/// Completing the writer ends the body; completing it with an exception resets the stream.
/// </summary>
internal sealed class PipeContent : HttpContent
{
    private readonly Pipe _pipe = new();

    public PipeWriter Writer => _pipe.Writer;

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
    {
        // Flush the (empty) start so the request headers leave before any body is written.
        await stream.FlushAsync();
        while (true)
        {
            var result = await _pipe.Reader.ReadAsync();
            foreach (var segment in result.Buffer)
            {
                await stream.WriteAsync(segment);
            }

            await stream.FlushAsync();
            _pipe.Reader.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                break;
            }
        }
    }

    protected override bool TryComputeLength(out long length)
    {
        length = 0;
        return false;
    }
}
