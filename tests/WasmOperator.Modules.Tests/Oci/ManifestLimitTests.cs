using System.Text;
using WasmOperator.Modules.Failures;
using WasmOperator.Modules.Tests.Fixtures;

namespace WasmOperator.Modules.Tests.Oci;

/// <summary>
/// A manifest is capped at 4 MiB however the registry sends it: one sent chunked (no Content-Length) used to be read
/// whole into memory and accepted, so a registry could make the operator buffer gigabytes.
/// </summary>
public sealed class ManifestLimitTests : IDisposable
{
    private readonly TempDirectory _cache = new();

    public void Dispose() => _cache.Dispose();

    [Fact]
    public async Task A_chunked_manifest_larger_than_4_MiB_is_refused()
    {
        var module = TestModules.Create();
        var digest = TestModules.Digest(module);
        var manifest = Encoding.UTF8.GetBytes(
            "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\"," +
            "\"config\":{\"mediaType\":\"application/vnd.wasm.config.v0+json\",\"digest\":\"" + digest + "\",\"size\":1}," +
            "\"layers\":[{\"mediaType\":\"application/wasm\",\"digest\":\"" + digest + "\",\"size\":" + module.Length + "}]}");
        await using var server = await LoopbackServer.StartAsync(async context =>
        {
            var path = context.Request.Path.Value!;
            if (path.EndsWith("/manifests/v1", StringComparison.Ordinal))
            {
                // No Content-Length: chunked. JSON allows leading whitespace, so 32 MiB of it still make a valid manifest.
                context.Response.ContentType = "application/vnd.oci.image.manifest.v1+json";
                var spaces = new byte[1024 * 1024];
                Array.Fill(spaces, (byte)' ');
                for (var i = 0; i < 32 && !context.RequestAborted.IsCancellationRequested; i++)
                {
                    await context.Response.Body.WriteAsync(spaces);
                }

                await context.Response.Body.WriteAsync(manifest);
                return;
            }

            if (path.EndsWith("/blobs/" + digest, StringComparison.Ordinal))
            {
                await context.Response.Body.WriteAsync(module);
                return;
            }

            context.Response.StatusCode = path == "/v2/" ? 200 : 404;
        });
        using var fetcher = new ModuleFetcher(FetcherFactory.Options(_cache.Path, server.HostPort));

        var error = await Record.ExceptionAsync(() => fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{server.HostPort}/team/big:v1" }, default));

        var failure = Assert.IsType<ManifestFailureException>(error);
        Assert.Contains("larger than 4194304 bytes", failure.Message, StringComparison.Ordinal);
    }
}
