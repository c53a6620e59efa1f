using System.Diagnostics;

namespace WasmOperator.Proxy.Chain;

/// <summary>
/// At most one log line per interval for a failure that repeats on every request (a plugin with no healthy VM, or one
/// that never loaded, refuses each request alike): thousands of identical lines a second would say nothing more, and
/// would crowd out the rest of the log. The lines left out are counted into the next one.
/// </summary>
internal sealed class LogThrottle(TimeSpan interval)
{
    private readonly long _intervalTicks = (long)(interval.TotalSeconds * Stopwatch.Frequency);
    private long _next;
    private long _suppressed;

    /// <summary>True when a line may be written now, with how many were left out since the last one.</summary>
    public bool TryEnter(out long suppressed)
    {
        var now = Stopwatch.GetTimestamp();
        var next = Volatile.Read(ref _next);
        if (now < next || Interlocked.CompareExchange(ref _next, now + _intervalTicks, next) != next)
        {
            Interlocked.Increment(ref _suppressed);
            suppressed = 0;
            return false;
        }

        suppressed = Interlocked.Exchange(ref _suppressed, 0);
        return true;
    }
}
