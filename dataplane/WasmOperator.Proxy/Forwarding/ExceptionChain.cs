namespace WasmOperator.Proxy.Forwarding;

/// <summary>Finds what a failure wraps: HttpClient and YARP bury the socket's or the timer's exception a few levels down.</summary>
internal static class ExceptionChain
{
    /// <summary><paramref name="exception"/> itself or the first exception it wraps (inner after inner) that is a <typeparamref name="T"/>.</summary>
    public static T? Find<T>(Exception? exception)
        where T : Exception
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is T found)
            {
                return found;
            }
        }

        return null;
    }

    /// <summary>
    /// As <see cref="Find{T}"/>, looking into each exception of an aggregate met on the way: YARP reports a request body
    /// copy that HttpClient's failure cancelled as an aggregate of both, the cancellation maybe first.
    /// </summary>
    public static T? FindAmong<T>(Exception? exception)
        where T : Exception
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is T found)
            {
                return found;
            }

            if (e is AggregateException aggregate)
            {
                foreach (var inner in aggregate.InnerExceptions)
                {
                    if (FindAmong<T>(inner) is { } among)
                    {
                        return among;
                    }
                }

                return null;
            }
        }

        return null;
    }
}
