// The data-plane proxy: Kestrel + YARP hosting the Proxy-Wasm plugin chain.
using System.Globalization;
using System.Net;
using WasmOperator.Proxy;
using WasmOperator.Proxy.Configuration;
using WasmOperator.Proxy.Proxying;

// Before any socket exists: socket continuations run inline on the epoll threads (plugin code hops off them).
SocketThreads.PreferInlineCompletions();
var options = new ProxyOptions();
for (var i = 0; i < args.Length; i++)
{
    var value = i + 1 < args.Length ? args[i + 1] : null;
    string Next() => value ?? throw new ArgumentException($"{args[i]} needs a value");
    switch (args[i])
    {
        case "--port": options.Port = int.Parse(Next(), CultureInfo.InvariantCulture); i++; break;
        case "--h2c-port": options.H2cPort = int.Parse(Next(), CultureInfo.InvariantCulture); i++; break;
        case "--admin-port": options.AdminPort = int.Parse(Next(), CultureInfo.InvariantCulture); i++; break;
        case "--listen": options.ListenAddress = IPAddress.Parse(Next()); i++; break;
        case "--upstream": options.Clusters[ProxyOptions.DefaultCluster] = new Uri(Next()); i++; break;
        case "--plugins": options.PluginsFile = Next(); i++; break;
        case "--max-body-bytes": options.MaxBufferedBodyBytes = int.Parse(Next(), CultureInfo.InvariantCulture); i++; break;
        case "--upstream-timeout": options.UpstreamTimeout = TimeSpan.FromSeconds(double.Parse(Next(), CultureInfo.InvariantCulture)); i++; break;
        case "--stream-idle-timeout": options.StreamIdleTimeout = TimeSpan.FromSeconds(double.Parse(Next(), CultureInfo.InvariantCulture)); i++; break;
        case "--inline-io": options.InlineIo = bool.Parse(Next()); i++; break;
        case "--request-id": options.GenerateRequestId = bool.Parse(Next()); i++; break;
        case "--drain-time": options.DrainTime = Seconds(Next()); i++; break;
        case "--drain-timeout": options.DrainTimeout = Seconds(Next()); i++; break;
        case "--shards": options.ShardsPerPlugin = int.Parse(Next(), CultureInfo.InvariantCulture); i++; break;
        case "--max-callouts-per-cluster": options.MaxCalloutsPerCluster = int.Parse(Next(), CultureInfo.InvariantCulture); i++; break;
        case "--cluster":
            var cluster = Next().Split('=', 2);
            options.Clusters[cluster[0]] = new Uri(cluster[1]);
            i++;
            break;
        case "--route":
            var route = Next().Split('=', 2);
            options.Routes.Add(new RouteOption(route[0], route[1]));
            i++;
            break;
        case "--node-label":
            var label = Next().Split('=', 2);
            options.NodeMetadata[label[0]] = label.Length > 1 ? label[1] : "";
            i++;
            break;
        default:
            await Console.Error.WriteLineAsync(
                $"unknown argument '{args[i]}'. Usage: WasmOperator.Proxy [--port 15001] [--h2c-port 15002 (0 = off)] [--admin-port 15000] [--listen 0.0.0.0] " +
                "[--upstream http://127.0.0.1:8080] [--plugins plugins.yaml] [--cluster name=url]... [--route /prefix=cluster]... " +
                "[--node-label key=value]... [--max-body-bytes N] [--shards N] [--max-callouts-per-cluster N (2048)] [--upstream-timeout SECONDS (100)] [--stream-idle-timeout SECONDS (300)] " +
                "[--inline-io true|false] [--request-id true|false (generate x-request-id when absent)] [--drain-time SECONDS (5)] [--drain-timeout SECONDS (20)]").ConfigureAwait(false);
            return 2;
    }
}

await using var server = await ProxyServer.StartAsync(options).ConfigureAwait(false);
await server.RunAsync().ConfigureAwait(false);
return 0;

static TimeSpan Seconds(string text) =>
    double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && seconds >= 0 && seconds <= int.MaxValue / 1000.0
        ? TimeSpan.FromSeconds(seconds)
        : throw new ArgumentException($"expected a number of seconds (0 or more), got '{text}'");
