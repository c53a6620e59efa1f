using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using WasmOperator.Modules.Auth;
using WasmOperator.Modules.Cache;
using WasmOperator.Modules.Failures;
using WasmOperator.Modules.Files;
using WasmOperator.Modules.Http;
using WasmOperator.Modules.Metrics;
using WasmOperator.Modules.Oci;
using WasmOperator.Modules.Verification;

namespace WasmOperator.Modules;

/// <summary>
/// Fetches modules from OCI registries, https/http and files into the verified, content-addressed cache.
/// Concurrent fetches of one request share one download. Dispose to release the HTTP client.
/// </summary>
public sealed class ModuleFetcher : IModuleFetcher, IDisposable
{
    // A module evicted between its fetch and the lease's hold is fetched again, this many times in all.
    private const int MaxLeaseAttempts = 3;

    private readonly ModuleFetcherOptions _options;
    private readonly ILogger _logger;
    private readonly HttpClient _http;
    private readonly HostPolicy _hosts;
    private readonly AddressGuard _guard;
    private readonly ModuleCache _cache;
    private readonly OciRegistryClient _registry;
    private readonly HttpModuleSource _httpSource;
    private readonly FileModuleSource _fileSource;
    private readonly FetcherMetrics _metrics;
    private readonly SingleFlight<FetchedModule> _flights = new();
    private readonly SingleFlight<FetchedModule> _downloads = new();
    private readonly PullVerifications _verifications;
    private readonly CancellationTokenSource _lifetime = new();
    private volatile bool _disposed;

    /// <summary>Validates <paramref name="options"/> and opens the cache.</summary>
    /// <exception cref="ArgumentException">An option is invalid.</exception>
    public ModuleFetcher(ModuleFetcherOptions options, ILogger<ModuleFetcher>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _hosts = new HostPolicy(options.InsecureHosts);
        _guard = new AddressGuard(options.BlockedNetworks);
        _http = FetchHttpClientFactory.Create(options, _guard);
        _cache = new ModuleCache(options.CacheDirectory, options.MaxCacheBytes, _logger);
        _verifications = new PullVerifications(options.CacheDirectory, options.PullVerificationLifetime, options.TimeProvider, _logger);
        _metrics = new FetcherMetrics(options.MetricsRegistry);
        var retrier = new Retrier(options, new RegistryCircuitBreaker(options, _metrics, _logger));
        _registry = new OciRegistryClient(_http, _hosts, new RegistryAuthenticator(_http, _hosts), retrier, options);
        _httpSource = new HttpModuleSource(_http, _hosts, retrier, options);
        _fileSource = new FileModuleSource(options);
    }

    /// <inheritdoc />
    public IModuleCache Cache => _cache;

    /// <inheritdoc />
    public async Task<FetchedModule> FetchAsync(ModuleRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ObjectDisposedException.ThrowIf(_disposed, this);
        var secretKey = request.PullSecret is { } secret ? Sha256Digest.Of(secret.Span) : string.Empty;
        var key = $"{request.Url}\n{request.Sha256}\n{request.PullPolicy}\n{secretKey}";
        for (var attempt = 1; ; attempt++)
        {
            var module = await _flights.RunAsync(key, () => MeasuredFetchAsync(request), cancellationToken);
            // Held here, not in the shared flight: each caller's lease holds it. A concurrent commit over the size cap
            // may have evicted it since the flight ended; fetched again, it is held on arrival.
            if (request.Lease is not { } lease || lease.TryHold(module.ModuleDigest))
            {
                return module;
            }

            if (attempt == MaxLeaseAttempts)
            {
                throw new DownloadFailureException(request.Url,
                    $"module {module.ModuleDigest} was evicted from the cache {attempt} times before it could be used; raise the cache size cap (MaxCacheBytes), which the modules in use exceed");
            }
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        // Not disposed: fetches still unwinding read its token; a CancellationTokenSource without a timer holds nothing.
        _lifetime.Cancel();
        _http.Dispose();
    }

    private async Task<FetchedModule> MeasuredFetchAsync(ModuleRequest request)
    {
        var started = Stopwatch.GetTimestamp();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_lifetime.Token);
        timeout.CancelAfter(_options.FetchTimeout);
        string? result = null;
        try
        {
            var module = await FetchCoreAsync(request, timeout.Token);
            result = "success";
            (module.FromCache ? _metrics.CacheHits : _metrics.CacheMisses).Inc();
            if (!module.FromCache)
            {
                _metrics.Bytes.Inc(module.Size);
                Log.Fetched(_logger, request.Url, module.ModuleDigest, module.Size, module.Format, module.ResolvedRef);
            }
            else
            {
                Log.CacheHit(_logger, request.Url, module.ModuleDigest);
            }

            return module;
        }
        catch (ModuleFetchException ex)
        {
            result = ex.Result;
            Log.FetchFailed(_logger, request.Url, result, ex.Message);
            throw;
        }
        catch (OperationCanceledException ex) when (timeout.IsCancellationRequested && !_lifetime.IsCancellationRequested)
        {
            result = "download_failure";
            throw new DownloadFailureException(request.Url, $"the fetch did not finish within {ResponseTimeoutHandler.Describe(_options.FetchTimeout)}", ex);
        }
        finally
        {
            if (!_lifetime.IsCancellationRequested)
            {
                // Anything not classified (an unexpected exception) counts as a download failure.
                result ??= "download_failure";
                _metrics.Fetches.WithLabels(result).Inc();
                _metrics.Duration.WithLabels(result).Observe(Stopwatch.GetElapsedTime(started).TotalSeconds);
            }
        }
    }

