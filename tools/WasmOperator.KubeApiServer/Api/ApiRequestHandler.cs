using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using WasmOperator.KubeApiServer.Discovery;
using WasmOperator.KubeApiServer.Resources;
using WasmOperator.KubeApiServer.Selectors;
using WasmOperator.KubeApiServer.Storage;
using WasmOperator.KubeApiServer.Tables;

namespace WasmOperator.KubeApiServer.Api;

/// <summary>
/// Routes every HTTP request: discovery, OpenAPI, and the resource verbs (get, list, watch, create, update, patch, delete).
/// Watches end when the server stops (<paramref name="shutdown"/>), so stopping never waits for clients to hang up.
/// </summary>
internal sealed class ApiRequestHandler(ObjectService service, TimeSpan bookmarkInterval, CancellationToken shutdown)
{
    private static readonly byte[] NewLine = "\n"u8.ToArray();

    // Quotes and '<' stay readable in bodies (kube-apiserver does not escape them either).
    private static readonly System.Text.Json.JsonSerializerOptions Output = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public async Task HandleAsync(HttpContext context)
    {
        try
        {
            await RouteAsync(context).ConfigureAwait(false);
        }
        catch (ApiException e)
        {
            await WriteJsonAsync(context, e.Code, e.ToStatus()).ConfigureAwait(false);
        }
        catch (RevisionTooOldException e)
        {
            await WriteJsonAsync(context, 410, ApiErrors.Expired(e.Message).ToStatus()).ConfigureAwait(false);
        }
        catch (System.Text.Json.JsonException e)
        {
            await WriteJsonAsync(context, 400, ApiErrors.BadRequest($"the request body is not valid JSON: {e.Message}").ToStatus()).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away.
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or FormatException or NullReferenceException or KeyNotFoundException or InvalidCastException)
        {
            // A bug here must still answer as kube-apiserver would, with the cause, rather than an empty 500.
            await WriteJsonAsync(context, 500, new ApiException(500, "InternalError", $"Internal error occurred: {e.GetType().Name}: {e.Message}").ToStatus()).ConfigureAwait(false);
        }
    }

    private async Task RouteAsync(HttpContext context)
    {
        var path = context.Request.Path.Value?.Trim('/') ?? string.Empty;
        var segments = path.Length == 0 ? [] : path.Split('/');
        var catalog = service.Catalog;
        if (segments.Length == 0)
        {
            await WriteJsonAsync(context, 200, new JsonObject { ["paths"] = new JsonArray("/api", "/apis", "/version") }).ConfigureAwait(false);
            return;
        }

        switch (segments[0])
        {
            case "version":
                await WriteJsonAsync(context, 200, DiscoveryDocuments.Version()).ConfigureAwait(false);
                return;
            case "healthz" or "readyz" or "livez":
                context.Response.ContentType = "text/plain";
                await context.Response.WriteAsync("ok", context.RequestAborted).ConfigureAwait(false);
                return;
            case "openapi" when segments.Length == 2 && segments[1] == "v3":
                await WriteJsonAsync(context, 200, OpenApiDocuments.Index(catalog.All)).ConfigureAwait(false);
                return;
            case "openapi" when segments.Length > 2 && segments[1] == "v3":
                var document = OpenApiDocuments.GroupVersion(string.Join('/', segments[2..]), catalog.All) ?? throw ApiErrors.PageNotFound();
                await WriteJsonAsync(context, 200, document).ConfigureAwait(false);
                return;
            case "openapi":
                throw ApiErrors.PageNotFound();
            case "api" when segments.Length == 1:
                await WriteJsonAsync(context, 200, DiscoveryDocuments.CoreVersions(context.Request.Host.Value ?? "127.0.0.1")).ConfigureAwait(false);
                return;
            case "api" when segments[1] != "v1":
                throw ApiErrors.PageNotFound();
            case "api" when segments.Length == 2:
                await WriteJsonAsync(context, 200, DiscoveryDocuments.ResourceList(string.Empty, "v1", catalog.All)).ConfigureAwait(false);
                return;
            case "api":
                await ServeResourceAsync(context, RequestTarget.Parse(string.Empty, "v1", segments[2..], catalog)).ConfigureAwait(false);
                return;
            case "apis" when segments.Length == 1:
                await WriteJsonAsync(context, 200, DiscoveryDocuments.GroupList(catalog.All)).ConfigureAwait(false);
                return;
            case "apis" when !catalog.All.Any(t => t.Group == segments[1]):
                throw ApiErrors.PageNotFound();
            case "apis" when segments.Length == 2:
                await WriteJsonAsync(context, 200, DiscoveryDocuments.Group(segments[1], catalog.All)).ConfigureAwait(false);
                return;
            case "apis" when !catalog.All.Any(t => t.Group == segments[1] && t.Versions.Contains(segments[2])):
                throw ApiErrors.PageNotFound();
            case "apis" when segments.Length == 3:
                await WriteJsonAsync(context, 200, DiscoveryDocuments.ResourceList(segments[1], segments[2], catalog.All)).ConfigureAwait(false);
                return;
            case "apis":
                await ServeResourceAsync(context, RequestTarget.Parse(segments[1], segments[2], segments[3..], catalog)).ConfigureAwait(false);
                return;
            default:
                throw ApiErrors.PageNotFound();
        }
    }

