using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace WasmOperator.Proxy.Forwarding;

/// <summary>
/// A client that reset its connection while the proxy read its request body. The read fails with Kestrel's
/// <see cref="ConnectionResetException"/> before Kestrel itself has seen the connection go (RequestAborted fires later):
/// left at that, the request would end like any other, with the status set for it counted and written to nobody, and
/// Kestrel would drain a body whose reader the failed read left mid-read ("automatic draining of the request body
/// failed", an error-level log line per reset). The request's connection is aborted instead, and no response counted.
/// </summary>
internal static class ClientReset
{
    private static readonly object Aborted = new();

    /// <summary>
    /// True when <paramref name="exception"/>, or one it wraps, is the client's connection reset, or (HTTP/2) its
    /// connection's end failing the streams still open on it: Kestrel's <see cref="ConnectionAbortedException"/> ("The
    /// HTTP/2 connection faulted."), which a body read can meet before RequestAborted is cancelled.
    /// </summary>
    public static bool Caused(Exception? exception) =>
        ExceptionChain.Find<ConnectionResetException>(exception) is not null || ExceptionChain.Find<ConnectionAbortedException>(exception) is not null;

    /// <summary>Aborts the request's connection, which the client reset, and marks the request as having no response.</summary>
    public static void Abort(HttpContext context)
    {
        context.Items[Aborted] = null;
        context.Abort();
    }

    /// <summary>True when <see cref="Abort"/> ended the request (Kestrel cancels RequestAborted later, off this thread).</summary>
    /// <remarks>
    /// Asked of every request that ends without a response started (a 204, a HEAD): it reads the items only if something
    /// made them, as reading <see cref="HttpContext.Items"/> creates them (two allocations a request).
    /// </remarks>
    public static bool AbortedBy(HttpContext context) => context.Features.Get<IItemsFeature>()?.Items.ContainsKey(Aborted) == true;
}
