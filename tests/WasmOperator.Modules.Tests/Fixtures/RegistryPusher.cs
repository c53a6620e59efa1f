using System.Net;
using System.Net.Http.Headers;
using System.Text;

namespace WasmOperator.Modules.Tests.Fixtures;

/// <summary>
/// Pushes artifacts with plain HTTP as a client would: POST an upload, PUT to its Location with
/// <c>&amp;digest=</c>, then PUT the manifest.
/// </summary>
internal sealed class RegistryPusher(Uri registry, Func<string, Task<AuthenticationHeaderValue?>>? authorize = null) : IDisposable
{
    public const string OciManifest = "application/vnd.oci.image.manifest.v1+json";
    public const string OciIndex = "application/vnd.oci.image.index.v1+json";
    public const string DockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
    // The pusher is test tooling: it accepts the test registry's self-signed certificate.
    private readonly HttpClient _http = new(new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, _, _, _) => true });

    public async Task<string> PushBlobAsync(string repository, byte[] content)
    {
        var digest = TestModules.Digest(content);
        using var start = new HttpRequestMessage(HttpMethod.Post, new Uri(registry, $"v2/{repository}/blobs/uploads/"));
        await AuthorizeAsync(start, repository);
        using var started = await _http.SendAsync(start);
        if (started.StatusCode != HttpStatusCode.Accepted)
        {
            throw new InvalidOperationException($"upload start answered {(int)started.StatusCode}: {await started.Content.ReadAsStringAsync()}");
        }

        var location = started.Headers.Location!;
        var target = location.IsAbsoluteUri ? location : new Uri(registry, location);
        var separator = target.Query.Length > 0 ? "&" : "?";
        using var put = new HttpRequestMessage(HttpMethod.Put, new Uri(target + separator + "digest=" + Uri.EscapeDataString(digest)))
        {
            Content = new ByteArrayContent(content),
        };
        put.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        await AuthorizeAsync(put, repository);
        using var done = await _http.SendAsync(put);
        if (done.StatusCode != HttpStatusCode.Created)
        {
            throw new InvalidOperationException($"upload finish answered {(int)done.StatusCode}: {await done.Content.ReadAsStringAsync()}");
        }

        return digest;
    }

    /// <summary>PUTs a manifest under <paramref name="reference"/> (tag or digest) and returns its digest.</summary>
    public async Task<string> PushManifestAsync(string repository, string reference, string mediaType, string json)
    {
        var bytes = Encoding.UTF8.GetBytes(json);
        using var put = new HttpRequestMessage(HttpMethod.Put, new Uri(registry, $"v2/{repository}/manifests/{reference}"))
        {
            Content = new ByteArrayContent(bytes),
        };
        put.Content.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
        await AuthorizeAsync(put, repository);
        using var response = await _http.SendAsync(put);
        if (response.StatusCode != HttpStatusCode.Created)
        {
            throw new InvalidOperationException($"manifest PUT answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        }

        return TestModules.Digest(bytes);
    }

    /// <summary>Pushes config and layers, then an image manifest; returns the manifest digest.</summary>
    public async Task<string> PushImageAsync(
        string repository, string tag, string manifestMediaType, string configMediaType, byte[] config, params (string MediaType, byte[] Content)[] layers)
    {
        var configDigest = await PushBlobAsync(repository, config);
        var layerJson = new List<string>();
        foreach (var (mediaType, content) in layers)
        {
            var digest = await PushBlobAsync(repository, content);
            layerJson.Add($$"""{"mediaType":"{{mediaType}}","digest":"{{digest}}","size":{{content.Length}}}""");
        }

        var manifest = $$"""
            {"schemaVersion":2,"mediaType":"{{manifestMediaType}}",
             "config":{"mediaType":"{{configMediaType}}","digest":"{{configDigest}}","size":{{config.Length}}},
             "layers":[{{string.Join(",", layerJson)}}]}
            """;
        return await PushManifestAsync(repository, tag, manifestMediaType, manifest);
    }

    /// <summary>Pushes a CNCF Wasm artifact (config application/vnd.wasm.config.v0+json, one application/wasm layer).</summary>
    public Task<string> PushCncfAsync(string repository, string tag, byte[] module) =>
        PushImageAsync(repository, tag, OciManifest, "application/vnd.wasm.config.v0+json",
            TestModules.Json("""{"architecture":"wasm","os":"wasip1","layerDigests":[]}"""), ("application/wasm", module));

    public void Dispose() => _http.Dispose();

    private async Task AuthorizeAsync(HttpRequestMessage request, string repository)
    {
        if (authorize is not null)
        {
            request.Headers.Authorization = await authorize($"repository:{repository}:pull,push");
        }
    }
}
