using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Time.Testing;
using WasmOperator.Api.WasmPlugins;
using WasmOperator.Operator.Reconciliation;
using WasmOperator.Operator.Tests.Support;

namespace WasmOperator.Operator.Tests.Reconciliation;

public sealed class CertificateTests
{
    [Fact]
    public async Task A_module_server_whose_certificate_is_not_trusted_stalls_the_plugin_with_CertificateRejected_naming_the_host_and_the_fix()
    {
        await using var cluster = await Cluster.StartAsync();
        await using var server = RenewableTlsServer.Untrusted();
        await cluster.StartOperatorAsync();
        var url = $"https://{server.HostPort}/plugin.wasm";

        await cluster.CreateAsync(Cluster.Plugin("untrusted", url, new string('a', 64)));
        var stalled = await cluster.WaitForConditionAsync("untrusted", ConditionTypes.Stalled, ConditionStatus.True);

        var conditions = stalled.Status!.Conditions!;
        var ready = conditions.Find(c => c.Type == ConditionTypes.Ready)!;
        var reconciling = conditions.Find(c => c.Type == ConditionTypes.Reconciling)!;
        Assert.Equal(ConditionReasons.CertificateRejected, conditions.Find(c => c.Type == ConditionTypes.Stalled)!.Reason);
        Assert.Equal(ConditionStatus.False, ready.Status);
        Assert.Equal(ConditionReasons.CertificateRejected, ready.Reason);
        Assert.StartsWith($"{url}: the TLS certificate of {server.HostPort} is not trusted (", ready.Message, StringComparison.Ordinal);
        Assert.Contains("SSL_CERT_FILE", ready.Message, StringComparison.Ordinal);
        Assert.Equal(ConditionStatus.False, reconciling.Status);
        Assert.StartsWith("spec.url is tried again every ", reconciling.Message, StringComparison.Ordinal);
        Assert.True(server.Handshakes >= 1, "the fetch reached the server");
    }

    [Fact]
    public async Task A_plugin_stalled_by_a_refused_certificate_is_tried_again_when_the_always_pull_interval_has_passed_and_not_before()
    {
        var interval = TimeSpan.FromMinutes(5);
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var cluster = await Cluster.StartAsync();
        await using var server = RenewableTlsServer.Untrusted();
        // The queue's delays run on the test's clock: nothing is retried unless the test moves it.
        var op = await cluster.StartOperatorAsync(cluster.Options() with { LeaderElection = false, AlwaysPullInterval = interval }, time: clock);
        await cluster.CreateAsync(Cluster.Plugin("untrusted", $"https://{server.HostPort}/plugin.wasm", new string('a', 64)));
        var stalled = await cluster.WaitForConditionAsync("untrusted", ConditionTypes.Stalled, ConditionStatus.True);
        await cluster.QuietAsync(op, "untrusted");
        var handshakes = server.Handshakes;
        var adds = op.Host.Queue.TotalAdds;

        clock.Advance(interval - TimeSpan.FromMilliseconds(1));
        var addsBeforeInterval = op.Host.Queue.TotalAdds;
        clock.Advance(TimeSpan.FromMilliseconds(1));
        var addsAtInterval = op.Host.Queue.TotalAdds;
        await Cluster.EventuallyAsync(() => server.Handshakes > handshakes, "a handshake after the interval");
        await cluster.QuietAsync(op, "untrusted");
        var handshakesAfterOne = server.Handshakes;

        // And again: the pass the interval brought schedules the next one an interval later.
        clock.Advance(interval - TimeSpan.FromMilliseconds(1));
        var addsBeforeSecond = op.Host.Queue.TotalAdds;
        clock.Advance(TimeSpan.FromMilliseconds(1));
        await Cluster.EventuallyAsync(() => server.Handshakes > handshakesAfterOne, "a handshake after the second interval");
        await cluster.QuietAsync(op, "untrusted");
        var after = await cluster.GetAsync("untrusted");

        Assert.Equal(ConditionReasons.CertificateRejected, stalled.Status!.Conditions!.Find(c => c.Type == ConditionTypes.Stalled)!.Reason);
        Assert.Equal(adds, addsBeforeInterval);
        Assert.Equal(adds + 1, addsAtInterval);
        Assert.Equal(handshakes + 1, handshakesAfterOne);
        Assert.Equal(adds + 1, addsBeforeSecond);
        Assert.Equal(handshakes + 2, server.Handshakes);
        Assert.Equal(0, op.Host.Queue.TotalRetries);
        Assert.Equal(stalled.Metadata!.ResourceVersion, after!.Metadata!.ResourceVersion);
    }

    [Fact]
    public async Task A_plugin_stalled_by_an_expired_certificate_becomes_Ready_at_the_next_interval_once_the_server_presents_a_renewed_one_without_a_change_to_the_plugin()
    {
        await using var cluster = await Cluster.StartAsync();
        var (moduleUrl, sha) = cluster.Modules.ProxyWasm("renewed");
        await using var server = new RenewableTlsServer(await File.ReadAllBytesAsync(cluster.Modules.PathOf(moduleUrl)), expired: true);
        var op = await cluster.StartOperatorAsync(cluster.Options() with
        {
            AlwaysPullInterval = TimeSpan.FromMilliseconds(300),
            TrustedCertificates = [X509CertificateLoader.LoadCertificate(server.Authority.RawData)],
        });
        var url = $"https://{server.HostPort}/plugin.wasm";
        await cluster.CreateAsync(Cluster.Plugin("renewed", url, sha));
        var stalled = await cluster.WaitForConditionAsync("renewed", ConditionTypes.Stalled, ConditionStatus.True);
        var desiredWhileStalled = op.Desired.Get("default/renewed");
        // The passes its own status write queued are over: only the interval can bring the next fetch.
        await cluster.QuietAsync(op, "renewed");

        var handshakesBeforeRenewal = server.Handshakes;
        server.Renew();
        var ready = await cluster.WaitForConditionAsync("renewed", ConditionTypes.Ready, ConditionStatus.True);

        var stalledReady = stalled.Status!.Conditions!.Find(c => c.Type == ConditionTypes.Ready)!;
        Assert.Equal(ConditionReasons.CertificateRejected, stalledReady.Reason);
        Assert.Null(desiredWhileStalled);
        Assert.True(server.Handshakes > handshakesBeforeRenewal, "the plugin was fetched again after the renewal");
        Assert.Equal(1, ready.Metadata!.Generation);
        Assert.Equal(ConditionStatus.False, ready.Status!.Conditions!.Find(c => c.Type == ConditionTypes.Stalled)!.Status);
        Assert.Equal($"sha256:{sha}", ready.Status.Module!.ModuleDigest);
        Assert.Equal($"sha256:{sha}", op.Desired.Get("default/renewed")!.ModuleDigest);
    }
}
