namespace WasmOperator.Proxy.Proxying;

/// <summary>
/// The proxy process runs with inline socket completions (<c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1</c>,
/// one epoll thread per core): an upstream read completes on the epoll thread and YARP copies on
/// without a thread-pool hop. With <see cref="Configuration.ProxyOptions.InlineIo"/> (the default) plugin
/// code runs there too, as Envoy runs filters on its worker event loops; without it, code that calls into
/// a VM after awaiting a socket checks <see cref="OnIoThread"/> and yields to the thread pool.
/// </summary>
internal static class SocketThreads
{
    public const string InlineCompletionsVariable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    /// <summary>
    /// Turns inline completions on unless the environment already decides (set it to 0 to turn them off).
    /// Only takes effect before the process opens its first socket, so only <c>Program</c> calls it.
    /// </summary>
    public static void PreferInlineCompletions()
    {
        if (Environment.GetEnvironmentVariable(InlineCompletionsVariable) is null)
        {
            Environment.SetEnvironmentVariable(InlineCompletionsVariable, "1");
        }
    }

    /// <summary>True when socket completions run inline on the event threads (as the runtime reads the variable).</summary>
    public static bool InlineCompletions => Environment.GetEnvironmentVariable(InlineCompletionsVariable) is "1" or "true" or "True";

    /// <summary>True off the thread pool (a socket engine thread with inline completions): plugin code runs here only with <see cref="Configuration.ProxyOptions.InlineIo"/>.</summary>
    public static bool OnIoThread => !Thread.CurrentThread.IsThreadPoolThread;
}
