using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;

namespace WasmOperator.Proxy.Logging;

/// <summary>
/// The proxy's log: one line per entry (<c>2026-11-28T20:10:00.123Z info WasmOperator.Proxy.Plugin: text</c>),
/// written to a stream (stdout) in batches by a background thread. A plugin that logs on every request
/// must not cost a write syscall and a thread wake-up per line, nor block the request path: lines are
/// queued (bounded by <see cref="MaxQueuedLines"/> and <see cref="MaxQueuedBytes"/>; beyond either they are dropped and
/// counted, so a plugin logging huge lines to a slow stdout cannot grow the heap) and written every
/// <see cref="FlushInterval"/>, or as soon as a batch's worth is waiting. Disposing writes what is queued.
/// </summary>
internal sealed class BatchedLineLoggerProvider : ILoggerProvider
{
    private const int BatchLines = 1024;
    private readonly ConcurrentQueue<string> _queue = new();
    private readonly Stream _output;
    private readonly AutoResetEvent _wake = new(false);
    private readonly Thread _writer;
    private volatile bool _stopping;
    private int _disposed;
    private int _queued;
    private long _queuedBytes;
    private long _dropped;
    private long _written;

    public BatchedLineLoggerProvider(Stream output, int maxQueuedLines = 64 * 1024, long maxQueuedBytes = 32L * 1024 * 1024, TimeSpan? flushInterval = null)
    {
        _output = output;
        MaxQueuedLines = maxQueuedLines;
        MaxQueuedBytes = maxQueuedBytes;
        FlushInterval = flushInterval ?? TimeSpan.FromMilliseconds(50);
        _writer = new Thread(WriteLoop) { IsBackground = true, Name = "proxy log writer" };
        _writer.Start();
    }

    /// <summary>Lines waiting beyond this are dropped (and counted in <see cref="Dropped"/>).</summary>
    public int MaxQueuedLines { get; }

    /// <summary>
    /// Memory the waiting lines may hold (UTF-16, as queued); a line that would pass it is dropped (and counted in
    /// <see cref="Dropped"/>). The default holds the full line limit of ordinary (~250-char) lines.
    /// </summary>
    public long MaxQueuedBytes { get; }

    public TimeSpan FlushInterval { get; }

    /// <summary>Lines dropped because the queue was full (of lines or of bytes).</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Lines written to the output.</summary>
    public long Written => Interlocked.Read(ref _written);

    public ILogger CreateLogger(string categoryName) => new LineLogger(this, categoryName);

    private void Enqueue(string line)
    {
        var size = Size(line);
        var queued = Interlocked.Increment(ref _queued);
        if (queued > MaxQueuedLines || Interlocked.Add(ref _queuedBytes, size) > MaxQueuedBytes || _stopping)
        {
            Interlocked.Decrement(ref _queued);
            if (queued <= MaxQueuedLines)
            {
                Interlocked.Add(ref _queuedBytes, -size);
            }

            Interlocked.Increment(ref _dropped);
            return;
        }

        _queue.Enqueue(line);
        if (queued == BatchLines)
        {
            try
            {
                _wake.Set();
            }
            catch (ObjectDisposedException)
            {
                // Shutting down: the writer already wrote its last batch.
            }
        }
    }

    private static long Size(string line) => (long)line.Length * sizeof(char);

    private void WriteLoop()
    {
        var buffer = new MemoryStream(64 * 1024);
        while (true)
        {
            _wake.WaitOne(FlushInterval);
            var stopping = _stopping;
            WriteQueued(buffer);
            if (stopping)
            {
                return;
            }
        }
    }

    private void WriteQueued(MemoryStream buffer)
    {
        while (_queue.TryDequeue(out var line))
        {
            Interlocked.Decrement(ref _queued);
            Interlocked.Add(ref _queuedBytes, -Size(line));
            var bytes = Encoding.UTF8.GetByteCount(line);
            var at = (int)buffer.Length;
            buffer.SetLength(at + bytes);
            Encoding.UTF8.GetBytes(line, buffer.GetBuffer().AsSpan(at, bytes));
            Interlocked.Increment(ref _written);
            if (buffer.Length >= 60 * 1024)
            {
                Flush(buffer);
            }
        }

        Flush(buffer);
    }

    private void Flush(MemoryStream buffer)
    {
        if (buffer.Length == 0)
        {
            return;
        }

        try
        {
            _output.Write(buffer.GetBuffer(), 0, (int)buffer.Length);
            _output.Flush();
        }
#pragma warning disable CA1031 // Whatever the output throws (closed pipe, full disk), the proxy keeps serving; the writer keeps running.
        catch (Exception)
#pragma warning restore CA1031
        {
        }

        buffer.SetLength(0);
    }

    /// <summary>Writes every queued line, then stops the writer.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _stopping = true;
        _wake.Set();
        _writer.Join();

        // A line enqueued by a caller that passed the stopping check just before it was set.
        WriteQueued(new MemoryStream());
        _wake.Dispose();
    }

    internal static string Format(DateTimeOffset time, LogLevel level, string category, string message, Exception? exception)
    {
        var text = new StringBuilder(48 + category.Length + message.Length);
        text.Append(time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture))
            .Append(' ').Append(LevelName(level)).Append(' ').Append(category).Append(": ");
        AppendEscaped(text, message);
        if (exception is not null)
        {
            text.Append(' ');
            AppendEscaped(text, exception.ToString());
        }

        return text.Append('\n').ToString();
    }

    /// <summary>One entry stays one line: CR and LF (a stack trace, or a plugin's text) are written as \r and \n.</summary>
    private static void AppendEscaped(StringBuilder text, string value)
    {
        if (value.AsSpan().IndexOfAny('\r', '\n') < 0)
        {
            text.Append(value);
            return;
        }

        foreach (var c in value)
        {
            _ = c switch
            {
                '\r' => text.Append("\\r"),
                '\n' => text.Append("\\n"),
                _ => text.Append(c),
            };
        }
    }

    private static string LevelName(LogLevel level) => level switch
    {
        LogLevel.Trace => "trace",
        LogLevel.Debug => "debug",
        LogLevel.Information => "info",
        LogLevel.Warning => "warn",
        LogLevel.Error => "error",
        _ => "critical",
    };

    private sealed class LineLogger(BatchedLineLoggerProvider provider, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                provider.Enqueue(Format(DateTimeOffset.UtcNow, logLevel, category, formatter(state, exception), exception));
            }
        }
    }
}