    private async Task<FetchedModule> FetchCoreAsync(ModuleRequest request, CancellationToken cancellationToken)
    {
        var url = request.Url;
        string? sha256 = null;
        if (!string.IsNullOrEmpty(request.Sha256))
        {
            sha256 = Sha256Digest.TryNormalize(request.Sha256)
                ?? throw new InvalidModuleUrlException(url, $"sha256 '{request.Sha256}' must be 64 lowercase hex characters");
        }

        var schemeEnd = url.IndexOf("://", StringComparison.Ordinal);
        var scheme = schemeEnd < 0 ? "oci" : url[..schemeEnd].ToLowerInvariant();
        switch (scheme)
        {
            case "oci":
                return await FetchOciAsync(request, sha256, cancellationToken);
            case "https" or "http" or "file":
                if (!Uri.TryCreate(url, UriKind.Absolute, out var uri))
                {
                    throw new InvalidModuleUrlException(url, "the URL is not well formed");
                }

                if (scheme == "http" && !_hosts.IsInsecure(uri.Host, uri.Port))
                {
                    // Adding a blocked host to the allowlist would only lead to the next refusal: say that one instead.
                    if (await _guard.WhyBlockedAsync(uri.Host, cancellationToken) is { } blocked)
                    {
                        throw new BlockedAddressException(url, uri.Host, blocked.Address, blocked.Why);
                    }

                    throw new InvalidModuleUrlException(url, $"plain http is only allowed for hosts on the insecure allowlist; use https, or add {uri.Host} (or {uri.Host}:{uri.Port}) to the operator's --insecure-registries (env WASMOP_INSECURE_REGISTRIES), which covers http:// module urls too");
                }

                return await FetchDirectAsync(request, uri, sha256, cancellationToken);
            default:
                throw new InvalidModuleUrlException(url, $"scheme '{scheme}' is not supported; use oci://, https://, http:// or file://");
        }
    }

    private async Task<FetchedModule> FetchDirectAsync(ModuleRequest request, Uri uri, string? sha256, CancellationToken cancellationToken)
    {
        var url = request.Url;
        // A sha256 names immutable content, but not who may have it: the cache serves it to this url only if this url served
        // it before. Found by digest alone, a plugin naming the sha256 of a module another namespace pulled with its secret
        // got that module through any url, one outside --allowed-file-roots or of a blocked address included, unfetched.
        if (sha256 is not null && await FromIndexAsync(url, sha256, cancellationToken) is { } pinned)
        {
            return pinned;
        }

        var policy = request.PullPolicy ?? ModulePullPolicy.IfNotPresent;
        if (policy == ModulePullPolicy.IfNotPresent && await FromIndexAsync(url, sha256, cancellationToken) is { } cached)
        {
            return cached;
        }

        var temp = _cache.NewTempPath();
        try
        {
            var outcome = uri.Scheme == Uri.UriSchemeFile
                ? await _fileSource.CopyAsync(url, uri, temp, cancellationToken)
                : await _httpSource.DownloadAsync(url, uri, temp, cancellationToken);
            if (sha256 is not null && outcome.Digest != sha256)
            {
                throw new ChecksumMismatchException(url, sha256, outcome.Digest, "the sha256 of the module");
            }

            return await CommitAsync(url, temp, outcome, url, null, ModuleFormat.RawWasm, OciMediaTypes.CncfWasmLayer, cancellationToken);
        }
        finally
        {
            File.Delete(temp);
        }
    }