    private async Task ServeResourceAsync(HttpContext context, RequestTarget? target)
    {
        if (target is null || (target.Subresource is not null && target.Subresource != "status") || (target.Subresource == "status" && !target.Type.HasStatusSubresource))
        {
            throw ApiErrors.PageNotFound();
        }

        var request = context.Request;
        var query = request.Query;
        var type = target.Type;
        var dryRun = query.ContainsKey("dryRun");
        var manager = ManagerOf(request);
        var method = request.Method;
        if (target.Name is null)
        {
            if (target.Namespace is null && type.Namespaced && method != "GET")
            {
                throw ApiErrors.MethodNotAllowed(method);
            }

            switch (method)
            {
                case "GET" when IsTrue(query["watch"]):
                    await WatchAsync(context, target).ConfigureAwait(false);
                    return;
                case "GET":
                    await WriteJsonAsync(context, 200, List(target, request)).ConfigureAwait(false);
                    return;
                case "POST":
                    var body = await ReadObjectAsync(request).ConfigureAwait(false);
                    var create = WriteContextOf(request, manager, dryRun, "CreateOptions");
                    var created = service.Create(type, target.Version, target.Namespace, body, create);
                    AddWarnings(context.Response, create);
                    await WriteObjectAsync(context, 201, target, created).ConfigureAwait(false);
                    return;
                case "DELETE":
                    var items = Filter(target, request, service.Store.List(type.Key, target.Namespace).Items);
                    foreach (var item in items)
                    {
                        var meta = item["metadata"]!;
                        service.Delete(type, meta["namespace"]?.GetValue<string>(), meta["name"]!.GetValue<string>(), null, dryRun);
                    }

                    await WriteJsonAsync(context, 200, ListOf(target, items, service.Store.Revision.ToString(CultureInfo.InvariantCulture), null)).ConfigureAwait(false);
                    return;
                default:
                    throw ApiErrors.MethodNotAllowed(method);
            }
        }

        if (type.Namespaced && target.Namespace is null)
        {
            throw ApiErrors.PageNotFound();
        }

        switch (method)
        {
            case "GET":
                await WriteObjectAsync(context, 200, target, service.Get(type, target.Namespace, target.Name)).ConfigureAwait(false);
                return;
            case "PUT":
                var body = await ReadObjectAsync(request).ConfigureAwait(false);
                var update = WriteContextOf(request, manager, dryRun, "UpdateOptions");
                var updated = service.Update(type, target.Version, target.Namespace, target.Name, body, target.Subresource, update);
                AddWarnings(context.Response, update);
                await WriteObjectAsync(context, 200, target, updated).ConfigureAwait(false);
                return;
            case "PATCH":
                var text = await ReadTextAsync(request).ConfigureAwait(false);
                var exists = service.Store.Get(type.Key, target.Namespace, target.Name) is not null;
                var patch = WriteContextOf(request, manager, dryRun, "PatchOptions");
                var patched = service.Patch(type, target.Version, target.Namespace, target.Name, request.ContentType ?? string.Empty, text, target.Subresource, IsTrue(query["force"]), patch);
                AddWarnings(context.Response, patch);
                await WriteObjectAsync(context, exists ? 200 : 201, target, patched).ConfigureAwait(false);
                return;
            case "DELETE":
                var options = request.ContentLength > 0 || request.Headers.TransferEncoding.Count > 0
                    ? YamlToJson.Parse(await ReadTextAsync(request).ConfigureAwait(false)) as JsonObject
                    : null;
                var (obj, deleted) = service.Delete(type, target.Namespace, target.Name, options, dryRun);
                await WriteObjectAsync(context, deleted ? 200 : 202, target, obj).ConfigureAwait(false);
                return;
            default:
                throw ApiErrors.MethodNotAllowed(method);
        }
    }

