using System.Text;
using Microsoft.Extensions.Logging;
using WasmOperator.Proxy.Logging;

namespace WasmOperator.Proxy.Tests.Admin;

/// <summary>The proxy's log writer: one line per entry, in order, in batches, bounded, nothing lost on shutdown.</summary>
public sealed class BatchedLineLoggerTests
{
    [Fact]
    public void Lines_are_written_in_order_and_in_batches_and_disposing_writes_the_rest()
    {
        var output = new CountingStream();
        var provider = new BatchedLineLoggerProvider(output, flushInterval: TimeSpan.FromSeconds(30));
        var log = provider.CreateLogger("WasmOperator.Proxy.Plugin");

        for (var i = 0; i < 5000; i++)
        {
            log.LogInformation("line {Number}", i);
        }

        provider.Dispose();

        var lines = output.Text().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(5000, lines.Length);
        Assert.Equal(Enumerable.Range(0, 5000).Select(i => $"line {i}"), lines.Select(l => l[(l.IndexOf(": ", StringComparison.Ordinal) + 2)..]));
        Assert.True(output.Writes < 100, $"{output.Writes} writes for 5000 lines");
        Assert.Equal(5000, provider.Written);
        Assert.Equal(0, provider.Dropped);
    }

    [Fact]
    public void A_line_names_time_level_and_category()
    {
        var line = BatchedLineLoggerProvider.Format(new DateTimeOffset(2026, 11, 28, 20, 10, 0, 123, TimeSpan.Zero), LogLevel.Warning,
            "WasmOperator.Proxy.Plugin", "wasm log default/show: hello", null);

        Assert.Equal("2026-11-28T20:10:00.123Z warn WasmOperator.Proxy.Plugin: wasm log default/show: hello\n", line);
    }

    [Fact]
    public void A_message_or_stack_trace_with_line_breaks_stays_one_line()
    {
        var forged = BatchedLineLoggerProvider.Format(DateTimeOffset.UnixEpoch, LogLevel.Information, "WasmOperator.Proxy.Plugin",
            "wasm log default/evil: ok\n1970-01-01T00:00:00.000Z error WasmOperator.Proxy: forged\r", new InvalidOperationException("two\nlines"));

        Assert.Single(forged.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("ok\\n1970-01-01T00:00:00.000Z error WasmOperator.Proxy: forged\\r", forged, StringComparison.Ordinal);
        Assert.Contains("two\\nlines", forged, StringComparison.Ordinal);
    }

    [Fact]
    public void Lines_beyond_the_queue_limit_are_dropped_and_counted_and_the_caller_never_waits()
    {
        var output = new CountingStream { Gate = new ManualResetEventSlim() };
        var provider = new BatchedLineLoggerProvider(output, maxQueuedLines: 100, flushInterval: TimeSpan.FromMilliseconds(1));
        var log = provider.CreateLogger("test");

        // The first batch blocks in the (stalled) output; the queue then fills up behind it.
        log.LogInformation("first");
        Assert.True(SpinWait.SpinUntil(() => output.Blocked, TimeSpan.FromSeconds(10)), "the writer never reached the output");
        for (var i = 0; i < 1000; i++)
        {
            log.LogInformation("more {Number}", i);
        }

        Assert.Equal(900, provider.Dropped);
        output.Gate.Set();
        provider.Dispose();
        Assert.Equal(101, provider.Written);
    }

    [Fact]
    public void Lines_beyond_the_queue_byte_limit_are_dropped_and_counted_however_few_they_are()
    {
        var output = new CountingStream { Gate = new ManualResetEventSlim() };
        var provider = new BatchedLineLoggerProvider(output, maxQueuedBytes: 1024 * 1024, flushInterval: TimeSpan.FromMilliseconds(1));
        var log = provider.CreateLogger("test");
        log.LogInformation("first");
        Assert.True(SpinWait.SpinUntil(() => output.Blocked, TimeSpan.FromSeconds(10)), "the writer never reached the output");

        // 100 lines of 64 Ki chars (128 KiB each as queued strings): far below the line limit, 12.5 MiB in all.
        var big = new string('x', 64 * 1024);
        for (var i = 0; i < 100; i++)
        {
            log.LogInformation("{Text}", big);
        }

        Assert.Equal(93, provider.Dropped);
        output.Gate.Set();
        provider.Dispose();
        Assert.Equal(8, provider.Written);
    }

    /// <summary>Records what is written and how many writes it took; with a gate, a write waits until it is set.</summary>
    private sealed class CountingStream : Stream
    {
        private readonly MemoryStream _written = new();

        public ManualResetEventSlim? Gate { get; init; }

        public int Writes { get; private set; }

        public bool Blocked { get; private set; }

        public string Text() => Encoding.UTF8.GetString(_written.ToArray());

        public override void Write(byte[] buffer, int offset, int count)
        {
            if (Gate is { } gate)
            {
                Blocked = true;
                gate.Wait();
            }

            Writes++;
            _written.Write(buffer, offset, count);
        }

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => _written.Length;

        public override long Position { get => _written.Position; set => throw new NotSupportedException(); }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
