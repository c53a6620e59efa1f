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
        await using var server = new UntrustedTlsServer();
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
}
