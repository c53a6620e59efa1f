using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace WasmOperator.Proxy.Tests.Support;

/// <summary>Collects the proxy's log lines so tests can assert on them.</summary>
internal sealed class LogSink : ILoggerProvider
{
    private readonly ConcurrentQueue<string> _lines = new();

    public IReadOnlyCollection<string> Lines => _lines;

    public bool Contains(string text) => _lines.Any(l => l.Contains(text, StringComparison.Ordinal));

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(LogSink sink, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        // Plugin lines at every level: the plugin log level (/logging) is what filters them.
        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information || category == WasmOperator.Proxy.Proxying.PluginHost.LogCategory;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                sink._lines.Enqueue($"{logLevel} {category}: {formatter(state, exception)}");
            }
        }
    }
}
