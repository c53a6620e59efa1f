// The data-plane proxy: Kestrel + YARP hosting the Proxy-Wasm plugin chain.
using System.Net.Sockets;
using WasmOperator.Proxy;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Proxying;

// Before any socket exists: socket continuations run inline on the epoll threads (plugin code hops off them).
SocketThreads.PreferInlineCompletions();
if (ProxyArguments.WantsHelp(args))
{
    Console.WriteLine(ProxyArguments.Usage);
    return 0;
}

ProxyOptions options;
try
{
    options = ProxyArguments.Parse(args);
}
catch (ProxyArgumentsException ex)
{
    await Console.Error.WriteLineAsync(ex.Report()).ConfigureAwait(false);
    return 2;
}

ProxyServer server;
try
{
    server = await ProxyServer.StartAsync(options).ConfigureAwait(false);
}
catch (Exception ex) when (ex is IOException or SocketException)
{
    await Console.Error.WriteLineAsync(
        $"error: cannot listen on {options.ListenAddress} (ports {options.Port}, {options.H2cPort}, status {options.StatusPort}) " +
        $"or {options.AdminAddress} (admin {options.AdminPort}): {ex.Message.TrimEnd('.')}; " +
        "pick free ports (--port, --h2c-port, --status-port, --admin-port) and addresses of this host (--listen, --admin-address)").ConfigureAwait(false);
    return 1;
}

await using (server.ConfigureAwait(false))
{
    await server.RunAsync().ConfigureAwait(false);
}

return 0;