    private static WriteContext WriteContextOf(HttpRequest request, string manager, bool dryRun, string optionsKind) =>
        new(manager, dryRun, FieldValidationParser.Parse(request.Query["fieldValidation"].ToString(), optionsKind));

    /// <summary>One <c>Warning: 299 - "text"</c> header per warning, as kube-apiserver sends them and kubectl prints them.</summary>
    private static void AddWarnings(HttpResponse response, WriteContext write)
    {
        foreach (var text in write.Warnings)
        {
            response.Headers.Append("Warning", $"299 - \"{Quote(text)}\"");
        }
    }

    // A header value is ASCII without controls (Kestrel refuses the rest, after the write was stored): a field name in
    // another script or with DEL goes as \uXXXX, and backslash and quote are escaped for the quoted-string.
    private static string Quote(string text)
    {
        var quoted = new System.Text.StringBuilder(text.Length + 8);
        foreach (var c in text)
        {
            _ = c switch
            {
                '\\' or '"' => quoted.Append('\\').Append(c),
                < ' ' or > '~' => quoted.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}"),
                _ => quoted.Append(c),
            };
        }

        return quoted.ToString();
    }

    private static string ManagerOf(HttpRequest request)
    {
        if (request.Query["fieldManager"].ToString() is { Length: > 0 } manager)
        {
            return manager;
        }

        var agent = request.Headers.UserAgent.ToString();
        var slash = agent.IndexOf('/', StringComparison.Ordinal);
        return slash > 0 ? agent[..slash] : agent.Length > 0 ? agent : "unknown";
    }

    private JsonObject List(RequestTarget target, HttpRequest request)
    {
        var query = request.Query;
        var (all, revision) = service.Store.List(target.Type.Key, target.Namespace);
        var items = Filter(target, request, all);
        string? continueOut = null;
        if (query["continue"].ToString() is { Length: > 0 } continueIn)
        {
            var token = ContinueToken.Decode(continueIn);
            if (token.Revision < service.Store.OldestWatchableRevision)
            {
                throw ApiErrors.Expired("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.");
            }

            items = [.. items.Where(o => string.CompareOrdinal(KeyOf(o), token.LastKey) > 0)];
        }

        long remaining = 0;
        if (long.TryParse(query["limit"], CultureInfo.InvariantCulture, out var limit) && limit > 0 && items.Count > limit)
        {
            remaining = items.Count - limit;
            items = items.GetRange(0, (int)limit);
            continueOut = new ContinueToken(revision, KeyOf(items[^1])).Encode();
        }

        var rv = revision.ToString(CultureInfo.InvariantCulture);
        if (TableBuilder.Wants(request.Headers.Accept))
        {
            return TableBuilder.Build(target.Type, items, rv, continueOut, query["includeObject"] == "Object");
        }

        var list = ListOf(target, items, rv, continueOut);
        if (remaining > 0)
        {
            list["metadata"]!["remainingItemCount"] = remaining;
        }

        return list;
    }

    private static string KeyOf(JsonObject obj) =>
        ObjectStore.ObjectKey(obj["metadata"]?["namespace"]?.GetValue<string>(), obj["metadata"]!["name"]!.GetValue<string>());

    private static JsonObject ListOf(RequestTarget target, List<JsonObject> items, string revision, string? continueToken)
    {
        var metadata = new JsonObject { ["resourceVersion"] = revision };
        if (continueToken is not null)
        {
            metadata["continue"] = continueToken;
        }

        var array = new JsonArray();
        foreach (var item in items)
        {
            item["apiVersion"] = target.Type.ApiVersion(target.Version);
            array.Add(item);
        }

        return new JsonObject
        {
            ["kind"] = target.Type.ListKind,
            ["apiVersion"] = target.Type.ApiVersion(target.Version),
            ["metadata"] = metadata,
            ["items"] = array,
        };
    }

    private static List<JsonObject> Filter(RequestTarget target, HttpRequest request, List<JsonObject> items)
    {
        var labels = LabelSelector.Parse(request.Query["labelSelector"]);
        var fields = FieldSelector.Parse(request.Query["fieldSelector"]);
        return [.. items.Where(o => labels.Matches(o) && fields.Matches(o))];
    }

    private async Task WatchAsync(HttpContext context, RequestTarget target)
    {
        var request = context.Request;
        var query = request.Query;
        var labels = LabelSelector.Parse(query["labelSelector"]);
        var fields = FieldSelector.Parse(query["fieldSelector"]);
        var asTable = TableBuilder.Wants(request.Headers.Accept);
        var bookmarks = IsTrue(query["allowWatchBookmarks"]);
        var sendInitialEvents = IsTrue(query["sendInitialEvents"]);
        var rvText = query["resourceVersion"].ToString();
        long? from = rvText is "" or "0" ? null : long.TryParse(rvText, CultureInfo.InvariantCulture, out var parsed)
            ? parsed
            : throw ApiErrors.BadRequest($"invalid resource version \"{rvText}\"");
        var timeout = int.TryParse(query["timeoutSeconds"], CultureInfo.InvariantCulture, out var seconds) && seconds > 0
            ? TimeSpan.FromSeconds(seconds)
            : TimeSpan.FromMinutes(30);

        var response = context.Response;
        response.StatusCode = 200;
        response.ContentType = "application/json";
        response.Headers.CacheControl = "no-cache, private";
        WatchSubscription subscription;
        try
        {
            subscription = service.Store.Subscribe(target.Type.Key, from, initialState: from is null || sendInitialEvents);
        }
        catch (RevisionTooOldException e)
        {
            await WriteEventAsync(response, "ERROR", ApiErrors.Expired(e.Message).ToStatus(), context.RequestAborted).ConfigureAwait(false);
            return;
        }

        using (subscription)
        using (var timeoutSource = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, shutdown))
        {
            timeoutSource.CancelAfter(timeout);
            var token = timeoutSource.Token;
            var first = true;
            var lastRevision = subscription.StartRevision;
            await response.StartAsync(token).ConfigureAwait(false);
            try
            {
                foreach (var e in subscription.Backlog)
                {
                    first = await SendAsync(e).ConfigureAwait(false);
                }

                if (sendInitialEvents && bookmarks)
                {
                    var end = Bookmark(subscription.StartRevision);
                    ObjectService.Metadata(end)["annotations"] = new JsonObject { ["k8s.io/initial-events-end"] = "true" };
                    await WriteEventAsync(response, "BOOKMARK", end, token).ConfigureAwait(false);
                }

                await response.Body.FlushAsync(token).ConfigureAwait(false);
                var reader = subscription.Events;
                while (!token.IsCancellationRequested)
                {
                    using var tick = CancellationTokenSource.CreateLinkedTokenSource(token);
                    if (bookmarks)
                    {
                        tick.CancelAfter(bookmarkInterval);
                    }

                    try
                    {
                        var e = await reader.ReadAsync(tick.Token).ConfigureAwait(false);
                        if (e.Revision > lastRevision)
                        {
                            first = await SendAsync(e).ConfigureAwait(false);
                        }
                    }
                    catch (OperationCanceledException) when (!token.IsCancellationRequested)
                    {
                        // Bookmark time: every event up to the store's revision is already queued, so send them first.
                        var revision = service.Store.Revision;
                        while (reader.TryRead(out var queued))
                        {
                            if (queued.Revision > lastRevision)
                            {
                                first = await SendAsync(queued).ConfigureAwait(false);
                            }
                        }

                        lastRevision = Math.Max(lastRevision, revision);
                        await WriteEventAsync(response, "BOOKMARK", Bookmark(lastRevision), token).ConfigureAwait(false);
                    }
                }
            }
            catch (OperationCanceledException)
            {
                // timeoutSeconds elapsed or the client left: end the stream as kube-apiserver does.
            }

            async Task<bool> SendAsync(StoreEvent e)
            {
                lastRevision = Math.Max(lastRevision, e.Revision);
                var ns = e.Object["metadata"]?["namespace"]?.GetValue<string>();
                if (target.Namespace is not null && ns != target.Namespace)
                {
                    return first;
                }

                var now = labels.Matches(e.Object) && fields.Matches(e.Object);
                var before = e.OldObject is not null && labels.Matches(e.OldObject) && fields.Matches(e.OldObject);
                var type = e.Type switch
                {
                    "MODIFIED" when now && !before => "ADDED",
                    "MODIFIED" when !now && before => "DELETED",
                    "MODIFIED" when !now => null,
                    "ADDED" or "DELETED" when !now => null,
                    _ => e.Type,
                };
                if (type is null)
                {
                    return first;
                }

                var obj = (JsonObject)e.Object.DeepClone();
                obj["apiVersion"] = target.Type.ApiVersion(target.Version);
                JsonObject payload = asTable
                    ? TableBuilder.Build(target.Type, [obj], obj["metadata"]!["resourceVersion"]!.GetValue<string>(), null, query["includeObject"] == "Object", withColumns: first)
                    : obj;
                await WriteEventAsync(response, type, payload, token).ConfigureAwait(false);
                return false;
            }

            JsonObject Bookmark(long revision) => new()
            {
                ["kind"] = target.Type.Kind,
                ["apiVersion"] = target.Type.ApiVersion(target.Version),
                ["metadata"] = new JsonObject { ["resourceVersion"] = revision.ToString(CultureInfo.InvariantCulture) },
            };
        }
    }

    private static async Task WriteEventAsync(HttpResponse response, string type, JsonObject obj, CancellationToken token)
    {
        var line = Encoding.UTF8.GetBytes(new JsonObject { ["type"] = type, ["object"] = obj }.ToJsonString(Output));
        await response.Body.WriteAsync(line, token).ConfigureAwait(false);
        await response.Body.WriteAsync(NewLine, token).ConfigureAwait(false);
        await response.Body.FlushAsync(token).ConfigureAwait(false);
    }

    private static async Task WriteObjectAsync(HttpContext context, int status, RequestTarget target, JsonObject obj)
    {
        obj["apiVersion"] = target.Type.ApiVersion(target.Version);
        if (TableBuilder.Wants(context.Request.Headers.Accept) && context.Request.Method == "GET")
        {
            var table = TableBuilder.Build(target.Type, [obj], obj["metadata"]?["resourceVersion"]?.GetValue<string>() ?? string.Empty, null, context.Request.Query["includeObject"] == "Object");
            await WriteJsonAsync(context, status, table).ConfigureAwait(false);
            return;
        }

        await WriteJsonAsync(context, status, obj).ConfigureAwait(false);
    }

    private static async Task WriteJsonAsync(HttpContext context, int status, JsonObject body)
    {
        if (context.Response.HasStarted)
        {
            return;
        }

        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(body.ToJsonString(Output), context.RequestAborted).ConfigureAwait(false);
    }

    private static async Task<string> ReadTextAsync(HttpRequest request)
    {
        if (request.ContentType?.Contains("cbor", StringComparison.Ordinal) == true)
        {
            throw new ApiException(415, "UnsupportedMediaType", $"the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (got {request.ContentType})");
        }

        using var reader = new StreamReader(request.Body, Encoding.UTF8);
        return await reader.ReadToEndAsync(request.HttpContext.RequestAborted).ConfigureAwait(false);
    }

    private static async Task<JsonObject> ReadObjectAsync(HttpRequest request)
    {
        if (request.ContentType?.Contains("protobuf", StringComparison.Ordinal) == true)
        {
            using var buffer = new MemoryStream();
            await request.Body.CopyToAsync(buffer, request.HttpContext.RequestAborted).ConfigureAwait(false);
            return ProtobufBody.Decode(buffer.ToArray());
        }

        var text = await ReadTextAsync(request).ConfigureAwait(false);
        return YamlToJson.Parse(text) as JsonObject ?? throw ApiErrors.BadRequest("the request body must be an object");
    }

    private static bool IsTrue(Microsoft.Extensions.Primitives.StringValues value) => value == "true" || value == "1";
}
