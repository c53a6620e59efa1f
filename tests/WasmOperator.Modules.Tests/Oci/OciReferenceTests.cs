using WasmOperator.Modules.Oci;

namespace WasmOperator.Modules.Tests.Oci;

public sealed class OciReferenceTests
{
    private const string Digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    [Theory]
    [InlineData("oci://ghcr.io/org/plugin:1.0", "ghcr.io", "org/plugin", "1.0", null)]
    [InlineData("ghcr.io/org/plugin", "ghcr.io", "org/plugin", "latest", null)]
    [InlineData("localhost:5000/plugin@" + Digest, "localhost:5000", "plugin", null, Digest)]
    [InlineData("oci://127.0.0.1:5000/a/b/c:v2@" + Digest, "127.0.0.1:5000", "a/b/c", "v2", Digest)]
    [InlineData("istio/plugin:1", "docker.io", "istio/plugin", "1", null)]
    [InlineData("plugin", "docker.io", "library/plugin", "latest", null)]
    public void A_reference_is_split_into_registry_repository_tag_and_digest(string url, string registry, string repository, string? tag, string? digest)
    {
        Assert.True(OciReference.TryParse(url, out var reference, out var error), error);

        Assert.Equal(new OciReference(registry, repository, tag, digest), reference);
        Assert.Equal(digest ?? tag, reference!.ManifestReference);
    }

    [Theory]
    [InlineData("oci://ghcr.io/Org/plugin:v1")]
    [InlineData("oci://ghcr.io/org/plugin@sha256:abc")]
    [InlineData("oci://ghcr.io/org/plugin@md5:0123456789abcdef0123456789abcdef")]
    [InlineData("oci://ghcr.io/org/plugin:-bad")]
    [InlineData("oci://ghcr.io/")]
    public void An_invalid_reference_is_refused_with_a_reason(string url)
    {
        Assert.False(OciReference.TryParse(url, out _, out var error));
        Assert.False(string.IsNullOrEmpty(error));
    }

    [Fact]
    public void Docker_Hub_is_reached_on_its_API_host()
    {
        Assert.True(OciReference.TryParse("docker.io/istio/plugin:1", out var reference, out _));
        Assert.Equal("registry-1.docker.io", reference!.ApiHost);
    }
}