    private async Task<FetchedModule> FetchOciAsync(ModuleRequest request, string? sha256, CancellationToken cancellationToken)
    {
        var url = request.Url;
        if (!OciReference.TryParse(url, out var reference, out var error) || reference is null)
        {
            throw new InvalidModuleUrlException(url, error ?? "not an OCI reference");
        }

        if (reference.Digest is not null && sha256 is not null && reference.Digest != sha256)
        {
            throw new InvalidModuleUrlException(url, $"sha256 {sha256} must equal the @sha256: digest in the url ({reference.Digest})");
        }

        var expectedManifest = reference.Digest ?? sha256;
        var credential = CredentialFor(request, reference);
        // A digest names immutable content: no need to ask the registry again whatever the policy.
        var policy = request.PullPolicy
            ?? (reference.Digest is null && reference.Tag == "latest" ? ModulePullPolicy.Always : ModulePullPolicy.IfNotPresent);
        if ((policy == ModulePullPolicy.IfNotPresent || reference.Digest is not null)
            && await FromCacheForAsync(url, reference, expectedManifest, credential, cancellationToken) is { } cached)
        {
            return cached;
        }

        await _registry.PingAsync(url, reference, cancellationToken);
        var (bytes, contentType, topDigest) = await _registry.GetManifestAsync(url, reference, reference.ManifestReference, credential, cancellationToken);
        _verifications.Record(RepositoryOf(reference), topDigest, credential);
        var manifest = ParseManifest(url, bytes, contentType);
        var selectedDigest = topDigest;
        if (manifest.IsIndex)
        {
            var platform = OciFormatSelector.SelectPlatform(url, manifest);
            var (childBytes, childType, childDigest) = await _registry.GetManifestAsync(url, reference, platform.Digest, credential, cancellationToken);
            manifest = ParseManifest(url, childBytes, childType ?? platform.MediaType);
            selectedDigest = childDigest;
            if (manifest.IsIndex)
            {
                throw new ManifestFailureException(url, "the image index points at another index; nested indexes are not supported");
            }
        }

        if (expectedManifest is not null && expectedManifest != topDigest && expectedManifest != selectedDigest)
        {
            if (IsModuleDigestOf(url, manifest, topDigest, expectedManifest))
            {
                throw ChecksumMismatchException.ModuleDigestGivenForOci(url, expectedManifest, topDigest);
            }

            throw new ChecksumMismatchException(url, expectedManifest, topDigest, "the manifest digest");
        }

        var (layer, format) = OciFormatSelector.Select(url, manifest);
        var resolvedRef = reference.WithDigest(topDigest);
        if (_cache.LookupManifest(topDigest) is { } seen
            && await FromCacheAsync(url, seen.ModuleDigest, resolvedRef, topDigest, seen.Format, seen.MediaType, cancellationToken) is { } unchanged)
        {
            return unchanged;
        }

        // Different URLs (tags) naming one manifest share one download too. The download must not use this
        // fetch's token: when this fetch times out, a fetch of another tag waiting on it would fail with it.
        var downloaded = await _downloads.RunAsync(
            topDigest,
            () => SharedDownloadAsync(url, reference, manifest, layer, format, credential, resolvedRef, topDigest),
            cancellationToken);
        if (downloaded.Url == url)
        {
            return downloaded;
        }

        _cache.Record(url, new IndexEntry(resolvedRef, topDigest, downloaded.ModuleDigest, downloaded.Size, format, layer.MediaType, DateTimeOffset.UtcNow));
        return downloaded with { Url = url, ResolvedRef = resolvedRef };
    }

