using Microsoft.AspNetCore.Http;

namespace WasmOperator.Modules.Tests.Fixtures;

/// <summary>
/// A loopback HTTP proxy in front of a registry that counts requests and injects faults:
/// 500s, delays, truncated or corrupted blobs, and blob redirects (recording whether credentials followed).
/// </summary>
internal sealed class FaultProxy : IAsyncDisposable
{
    private readonly HttpClient _upstream = new();
    private readonly Uri _target;
    private LoopbackServer? _server;
    private int _blobGets;
    private int _manifestGets;
    private int _requests;
    private int _failuresLeft;
    private int _blobFaultsLeft;
    private int _redirectedWithAuthorization;
    private int _redirectedRequests;

    private FaultProxy(Uri target)
    {
        _target = target;
    }

    public enum BlobFault
    {
        None,
        Truncate,
        Corrupt,

        /// <summary>Half the body is sent, then nothing until the client gives up.</summary>
        Stall,
    }

    public string HostPort => _server!.HostPort;

    public int BlobGets => Volatile.Read(ref _blobGets);

    public int ManifestGets => Volatile.Read(ref _manifestGets);

    public int Requests => Volatile.Read(ref _requests);

    public int RedirectedRequests => Volatile.Read(ref _redirectedRequests);

    public int RedirectedWithAuthorization => Volatile.Read(ref _redirectedWithAuthorization);

    /// <summary>Delay before answering every request.</summary>
    public TimeSpan Delay { get; set; }

    /// <summary>Manifest GETs are accepted and never answered (the ping of /v2/ still is), like a registry stuck behind its front end.</summary>
    public bool StallManifests { get; set; }

    /// <summary>Replace the Docker-Content-Digest of manifest answers with a wrong digest.</summary>
    public bool TamperManifestDigest { get; set; }

    /// <summary>Redirect blob GETs (307) to another path of this proxy.</summary>
    public bool RedirectBlobs { get; set; }

    /// <summary>Redirect blob GETs (307) to this host:port instead (e.g. a storage host that is down).</summary>
    public string? RedirectBlobsToHost { get; set; }

    /// <summary>The scheme of the <see cref="RedirectBlobsToHost"/> redirect (https to a storage that serves plain http).</summary>
    public string RedirectBlobsToScheme { get; set; } = "http";

    /// <summary>Authorization the proxy itself sends upstream for redirected requests (the storage's own access).</summary>
    public string? RedirectUpstreamAuthorization { get; set; }

    /// <summary>The next <paramref name="count"/> requests answer <paramref name="status"/> (int.MaxValue: always).</summary>
    public void FailNext(int count, int status = 500)
    {
        _failureStatus = status;
        Volatile.Write(ref _failuresLeft, count);
    }

    private int _failureStatus = 500;

    /// <summary>Every request for this repository (e.g. "team/broken") answers <see cref="FailingRepositoryStatus"/>; the others pass.</summary>
    public string? FailingRepository { get; set; }

    public int FailingRepositoryStatus { get; set; } = 500;

    /// <summary>The next <paramref name="count"/> blob GETs are cut or corrupted.</summary>
    public void FaultBlobs(BlobFault fault, int count)
    {
        Fault = fault;
        Volatile.Write(ref _blobFaultsLeft, count);
    }

    private BlobFault Fault { get; set; }

