using WasmOperator.Modules.Failures;
using WasmOperator.Modules.Tests.Fixtures;

namespace WasmOperator.Modules.Tests.Oci;

public sealed class OciFetchTests(RegistryFixture fixture) : IClassFixture<RegistryFixture>, IDisposable
{
    private readonly TempDirectory _cache = new();
    private readonly RegistryPusher _push = new(fixture.Registry.BaseUri);

    private string Host => fixture.Registry.HostPort;

    public void Dispose()
    {
        _push.Dispose();
        _cache.Dispose();
    }

    public static TheoryData<string> Formats => ["cncf", "istio", "wasm-to-oci", "docker-image", "oci-image"];

    [Fact]
    public async Task A_plain_http_registry_not_on_the_insecure_allowlist_is_said_to_need_it()
    {
        await _push.PushCncfAsync("tls/plain", "v1", TestModules.Create());
        using var fetcher = new ModuleFetcher(FetcherFactory.Options(_cache.Path));

        var error = await Assert.ThrowsAsync<ManifestFailureException>(() =>
            fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{Host}/tls/plain:v1" }, default));

        Assert.Contains($"registry {Host} is not reachable: no TLS handshake with {Host} (", error.Message, StringComparison.Ordinal);
        Assert.Contains($"if it serves plain http, add {Host} to the operator's --insecure-registries (env WASMOP_INSECURE_REGISTRIES)", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("see inner exception", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public async Task Every_supported_format_is_fetched_verified_and_cached(string format)
    {
        var module = TestModules.Create();
        var repo = "formats/" + format;
        var (manifestDigest, expectedFormat) = format switch
        {
            "cncf" => (await _push.PushCncfAsync(repo, "v1", module), ModuleFormat.CncfWasmArtifact),
            "istio" => (await _push.PushImageAsync(repo, "v1", RegistryPusher.OciManifest, "application/vnd.module.wasm.config.v1+json",
                TestModules.Json("{}"), ("application/vnd.module.wasm.content.layer.v1+wasm", module)), ModuleFormat.IstioArtifact),
            "wasm-to-oci" => (await _push.PushImageAsync(repo, "v1", RegistryPusher.OciManifest, "application/vnd.wasm.config.v1+json",
                TestModules.Json("{}"), ("application/vnd.wasm.content.layer.v1+wasm", module)), ModuleFormat.WasmToOci),
            "docker-image" => (await _push.PushImageAsync(repo, "v1", RegistryPusher.DockerManifest, "application/vnd.docker.container.image.v1+json",
                TestModules.Json("""{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"""),
                ("application/vnd.docker.image.rootfs.diff.tar.gzip", TestModules.TarGz("README", "base layer"u8.ToArray())),
                ("application/vnd.docker.image.rootfs.diff.tar.gzip", TestModules.TarGz("plugin.wasm", module))), ModuleFormat.ImageWithPluginWasm),
            _ => (await _push.PushImageAsync(repo, "v1", RegistryPusher.OciManifest, "application/vnd.oci.image.config.v1+json",
                TestModules.Json("""{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"""),
                ("application/vnd.oci.image.layer.v1.tar+gzip", TestModules.TarGz("./plugin.wasm", module))), ModuleFormat.ImageWithPluginWasm),
        };
        using var fetcher = new ModuleFetcher(FetcherFactory.Options(_cache.Path, Host));

        var fetched = await fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{Host}/{repo}:v1", Sha256 = manifestDigest[7..] }, default);

        Assert.Equal(expectedFormat, fetched.Format);
        Assert.Equal(TestModules.Digest(module), fetched.ModuleDigest);
        Assert.Equal(manifestDigest, fetched.ManifestDigest);
        Assert.Equal($"{Host}/{repo}@{manifestDigest}", fetched.ResolvedRef);
        Assert.Equal(module.Length, fetched.Size);
        Assert.Equal(module, await File.ReadAllBytesAsync(fetched.Path));
        Assert.False(fetched.FromCache);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task An_image_with_plugin_wasm_in_a_folder_is_fetched_as_istio_does_and_one_at_the_root_wins(bool alsoAtRoot)
    {
        // Istio's image fetcher takes the first entry named plugin.wasm at any depth (filepath.Base).
        var module = TestModules.Create();
        var other = TestModules.Create();
        var repo = "nested/" + (alsoAtRoot ? "both" : "folder");
        (string, byte[])[] entries = alsoAtRoot ? [("plugins/plugin.wasm", other), ("plugin.wasm", module)] : [("plugins/plugin.wasm", module)];
        await _push.PushImageAsync(repo, "v1", RegistryPusher.DockerManifest, "application/vnd.docker.container.image.v1+json",
            TestModules.Json("""{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"""),
            ("application/vnd.docker.image.rootfs.diff.tar.gzip", TestModules.TarGz(entries)));
        using var fetcher = new ModuleFetcher(FetcherFactory.Options(_cache.Path, Host));

        var fetched = await fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{Host}/{repo}:v1" }, default);

        Assert.Equal(ModuleFormat.ImageWithPluginWasm, fetched.Format);
        Assert.Equal(TestModules.Digest(module), fetched.ModuleDigest);
        Assert.Equal(module, await File.ReadAllBytesAsync(fetched.Path));
    }

    [Fact]
    public async Task A_reference_without_scheme_is_treated_as_oci()
    {
        var module = TestModules.Create();
        await _push.PushCncfAsync("noscheme/plugin", "v1", module);
        using var fetcher = new ModuleFetcher(FetcherFactory.Options(_cache.Path, Host));

        var fetched = await fetcher.FetchAsync(new ModuleRequest { Url = $"{Host}/noscheme/plugin:v1" }, default);

        Assert.Equal(TestModules.Digest(module), fetched.ModuleDigest);
    }

    [Fact]
    public async Task An_image_index_resolves_to_its_wasm_platform_entry()
    {
        var module = TestModules.Create();
        var wasmDigest = await _push.PushCncfAsync("index/plugin", "wasm-only", module);
        var linuxDigest = await _push.PushImageAsync("index/plugin", "linux-only", RegistryPusher.OciManifest, "application/vnd.oci.image.config.v1+json",
            TestModules.Json("""{"architecture":"amd64","os":"linux"}"""), ("application/vnd.oci.image.layer.v1.tar+gzip", TestModules.TarGz("bin", [1, 2, 3])));
        var index = $$$"""
            {"schemaVersion":2,"mediaType":"{{{RegistryPusher.OciIndex}}}","manifests":[
              {"mediaType":"{{{RegistryPusher.OciManifest}}}","digest":"{{{linuxDigest}}}","size":1,"platform":{"architecture":"amd64","os":"linux"}},
              {"mediaType":"{{{RegistryPusher.OciManifest}}}","digest":"{{{wasmDigest}}}","size":1,"platform":{"architecture":"wasm","os":"wasip1"}}]}
            """;
        var indexDigest = await _push.PushManifestAsync("index/plugin", "multi", RegistryPusher.OciIndex, index);
        using var fetcher = new ModuleFetcher(FetcherFactory.Options(_cache.Path, Host));

        var fetched = await fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{Host}/index/plugin:multi" }, default);

        Assert.Equal(TestModules.Digest(module), fetched.ModuleDigest);
        Assert.Equal(indexDigest, fetched.ManifestDigest);
        Assert.Equal(ModuleFormat.CncfWasmArtifact, fetched.Format);
    }

    [Fact]
    public async Task An_image_index_pushed_by_docker_buildx_resolves_to_its_linux_amd64_image_as_in_Istio()
    {
        var module = TestModules.Create();
        var imageDigest = await _push.PushImageAsync("buildx/plugin", "image", RegistryPusher.OciManifest, "application/vnd.oci.image.config.v1+json",
            TestModules.Json("""{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"""),
            ("application/vnd.oci.image.layer.v1.tar+gzip", TestModules.TarGz("plugin.wasm", module)));
        // buildx's provenance: an in-toto layer with platform unknown/unknown, annotated as an attestation of the image.
        var attestationDigest = await _push.PushImageAsync("buildx/plugin", "attestation", RegistryPusher.OciManifest, "application/vnd.oci.image.config.v1+json",
            TestModules.Json("""{"architecture":"unknown","os":"unknown"}"""), ("application/vnd.in-toto+json", TestModules.Json("""{"_type":"https://in-toto.io/Statement/v0.1"}""")));
        var index = $$$"""
            {"schemaVersion":2,"mediaType":"{{{RegistryPusher.OciIndex}}}","manifests":[
              {"mediaType":"{{{RegistryPusher.OciManifest}}}","digest":"{{{imageDigest}}}","size":1,"platform":{"architecture":"amd64","os":"linux"}},
              {"mediaType":"{{{RegistryPusher.OciManifest}}}","digest":"{{{attestationDigest}}}","size":1,"platform":{"architecture":"unknown","os":"unknown"},
               "annotations":{"vnd.docker.reference.digest":"{{{imageDigest}}}","vnd.docker.reference.type":"attestation-manifest"}}]}
            """;
        var indexDigest = await _push.PushManifestAsync("buildx/plugin", "v1", RegistryPusher.OciIndex, index);
        using var fetcher = new ModuleFetcher(FetcherFactory.Options(_cache.Path, Host));

        var fetched = await fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{Host}/buildx/plugin:v1" }, default);

        Assert.Equal(TestModules.Digest(module), fetched.ModuleDigest);
        Assert.Equal(indexDigest, fetched.ManifestDigest);
        Assert.Equal(ModuleFormat.ImageWithPluginWasm, fetched.Format);
    }

    [Fact]
    public async Task An_image_index_with_two_non_wasm_platforms_and_no_linux_amd64_is_unsupported_naming_them()
    {
        var arm = await _push.PushImageAsync("noamd64/plugin", "arm64", RegistryPusher.OciManifest, "application/vnd.oci.image.config.v1+json",
            TestModules.Json("""{"architecture":"arm64","os":"linux"}"""), ("application/vnd.oci.image.layer.v1.tar+gzip", TestModules.TarGz("plugin.wasm", TestModules.Create())));
        var index = $$$"""
            {"schemaVersion":2,"mediaType":"{{{RegistryPusher.OciIndex}}}","manifests":[
              {"mediaType":"{{{RegistryPusher.OciManifest}}}","digest":"{{{arm}}}","size":1,"platform":{"architecture":"arm64","os":"linux"}},
              {"mediaType":"{{{RegistryPusher.OciManifest}}}","digest":"{{{arm}}}","size":1,"platform":{"architecture":"s390x","os":"linux"}}]}
            """;
        await _push.PushManifestAsync("noamd64/plugin", "v1", RegistryPusher.OciIndex, index);
        using var fetcher = new ModuleFetcher(FetcherFactory.Options(_cache.Path, Host));

        var error = await Assert.ThrowsAsync<UnsupportedFormatException>(() => fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{Host}/noamd64/plugin:v1" }, default));

        Assert.Contains("no wasm (os wasi*, architecture wasm) or linux/amd64 entry to choose (platforms: linux/arm64, linux/s390x)", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_digest_reference_gets_the_pinned_manifest_after_the_tag_moved()
    {
        var first = TestModules.Create();
        var second = TestModules.Create();
        var firstDigest = await _push.PushCncfAsync("digestref/plugin", "v1", first);
        await _push.PushCncfAsync("digestref/plugin", "v1", second);
        using var fetcher = new ModuleFetcher(FetcherFactory.Options(_cache.Path, Host));

        var byDigest = await fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{Host}/digestref/plugin@{firstDigest}" }, default);
        var byTag = await fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{Host}/digestref/plugin:v1" }, default);

        Assert.Equal(TestModules.Digest(first), byDigest.ModuleDigest);
        Assert.Equal(firstDigest, byDigest.ManifestDigest);
        Assert.Equal(TestModules.Digest(second), byTag.ModuleDigest);
    }

    [Fact]
    public async Task IfNotPresent_keeps_the_cached_module_across_a_retag_while_Always_resolves_the_new_one()
    {
        var first = TestModules.Create();
        var second = TestModules.Create();
        var url = $"oci://{Host}/retag/plugin:stable";
        await _push.PushCncfAsync("retag/plugin", "stable", first);
        using var fetcher = new ModuleFetcher(FetcherFactory.Options(_cache.Path, Host));
        var initial = await fetcher.FetchAsync(new ModuleRequest { Url = url }, default);

        await _push.PushCncfAsync("retag/plugin", "stable", second);
        var ifNotPresent = await fetcher.FetchAsync(new ModuleRequest { Url = url, PullPolicy = ModulePullPolicy.IfNotPresent }, default);
        var always = await fetcher.FetchAsync(new ModuleRequest { Url = url, PullPolicy = ModulePullPolicy.Always }, default);
        var alwaysAgain = await fetcher.FetchAsync(new ModuleRequest { Url = url, PullPolicy = ModulePullPolicy.Always }, default);

        Assert.Equal(TestModules.Digest(first), initial.ModuleDigest);
        Assert.Equal(TestModules.Digest(first), ifNotPresent.ModuleDigest);
        Assert.True(ifNotPresent.FromCache);
        Assert.Equal(TestModules.Digest(second), always.ModuleDigest);
        Assert.False(always.FromCache);
        Assert.True(alwaysAgain.FromCache);
    }

    [Fact]
    public async Task A_sha256_that_is_the_module_digest_of_an_oci_artifact_is_refused_giving_the_manifest_digest_to_use()
    {
        var module = TestModules.Create();
        var manifestDigest = await _push.PushCncfAsync("moduledigest/plugin", "v1", module);
        var moduleHex = TestModules.Digest(module)["sha256:".Length..];
        using var fetcher = new ModuleFetcher(FetcherFactory.Options(_cache.Path, Host));

        var error = await Assert.ThrowsAsync<ChecksumMismatchException>(() =>
            fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{Host}/moduledigest/plugin:v1", Sha256 = moduleHex }, default));

        Assert.Equal(TestModules.Digest(module), error.Expected);
        Assert.Equal(manifestDigest, error.Actual);
        Assert.Contains($"is the digest of the module in oci://{Host}/moduledigest/plugin:v1, not of its manifest", error.Message, StringComparison.Ordinal);
        Assert.EndsWith($"set spec.sha256 to {manifestDigest["sha256:".Length..]}", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_sha256_that_is_the_plugin_wasm_digest_of_an_image_fetched_before_is_refused_giving_the_manifest_digest()
    {
        var module = TestModules.Create();
        var manifestDigest = await _push.PushImageAsync("moduledigest/image", "v1", RegistryPusher.OciManifest, "application/vnd.oci.image.config.v1+json",
            TestModules.Json("""{"architecture":"amd64","os":"linux"}"""), ("application/vnd.oci.image.layer.v1.tar+gzip", TestModules.TarGz("plugin.wasm", module)));
        using var fetcher = new ModuleFetcher(FetcherFactory.Options(_cache.Path, Host));
        var url = $"oci://{Host}/moduledigest/image:v1";
        await fetcher.FetchAsync(new ModuleRequest { Url = url }, default);

        var error = await Assert.ThrowsAsync<ChecksumMismatchException>(() =>
            fetcher.FetchAsync(new ModuleRequest { Url = url, Sha256 = TestModules.Digest(module)["sha256:".Length..], PullPolicy = ModulePullPolicy.Always }, default));

        Assert.Contains("not of its manifest", error.Message, StringComparison.Ordinal);
        Assert.EndsWith($"set spec.sha256 to {manifestDigest["sha256:".Length..]}", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_sha256_that_is_not_the_manifest_digest_is_a_checksum_mismatch_carrying_both_digests()
    {
        var manifestDigest = await _push.PushCncfAsync("mismatch/plugin", "v1", TestModules.Create());
        var wrong = new string('a', 64);
        using var fetcher = new ModuleFetcher(FetcherFactory.Options(_cache.Path, Host));

        var error = await Assert.ThrowsAsync<ChecksumMismatchException>(() =>
            fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{Host}/mismatch/plugin:v1", Sha256 = wrong }, default));

        Assert.Equal("sha256:" + wrong, error.Expected);
        Assert.Equal(manifestDigest, error.Actual);
        Assert.Contains($"{Host}/mismatch/plugin:v1", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, fetcher.Cache.TotalBytes);
    }

    [Fact]
    public async Task A_sha256_that_differs_from_the_url_digest_is_refused_before_any_request()
    {
        using var fetcher = new ModuleFetcher(FetcherFactory.Options(_cache.Path, Host));

        var error = await Assert.ThrowsAsync<InvalidModuleUrlException>(() => fetcher.FetchAsync(new ModuleRequest
        {
            Url = $"oci://{Host}/any/plugin@sha256:{new string('b', 64)}",
            Sha256 = new string('c', 64),
        }, default));

        Assert.Contains("must equal the @sha256:", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_image_whose_last_layer_is_an_uncompressed_tar_is_unsupported_saying_only_tar_gzip_is_read()
    {
        using var tar = new MemoryStream();
        using (var gzip = new System.IO.Compression.GZipStream(new MemoryStream(TestModules.TarGz("plugin.wasm", TestModules.Create())), System.IO.Compression.CompressionMode.Decompress))
        {
            await gzip.CopyToAsync(tar);
        }

        await _push.PushImageAsync("plaintar/plugin", "v1", RegistryPusher.OciManifest, "application/vnd.oci.image.config.v1+json",
            TestModules.Json("""{"architecture":"amd64","os":"linux"}"""), ("application/vnd.oci.image.layer.v1.tar", tar.ToArray()));
        using var fetcher = new ModuleFetcher(FetcherFactory.Options(_cache.Path, Host));

        var error = await Assert.ThrowsAsync<UnsupportedFormatException>(() => fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{Host}/plaintar/plugin:v1" }, default));

        Assert.Contains("the image's last layer is application/vnd.oci.image.layer.v1.tar, and plugin.wasm is read only from a tar+gzip layer", error.Message, StringComparison.Ordinal);
        Assert.Contains("push the image with gzip-compressed layers", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unknown_artifact_is_rejected_naming_the_media_types_seen()
    {
        await _push.PushImageAsync("unknown/artifact", "v1", RegistryPusher.OciManifest, "application/vnd.example.config+json",
            TestModules.Json("{}"), ("application/vnd.example.thing", [1, 2, 3]));
        using var fetcher = new ModuleFetcher(FetcherFactory.Options(_cache.Path, Host));

        var error = await Assert.ThrowsAsync<UnsupportedFormatException>(() =>
            fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{Host}/unknown/artifact:v1" }, default));

        Assert.Contains("application/vnd.example.thing", error.MediaTypesSeen);
        Assert.Contains("application/vnd.example.config+json", error.MediaTypesSeen);
        Assert.Contains("application/vnd.example.thing", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_layer_that_is_not_WebAssembly_is_rejected_and_not_cached()
    {
        await _push.PushImageAsync("notwasm/plugin", "v1", RegistryPusher.OciManifest, "application/vnd.wasm.config.v0+json",
            TestModules.Json("{}"), ("application/wasm", "#!/bin/sh\necho hi\n"u8.ToArray()));
        using var fetcher = new ModuleFetcher(FetcherFactory.Options(_cache.Path, Host));

        var error = await Assert.ThrowsAsync<UnsupportedFormatException>(() =>
            fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{Host}/notwasm/plugin:v1" }, default));

        Assert.Contains("not a WebAssembly binary", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, fetcher.Cache.TotalBytes);
    }

    [Fact]
    public async Task An_image_without_plugin_wasm_in_its_last_layer_is_unsupported()
    {
        await _push.PushImageAsync("noplugin/image", "v1", RegistryPusher.OciManifest, "application/vnd.oci.image.config.v1+json",
            TestModules.Json("{}"), ("application/vnd.oci.image.layer.v1.tar+gzip", TestModules.TarGz("other.wasm", TestModules.Create())));
        using var fetcher = new ModuleFetcher(FetcherFactory.Options(_cache.Path, Host));

        var error = await Assert.ThrowsAsync<UnsupportedFormatException>(() =>
            fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{Host}/noplugin/image:v1" }, default));

        Assert.Contains("plugin.wasm", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_module_over_the_size_limit_is_refused()
    {
        await _push.PushCncfAsync("large/plugin", "v1", TestModules.Create(payloadBytes: 8192));
        var options = FetcherFactory.Options(_cache.Path, Host);
        using var fetcher = new ModuleFetcher(new ModuleFetcherOptions
        {
            CacheDirectory = options.CacheDirectory,
            InsecureHosts = options.InsecureHosts,
            MetricsRegistry = options.MetricsRegistry,
            MaxModuleBytes = 4096,
        });

        var error = await Assert.ThrowsAsync<ModuleTooLargeException>(() =>
            fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{Host}/large/plugin:v1" }, default));

        Assert.Equal(4096, error.Limit);
        Assert.True(error.Size > 4096);
        Assert.Equal(0, fetcher.Cache.TotalBytes);
    }

    [Fact]
    public async Task A_missing_tag_is_a_manifest_failure_naming_the_reference()
    {
        await _push.PushCncfAsync("missing/plugin", "v1", TestModules.Create());
        using var fetcher = new ModuleFetcher(FetcherFactory.Options(_cache.Path, Host));

        var error = await Assert.ThrowsAsync<ManifestFailureException>(() =>
            fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{Host}/missing/plugin:nope" }, default));

        Assert.Contains("missing/plugin:nope", error.Message, StringComparison.Ordinal);
        Assert.Contains("404", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_registry_not_on_the_insecure_allowlist_is_reached_over_https_only()
    {
        await _push.PushCncfAsync("tls/plugin", "v1", TestModules.Create());
        var options = FetcherFactory.Options(_cache.Path);
        using var fetcher = new ModuleFetcher(new ModuleFetcherOptions
        {
            CacheDirectory = options.CacheDirectory,
            MetricsRegistry = options.MetricsRegistry,
            MaxRetries = 0,
        });

        await Assert.ThrowsAsync<ManifestFailureException>(() =>
            fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{Host}/tls/plugin:v1" }, default));
    }

    [Fact]
    public async Task An_unset_pull_policy_means_Always_for_the_latest_tag_and_IfNotPresent_for_other_tags()
    {
        var first = TestModules.Create();
        var second = TestModules.Create();
        await _push.PushCncfAsync("defaults/plugin", "latest", first);
        await _push.PushCncfAsync("defaults/plugin", "v1", first);
        using var fetcher = new ModuleFetcher(FetcherFactory.Options(_cache.Path, Host));
        await fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{Host}/defaults/plugin" }, default);
        await fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{Host}/defaults/plugin:v1" }, default);

        await _push.PushCncfAsync("defaults/plugin", "latest", second);
        await _push.PushCncfAsync("defaults/plugin", "v1", second);
        var latest = await fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{Host}/defaults/plugin" }, default);
        var pinnedTag = await fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{Host}/defaults/plugin:v1" }, default);

        Assert.Equal(TestModules.Digest(second), latest.ModuleDigest);
        Assert.Equal(TestModules.Digest(first), pinnedTag.ModuleDigest);
    }

    [Fact]
    public async Task A_registry_serving_https_is_used_when_its_certificate_is_trusted_through_the_options()
    {
        using var certificate = SelfSignedCertificate.Create();
        await using var registry = await RegistryProcess.StartAsync(tlsCertificate: certificate);
        using var push = new RegistryPusher(registry.BaseUri);
        var module = TestModules.Create();
        await push.PushCncfAsync("tls/plugin", "v1", module);
        using var fetcher = new ModuleFetcher(new ModuleFetcherOptions
        {
            CacheDirectory = _cache.Path,
            TrustedCertificates = [System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificate(certificate.RawData)],
            MetricsRegistry = Prometheus.Metrics.NewCustomRegistry(),
        });

        var fetched = await fetcher.FetchAsync(new ModuleRequest { Url = $"oci://{registry.HostPort}/tls/plugin:v1" }, default);

        Assert.Equal(TestModules.Digest(module), fetched.ModuleDigest);
    }

    [Fact]
    public async Task A_registry_whose_certificate_is_not_trusted_is_a_certificate_error_naming_it_not_a_manifest_failure()
    {
        using var certificate = SelfSignedCertificate.Create();
        await using var registry = await RegistryProcess.StartAsync(tlsCertificate: certificate);
        var url = $"oci://{registry.HostPort}/tls/untrusted:v1";
        // One failure in a row would open the registry's breaker: a certificate counted as one would.
        using var fetcher = new ModuleFetcher(new ModuleFetcherOptions
        {
            CacheDirectory = _cache.Path,
            MetricsRegistry = Prometheus.Metrics.NewCustomRegistry(),
            CircuitBreakerFailures = 1,
        });

        var error = await Assert.ThrowsAsync<CertificateRejectedException>(() => fetcher.FetchAsync(new ModuleRequest { Url = url }, default));
        // Not counted against the registry: the next fetch is tried, not refused by an open breaker.
        await Assert.ThrowsAsync<CertificateRejectedException>(() => fetcher.FetchAsync(new ModuleRequest { Url = url }, default));

        Assert.Equal(registry.HostPort, error.Host);
        Assert.StartsWith($"{url}: the TLS certificate of {registry.HostPort} is not trusted (", error.Message, StringComparison.Ordinal);
        Assert.Contains("SSL_CERT_FILE", error.Message, StringComparison.Ordinal);
    }
}
