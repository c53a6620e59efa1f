using WasmOperator.KubeApiServer.Tests.Support;

namespace WasmOperator.KubeApiServer.Tests.WithKubectl;

public sealed class WasmPluginManifestTests
{
    [Fact]
    public async Task The_WasmPlugin_crd_and_every_example_manifest_apply_and_list()
    {
        await using var f = await ServerFixture.StartAsync(installCrd: false);
        (await f.Kubectl.RunAsync("apply", "-f", RepoFiles.Path("crds/wasmplugin.yaml"))).ShouldSucceed();
        var examples = Directory.GetFiles(RepoFiles.Path("examples/manifests"), "*.yaml");
        var namespaces = examples.SelectMany(File.ReadAllLines)
            .Where(l => l.TrimStart().StartsWith("namespace:", StringComparison.Ordinal))
            .Select(l => l.Split(':', 2)[1].Trim())
            .Distinct();
        foreach (var ns in namespaces)
        {
            var manifest = $"{{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{{\"name\":\"{ns}\"}}}}";
            (await f.Kubectl.RunWithInputAsync(manifest, "apply", "-f", "-")).ShouldSucceed();
        }

        var applied = (await f.Kubectl.RunAsync("apply", "-f", RepoFiles.Path("examples/manifests"))).ShouldSucceed().Stdout;
        var listed = (await f.Kubectl.RunAsync("get", "wasmplugins", "-A", "-o", "name")).ShouldSucceed().Stdout;
        var table = (await f.Kubectl.RunAsync("get", "wasmplugins", "-A")).ShouldSucceed().Stdout;
        var explained = (await f.Kubectl.RunAsync("explain", "wasmplugin.spec.url")).ShouldSucceed().Stdout;

        var created = applied.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.NotEmpty(examples);
        Assert.All(created, line => Assert.EndsWith(" created", line, StringComparison.Ordinal));
        Assert.Equal(created.Length, listed.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.StartsWith("NAMESPACE", table, StringComparison.Ordinal);
        Assert.DoesNotContain("<unknown>", applied, StringComparison.Ordinal);
        Assert.Contains("FIELD: url <string>", explained, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_WasmPlugin_breaking_a_cel_rule_prints_the_rule_message()
    {
        await using var f = await ServerFixture.StartAsync(installCrd: false);
        (await f.Kubectl.RunAsync("apply", "-f", RepoFiles.Path("crds/wasmplugin.yaml"))).ShouldSucceed();
        const string invalid = """
            apiVersion: extensions.wasmoperator.io/v1alpha1
            kind: WasmPlugin
            metadata:
              name: bad-scheme
            spec:
              url: ftp://registry.local/plugin.wasm
            """;

        var result = await f.Kubectl.RunWithInputAsync(invalid, "apply", "-f", "-");

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("The WasmPlugin \"bad-scheme\" is invalid", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("spec.url", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("url must have schema one of [http, https, file, oci]", result.Stderr, StringComparison.Ordinal);
    }
}
