using System.Diagnostics;
using WasmOperator.Api.Tests.Fixtures;

namespace WasmOperator.Api.Tests.Tool;

/// <summary>Runs the real crdgen process, as <c>make run</c> and <c>make crds</c> do.</summary>
public sealed class CrdGenToolTests : IDisposable
{
    private readonly string _temp = Directory.CreateTempSubdirectory("crdgen-test-").FullName;

    public void Dispose() => Directory.Delete(_temp, recursive: true);

    [Fact]
    public async Task Validate_accepts_the_examples_and_exits_zero()
    {
        var (code, output) = await RunAsync("validate", Repo.PathOf("examples/manifests"));

        Assert.Equal(0, code);
        Assert.Contains("add-header.yaml: WasmPlugin bookinfo/add-header is valid", output, StringComparison.Ordinal);
        Assert.Contains("6 manifests checked against the WasmPlugin CRD: all valid", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Validate_prints_every_violation_and_exits_one()
    {
        var file = Path.Combine(_temp, "bad.yaml");
        await File.WriteAllTextAsync(file, """
            apiVersion: extensions.wasmoperator.io/v1alpha1
            kind: WasmPlugin
            metadata:
              name: bad
              namespace: shop
            spec:
              url: ftp://example.com/x.wasm
              phase: LATE
            """);

        var (code, output) = await RunAsync("validate", file);

        Assert.Equal(1, code);
        Assert.Contains("WasmPlugin shop/bad is invalid (2 errors):", output, StringComparison.Ordinal);
        Assert.Contains("    spec.url: Invalid value: \"string\": url must have schema one of [http, https, file, oci]", output, StringComparison.Ordinal);
        Assert.Contains("    spec.phase: Unsupported value: \"LATE\"", output, StringComparison.Ordinal);
        Assert.Contains("1 manifest checked against the WasmPlugin CRD: 1 invalid", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Validate_reports_misspelt_fields_as_kubectl_apply_would_refuse_them()
    {
        var file = Path.Combine(_temp, "typo.yaml");
        await File.WriteAllTextAsync(file, """
            apiVersion: extensions.wasmoperator.io/v1alpha1
            kind: WasmPlugin
            metadata:
              name: typo
              namespace: shop
            spec:
              url: oci://registry.local/add_header:v1
              pluginconfig:
                header: hello
              failstrategy: FAIL_OPEN
            """);

        var (code, output) = await RunAsync("validate", file);

        Assert.Equal(1, code);
        Assert.Contains("WasmPlugin shop/typo is invalid (2 errors):", output, StringComparison.Ordinal);
        Assert.Contains("    unknown field \"spec.failstrategy\"\n", output, StringComparison.Ordinal);
        Assert.Contains("    unknown field \"spec.pluginconfig\"\n", output, StringComparison.Ordinal);
        Assert.Contains("1 manifest checked against the WasmPlugin CRD: 1 invalid", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Generate_writes_the_same_CRD_that_is_checked_in()
    {
        var output = Path.Combine(_temp, "crd.yaml");

        var (code, _) = await RunAsync("generate", output);

        Assert.Equal(0, code);
        Assert.Equal(await File.ReadAllTextAsync(Repo.PathOf("crds/wasmplugin.yaml")), await File.ReadAllTextAsync(output));
    }

    private static async Task<(int Code, string Output)> RunAsync(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "WasmOperator.CrdGen.dll"));
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await stdout + await stderr);
    }
}