    private async Task<FetchedModule> SharedDownloadAsync(
        string url, OciReference reference, OciManifest manifest, OciDescriptor layer, ModuleFormat format,
        RegistryCredential? credential, string resolvedRef, string topDigest)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_lifetime.Token);
        timeout.CancelAfter(_options.FetchTimeout);
        try
        {
            return await DownloadOciModuleAsync(url, reference, manifest, layer, format, credential, resolvedRef, topDigest, timeout.Token);
        }
        catch (OperationCanceledException ex) when (timeout.IsCancellationRequested && !_lifetime.IsCancellationRequested)
        {
            throw new DownloadFailureException(url, $"the download of {layer.Digest} did not finish within {ResponseTimeoutHandler.Describe(_options.FetchTimeout)}", ex);
        }
    }

    private async Task<FetchedModule> DownloadOciModuleAsync(
        string url, OciReference reference, OciManifest manifest, OciDescriptor layer, ModuleFormat format,
        RegistryCredential? credential, string resolvedRef, string topDigest, CancellationToken cancellationToken)
    {
        var blobTemp = _cache.NewTempPath();
        var moduleTemp = _cache.NewTempPath();
        try
        {
            var blob = await _registry.DownloadBlobAsync(url, reference, layer, credential, blobTemp, cancellationToken);
            if (format != ModuleFormat.ImageWithPluginWasm)
            {
                return await CommitAsync(url, blobTemp, blob, resolvedRef, topDigest, format, layer.MediaType, cancellationToken);
            }

            HashingCopy.Outcome? extracted;
            try
            {
                extracted = await PluginWasmExtractor.ExtractAsync(blobTemp, moduleTemp, _options.MaxModuleBytes, cancellationToken);
            }
            catch (Exception ex) when (ex is InvalidDataException or FormatException or EndOfStreamException)
            {
                throw new UnsupportedFormatException(url, OciFormatSelector.MediaTypesOf(manifest), $"the last layer is not a readable tar+gzip ({ex.Message})");
            }

            if (extracted is not { } module)
            {
                throw new UnsupportedFormatException(url, OciFormatSelector.MediaTypesOf(manifest), "the image's last layer has no plugin.wasm (at its root or in a folder)");
            }

            if (module.LimitExceeded)
            {
                throw _options.TooLarge(url, module.Size);
            }

            return await CommitAsync(url, moduleTemp, module, resolvedRef, topDigest, format, layer.MediaType, cancellationToken);
        }
        finally
        {
            File.Delete(blobTemp);
            File.Delete(moduleTemp);
        }
    }

    private static OciManifest ParseManifest(string url, byte[] bytes, string? contentType)
    {
        try
        {
            return OciManifest.Parse(bytes, contentType);
        }
        catch (FormatException ex)
        {
            throw new ManifestFailureException(url, ex.Message, ex);
        }
    }

    private async Task<FetchedModule> CommitAsync(
        string url, string temp, HashingCopy.Outcome outcome, string resolvedRef, string? manifestDigest,
        ModuleFormat format, string mediaType, CancellationToken cancellationToken)
    {
        if (!await WasmMagic.FileMatchesAsync(temp, cancellationToken))
        {
            // A media type was seen only in a manifest: an https or file source has none (the one passed is the cache's label).
            throw new UnsupportedFormatException(url, manifestDigest is null ? [] : [mediaType], "the content is not a WebAssembly binary (no \\0asm magic)");
        }

        var path = _cache.Commit(temp, outcome.Digest, outcome.Size);
        _cache.Record(url, new IndexEntry(resolvedRef, manifestDigest, outcome.Digest, outcome.Size, format, mediaType, DateTimeOffset.UtcNow));
        return new FetchedModule
        {
            Url = url,
            ResolvedRef = resolvedRef,
            ManifestDigest = manifestDigest,
            ModuleDigest = outcome.Digest,
            Size = outcome.Size,
            Path = path,
            Format = format,
            MediaType = mediaType,
        };
    }

    /// <summary>
    /// Whether <paramref name="digest"/> is the module's rather than the manifest's: the digest of the layer that holds
    /// it, or of the plugin.wasm extracted from this manifest before (the cache knows it).
    /// </summary>
    private bool IsModuleDigestOf(string url, OciManifest manifest, string manifestDigest, string digest)
    {
        if (_cache.LookupManifest(manifestDigest)?.ModuleDigest == digest)
        {
            return true;
        }

        try
        {
            return OciFormatSelector.Select(url, manifest).Layer.Digest == digest;
        }
        catch (UnsupportedFormatException)
        {
            return false;
        }
    }

    private static RegistryCredential? CredentialFor(ModuleRequest request, OciReference reference)
    {
        if (request.PullSecret is not { } secret)
        {
            return null;
        }

        try
        {
            return DockerConfig.Find(secret, reference.Registry);
        }
        catch (FormatException ex)
        {
            // The message is DockerConfig's own, which never quotes the payload; ex is not passed on, so nothing below it is logged.
            var (secretNamespace, secretName) = request.PullSecretName?.Split('/', 2) is [var ns, var name] ? (ns, name) : ("<namespace>", "<name>");
            var source = request.PullSecretName is null ? "the pull secret's .dockerconfigjson" : $"spec.imagePullSecret: Secret {request.PullSecretName}, key .dockerconfigjson,";
            throw AuthFailureException.UnreadablePullSecret(
                request.Url,
                $"{source} {ex.Message}",
                $"create the Secret again with kubectl create secret docker-registry {secretName} -n {secretNamespace} --docker-server=<registry host> --docker-username=<user> --docker-password=<password>");
        }
    }

    private static string RepositoryOf(OciReference reference) => $"{reference.ApiHost}/{reference.Repository}";

    /// <summary>
    /// The cached module for this reference (by its URL, else by the expected manifest digest), once the registry
    /// has served that manifest to this request's own credential. Otherwise the manifest is asked for by digest with
    /// the credential first: a registry that refuses it gives the AuthFailureException a fresh pull would, one that
    /// no longer has it (or cannot be reached) leaves the answer to a fresh pull. The module file is looked up once,
    /// after the registry answered: a file looked up before could be evicted while the registry is asked.
    /// </summary>
    private async Task<FetchedModule?> FromCacheForAsync(
        string url, OciReference reference, string? expectedManifest, RegistryCredential? credential, CancellationToken cancellationToken)
    {
        var known = _cache.Lookup(url) is { ManifestDigest: not null } indexed && (expectedManifest is null || expectedManifest == indexed.ManifestDigest)
            ? indexed
            : expectedManifest is null ? null : _cache.LookupManifest(expectedManifest);
        if (known?.ManifestDigest is not { } manifestDigest)
        {
            return null;
        }

        var repository = RepositoryOf(reference);
        if (!_verifications.IsVerified(repository, manifestDigest, credential))
        {
            try
            {
                await _registry.GetManifestAsync(url, reference, manifestDigest, credential, cancellationToken);
            }
            catch (ManifestFailureException)
            {
                return null;
            }

            _verifications.Record(repository, manifestDigest, credential);
        }

        return await FromCacheAsync(url, known.ModuleDigest, reference.WithDigest(manifestDigest), manifestDigest, known.Format, known.MediaType, cancellationToken);
    }

    /// <summary>The module last fetched for this URL, when present and matching the required digest.</summary>
    private async Task<FetchedModule?> FromIndexAsync(string url, string? requiredDigest, CancellationToken cancellationToken)
    {
        if (_cache.Lookup(url) is not { } entry)
        {
            return null;
        }

        if (requiredDigest is not null && requiredDigest != (entry.ManifestDigest ?? entry.ModuleDigest))
        {
            return null;
        }

        return await FromCacheAsync(url, entry.ModuleDigest, entry.ResolvedRef, entry.ManifestDigest, entry.Format, entry.MediaType, cancellationToken);
    }

    private async Task<FetchedModule?> FromCacheAsync(
        string url, string moduleDigest, string resolvedRef, string? manifestDigest, ModuleFormat format, string mediaType, CancellationToken cancellationToken)
    {
        if (await _cache.TryGetPathAsync(moduleDigest, cancellationToken) is not { } path)
        {
            return null;
        }

        var size = new FileInfo(path).Length;
        var indexed = _cache.Lookup(url);
        if (indexed is null || indexed.ModuleDigest != moduleDigest || indexed.ResolvedRef != resolvedRef)
        {
            _cache.Record(url, new IndexEntry(resolvedRef, manifestDigest, moduleDigest, size, format, mediaType, DateTimeOffset.UtcNow));
        }

        return new FetchedModule
        {
            Url = url,
            ResolvedRef = resolvedRef,
            ManifestDigest = manifestDigest,
            ModuleDigest = moduleDigest,
            Size = size,
            Path = path,
            Format = format,
            MediaType = mediaType,
            FromCache = true,
        };
    }
}
