using Microsoft.Extensions.Logging;

namespace WasmOperator.Operator.Tests.Support;

/// <summary>
/// Keeps the last lines the operator replicas of a test logged (Debug and up), so a wait that gives up can
/// say what the operator was doing instead of only what the API server shows.
/// </summary>
internal sealed class RecentLog : ILoggerProvider
{
    private const int Capacity = 200;
    private readonly Queue<string> _lines = new();
    private readonly Lock _lock = new();

    public ILoggerFactory Factory() => LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Debug).AddProvider(this));

    /// <summary>The last <paramref name="count"/> lines, oldest first.</summary>
    public string Tail(int count = 40)
    {
        lock (_lock)
        {
            return string.Join('\n', _lines.Skip(Math.Max(0, _lines.Count - count)));
        }
    }

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private void Add(string line)
    {
        lock (_lock)
        {
            if (_lines.Count == Capacity)
            {
                _lines.Dequeue();
            }

            _lines.Enqueue(line);
        }
    }

    private sealed class Logger(RecentLog log, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Debug;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var text = formatter(state, exception);
            var error = exception is null ? "" : $" ({exception.GetType().Name}: {exception.Message})";
            log.Add($"{DateTime.UtcNow:HH:mm:ss.fff} {logLevel} {category[(category.LastIndexOf('.') + 1)..]}: {text}{error}");
        }
    }
}
