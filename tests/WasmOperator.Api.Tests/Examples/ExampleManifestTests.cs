using System.Text.Json.Nodes;
using WasmOperator.Api.Serialization;
using WasmOperator.Api.Tests.Fixtures;
using WasmOperator.Api.WasmPlugins;

namespace WasmOperator.Api.Tests.Examples;

public sealed class ExampleManifestTests
{
    private static readonly string Directory = Repo.PathOf("examples/manifests");

    public static TheoryData<string> Files =>
        new(System.IO.Directory.EnumerateFiles(Directory, "*.yaml").Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!);

    [Theory]
    [MemberData(nameof(Files))]
    public void Example_manifest_validates_against_the_generated_CRD(string file)
    {
        var documents = YamlJson.ParseDocuments(File.ReadAllText(Path.Combine(Directory, file)));

        Assert.NotEmpty(documents);
        Assert.All(documents, document =>
        {
            var result = WasmPluginCrd.Validator.Validate((JsonObject)document);
            Assert.True(result.IsValid, $"{file}: {string.Join("; ", result.Errors)}");
        });
    }

    [Fact]
    public void Every_scenario_the_issue_names_has_an_example()
    {
        var files = System.IO.Directory.EnumerateFiles(Directory, "*.yaml").Select(f => Path.GetFileName(f)).ToHashSet(StringComparer.Ordinal);

        Assert.Superset(
            new HashSet<string>(StringComparer.Ordinal)
            {
                "add-header.yaml", "auth-callout.yaml", "log-only.yaml", "canary.yaml", "telemetry-fail-open.yaml", "istio-compatible.yaml",
            },
            files);
    }

    [Fact]
    public void Examples_show_the_features_they_are_named_after()
    {
        var canary = Load("canary.yaml").Spec!;
        var logOnly = Load("log-only.yaml").Spec!;
        var telemetry = Load("telemetry-fail-open.yaml").Spec!;
        var auth = Load("auth-callout.yaml").Spec!;

        Assert.Contains(canary.Rollout!.Canary!.Steps!, s => s.SetWeight is not null);
        Assert.Contains(canary.Rollout.Canary.Steps!, s => s.Pause is not null);
        Assert.NotNull(canary.Rollout.Canary.Analysis);
        Assert.Equal(PluginMode.LogOnly, logOnly.Mode);
        Assert.Equal(FailStrategy.FailOpen, telemetry.FailStrategy);
        Assert.Equal("auth", auth.PluginName);
        Assert.NotNull((string?)auth.PluginConfig!["cluster"]);
    }

    [Fact]
    public void Istio_example_differs_from_an_Istio_manifest_only_in_apiVersion()
    {
        var istio = Load("istio-compatible.yaml");

        Assert.Null(istio.Spec!.Mode);
        Assert.Null(istio.Spec.Rollout);
        Assert.Null(istio.Spec.Limits);
        Assert.Equal(WasmPlugin.GroupVersion, istio.ApiVersion);
    }

    private static WasmPlugin Load(string file) => WasmPluginSerializer.FromYaml(File.ReadAllText(Path.Combine(Directory, file)));
}