    public static async Task<FaultProxy> StartAsync(Uri target)
    {
        var proxy = new FaultProxy(target);
        proxy._server = await LoopbackServer.StartAsync(proxy.HandleAsync);
        return proxy;
    }

    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        _upstream.Dispose();
    }

    private async Task HandleAsync(HttpContext context)
    {
        Interlocked.Increment(ref _requests);
        var path = context.Request.Path.Value ?? "/";
        if (Delay > TimeSpan.Zero)
        {
            try
            {
                await Task.Delay(Delay, context.RequestAborted);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }

        if (Interlocked.Decrement(ref _failuresLeft) >= 0)
        {
            context.Response.StatusCode = _failureStatus;
            if (_failureStatus == 429)
            {
                context.Response.Headers.RetryAfter = "0";
            }

            return;
        }

        if (FailingRepository is { } failing && path.StartsWith($"/v2/{failing}/", StringComparison.Ordinal))
        {
            context.Response.StatusCode = FailingRepositoryStatus;
            return;
        }

        var redirected = path.StartsWith("/_redirected", StringComparison.Ordinal);
        if (redirected)
        {
            Interlocked.Increment(ref _redirectedRequests);
            if (context.Request.Headers.Authorization.Count > 0)
            {
                Interlocked.Increment(ref _redirectedWithAuthorization);
            }

            path = path["/_redirected".Length..];
        }

        var isBlob = path.Contains("/blobs/sha256:", StringComparison.Ordinal) && context.Request.Method == "GET";
        if (path.Contains("/manifests/", StringComparison.Ordinal) && context.Request.Method == "GET")
        {
            Interlocked.Increment(ref _manifestGets);
            if (StallManifests)
            {
                await HoldUntilAbortedAsync(context);
                return;
            }
        }

        if (isBlob && RedirectBlobsToHost is { } storage && !redirected)
        {
            context.Response.StatusCode = 307;
            context.Response.Headers.Location = $"{RedirectBlobsToScheme}://{storage}/_redirected{path}";
            return;
        }

        if (isBlob && RedirectBlobs && !redirected)
        {
            context.Response.StatusCode = 307;
            context.Response.Headers.Location = "/_redirected" + path;
            return;
        }

        if (isBlob)
        {
            Interlocked.Increment(ref _blobGets);
        }

        using var request = new HttpRequestMessage(new HttpMethod(context.Request.Method), new Uri(_target, path.TrimStart('/') + context.Request.QueryString));
        foreach (var name in new[] { "Accept", "Authorization" })
        {
            if (context.Request.Headers.TryGetValue(name, out var values) && !(redirected && name == "Authorization"))
            {
                request.Headers.TryAddWithoutValidation(name, (IEnumerable<string>)values!);
            }
        }

        if (redirected && RedirectUpstreamAuthorization is { } upstreamAuthorization)
        {
            request.Headers.TryAddWithoutValidation("Authorization", upstreamAuthorization);
        }

        using var response = await _upstream.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, context.RequestAborted);
        context.Response.StatusCode = (int)response.StatusCode;
        foreach (var header in response.Headers)
        {
            if (header.Key is "WWW-Authenticate" or "Docker-Content-Digest" or "Location" or "Retry-After")
            {
                context.Response.Headers[header.Key] = header.Value.ToArray();
            }
        }

        if (TamperManifestDigest && path.Contains("/manifests/", StringComparison.Ordinal))
        {
            context.Response.Headers["Docker-Content-Digest"] = "sha256:" + new string('0', 64);
        }

        if (response.Content.Headers.ContentType is { } contentType)
        {
            context.Response.ContentType = contentType.ToString();
        }

        var body = await response.Content.ReadAsByteArrayAsync(context.RequestAborted);
        context.Response.ContentLength = body.Length;
        if (isBlob && response.IsSuccessStatusCode && Fault != BlobFault.None && Interlocked.Decrement(ref _blobFaultsLeft) >= 0)
        {
            if (Fault == BlobFault.Truncate)
            {
                await context.Response.Body.WriteAsync(body.AsMemory(0, body.Length / 2));
                await context.Response.Body.FlushAsync();
                context.Abort();
                return;
            }

            if (Fault == BlobFault.Stall)
            {
                await context.Response.Body.WriteAsync(body.AsMemory(0, body.Length / 2));
                await context.Response.Body.FlushAsync();
                await HoldUntilAbortedAsync(context);
                return;
            }

            body = (byte[])body.Clone();
            body[^1] ^= 0xff;
        }

        await context.Response.Body.WriteAsync(body);
    }

    private static async Task HoldUntilAbortedAsync(HttpContext context)
    {
        try
        {
            await Task.Delay(Timeout.Infinite, context.RequestAborted);
        }
        catch (OperationCanceledException)
        {
            // The client gave up: the connection is gone.
        }
    }
}
