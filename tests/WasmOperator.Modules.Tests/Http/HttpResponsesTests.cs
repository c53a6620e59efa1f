using WasmOperator.Modules.Http;

namespace WasmOperator.Modules.Tests.Http;

public sealed class HttpResponsesTests
{
    // The causes as .NET words them. A leaf served without its intermediate cannot be tested end to end here: its root
    // would have to be in the system trust store, which the test process cannot change.
    [Theory]
    [InlineData("The remote certificate is invalid because of errors in the certificate chain: PartialChain", "")]
    [InlineData("The remote certificate is invalid because of errors in the certificate chain: NotTimeValid, PartialChain", " and has expired or is not valid yet")]
    public void A_leaf_served_without_its_intermediates_is_told_to_serve_the_full_chain(string cause, string expired)
    {
        var message = HttpResponses.CertificateProblem("registry.example:5000", cause);

        Assert.StartsWith($"the TLS certificate of registry.example:5000 is not trusted ({cause}){expired}: no chain from it to a CA the operator trusts could be built; ", message, StringComparison.Ordinal);
        Assert.Contains("serve the full chain (leaf + intermediates) from the server; if it already does, its root CA is not trusted: ", message, StringComparison.Ordinal);
        Assert.Contains("SSL_CERT_FILE", message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_certificate_whose_only_fault_is_its_name_gets_only_the_name_advice()
    {
        var message = HttpResponses.CertificateProblem(
            "registry.example:5000", "The remote certificate is invalid according to the validation procedure: RemoteCertificateNameMismatch");

        Assert.Equal("the TLS certificate of registry.example:5000 does not name registry.example; use a host name the certificate names, or give the server a certificate for registry.example", message);
    }
}
