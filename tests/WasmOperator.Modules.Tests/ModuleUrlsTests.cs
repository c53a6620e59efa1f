namespace WasmOperator.Modules.Tests;

public sealed class ModuleUrlsTests
{
    [Theory]
    [InlineData("HTTPS://example.com/p.wasm", true, false)]
    [InlineData("http://example.com/p.wasm", true, false)]
    [InlineData("File:///srv/plugins/p.wasm", false, true)]
    [InlineData("oci://ghcr.io/org/plugin:1", false, false)]
    [InlineData("ghcr.io/org/plugin", false, false)]
    public void Http_and_file_urls_are_told_by_their_scheme_in_any_case(string url, bool http, bool file)
    {
        Assert.Equal(http, ModuleUrls.IsHttp(url));
        Assert.Equal(file, ModuleUrls.IsFile(url));
        Assert.Equal(http || file, ModuleUrls.IsDirect(url));
    }

    [Theory]
    [InlineData("oci://ghcr.io/org/plugin:1", true, true)]
    [InlineData("ghcr.io/org/plugin", true, true)]
    [InlineData("OCI://ghcr.io/org/plugin:1", true, false)]
    [InlineData("oci://ghcr.io/org/plugin@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", false, false)]
    [InlineData("https://example.com/p.wasm", false, false)]
    public void An_oci_url_names_a_tag_unless_it_names_a_digest_and_its_scheme_matches_as_asked(string url, bool anyCase, bool ordinal)
    {
        Assert.Equal(anyCase, ModuleUrls.IsOciTag(url, StringComparison.OrdinalIgnoreCase));
        Assert.Equal(ordinal, ModuleUrls.IsOciTag(url, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("oci://registry.example:5000/repo:v1", "v1")]
    [InlineData("registry.example:5000/repo", "latest")]
    [InlineData("OCI://registry.example/repo:latest", "latest")]
    [InlineData("repo:a:b", "a:b")]
    public void The_tag_is_what_follows_the_first_colon_after_the_last_slash_else_latest(string url, string tag)
    {
        Assert.Equal(tag, ModuleUrls.TagOf(url));
    }
}
