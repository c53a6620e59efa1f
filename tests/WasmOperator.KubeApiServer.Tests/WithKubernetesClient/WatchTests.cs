using k8s;
using k8s.Models;
using WasmOperator.KubeApiServer.Hosting;
using WasmOperator.KubeApiServer.Tests.Support;

namespace WasmOperator.KubeApiServer.Tests.WithKubernetesClient;

public sealed class WatchTests
{
    private static readonly TimeSpan Guard = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Watch_resumed_from_a_list_resourceVersion_sees_only_later_changes()
    {
        await using var f = await ServerFixture.StartAsync(installCrd: false);
        using var client = f.Server.CreateClient();
        await client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("before"), "default");
        var list = await client.CoreV1.ListNamespacedConfigMapAsync("default");
        await client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("after"), "default");
        await client.CoreV1.DeleteNamespacedConfigMapAsync("before", "default");

        var seen = new List<string>();
        using var guard = new CancellationTokenSource(Guard);
        var watch = client.CoreV1.WatchListNamespacedConfigMapAsync("default", resourceVersion: list.Metadata.ResourceVersion, cancellationToken: guard.Token);
        await foreach (var (type, cm) in watch)
        {
            seen.Add($"{type} {cm.Metadata.Name}");
            if (seen.Count == 2)
            {
                break;
            }
        }

        Assert.Equal(["Added after", "Deleted before"], seen);
        Assert.Equal(["before"], list.Items.Select(i => i.Metadata.Name));
    }

    [Fact]
    public async Task Watch_with_bookmarks_allowed_receives_bookmarks_at_the_current_resourceVersion()
    {
        await using var f = await ServerFixture.StartAsync(new LocalKubeApiServerOptions { BookmarkInterval = TimeSpan.FromMilliseconds(200) }, installCrd: false);
        using var client = f.Server.CreateClient();
        await client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("one"), "default");
        var list = await client.CoreV1.ListNamespacedConfigMapAsync("default");
        var other = await client.CoreV1.CreateNamespacedSecretAsync(new V1Secret { Metadata = new V1ObjectMeta { Name = "s" } }, "default");

        V1ConfigMap? bookmark = null;
        using var guard = new CancellationTokenSource(Guard);
        var watch = client.CoreV1.WatchListNamespacedConfigMapAsync("default", allowWatchBookmarks: true, resourceVersion: list.Metadata.ResourceVersion, cancellationToken: guard.Token);
        await foreach (var (type, cm) in watch)
        {
            if (type == WatchEventType.Bookmark)
            {
                bookmark = cm;
                break;
            }
        }

        Assert.NotNull(bookmark);
        Assert.Equal(other.Metadata.ResourceVersion, bookmark.Metadata.ResourceVersion);
    }

    [Fact]
    public async Task Watch_from_a_resourceVersion_older_than_the_history_gets_410_and_a_relist_recovers()
    {
        await using var f = await ServerFixture.StartAsync(new LocalKubeApiServerOptions { HistoryLimit = 3 }, installCrd: false);
        using var client = f.Server.CreateClient();
        var first = await client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("c0"), "default");
        for (var i = 1; i <= 5; i++)
        {
            await client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap($"c{i}"), "default");
        }

        var errors = new List<Exception>();
        using var guard = new CancellationTokenSource(Guard);
        var stale = client.CoreV1.WatchListNamespacedConfigMapAsync("default", resourceVersion: first.Metadata.ResourceVersion, onError: errors.Add, cancellationToken: guard.Token);
        await foreach (var _ in stale)
        {
            Assert.Fail("a watch from a compacted resourceVersion must not deliver events");
        }

        var relist = await client.CoreV1.ListNamespacedConfigMapAsync("default");
        await client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("c6"), "default");
        var resumed = client.CoreV1.WatchListNamespacedConfigMapAsync("default", resourceVersion: relist.Metadata.ResourceVersion, cancellationToken: guard.Token);
        string? next = null;
        await foreach (var (_, cm) in resumed)
        {
            next = cm.Metadata.Name;
            break;
        }

        var gone = Assert.IsType<KubernetesException>(Assert.Single(errors));
        Assert.Equal(410, gone.Status.Code);
        Assert.Equal("Expired", gone.Status.Reason);
        Assert.Equal(6, relist.Items.Count);
        Assert.Equal("c6", next);
    }

    [Fact]
    public async Task Watch_with_selectors_sees_objects_enter_and_leave_the_selection()
    {
        await using var f = await ServerFixture.StartAsync(installCrd: false);
        using var client = f.Server.CreateClient();
        var start = await client.CoreV1.ListNamespacedConfigMapAsync("default");
        var labelled = ConfigMap("tracked");
        labelled.Metadata.Labels = new Dictionary<string, string> { ["app"] = "demo" };
        await client.CoreV1.CreateNamespacedConfigMapAsync(labelled, "default");
        await client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("ignored"), "default");
        await client.CoreV1.PatchNamespacedConfigMapAsync(new V1Patch("""{"metadata":{"labels":{"app":"other"}}}""", V1Patch.PatchType.MergePatch), "tracked", "default");

        var seen = new List<string>();
        using var guard = new CancellationTokenSource(Guard);
        var watch = client.CoreV1.WatchListNamespacedConfigMapAsync("default", labelSelector: "app in (demo)", resourceVersion: start.Metadata.ResourceVersion, cancellationToken: guard.Token);
        await foreach (var (type, cm) in watch)
        {
            seen.Add($"{type} {cm.Metadata.Name}");
            if (seen.Count == 2)
            {
                break;
            }
        }

        var byName = await client.CoreV1.ListNamespacedConfigMapAsync("default", fieldSelector: "metadata.name=ignored");
        Assert.Equal(["Added tracked", "Deleted tracked"], seen);
        Assert.Equal("ignored", Assert.Single(byName.Items).Metadata.Name);
    }

    [Fact]
    public async Task Watch_ends_when_timeoutSeconds_elapse()
    {
        await using var f = await ServerFixture.StartAsync(installCrd: false);
        using var client = f.Server.CreateClient();
        using var guard = new CancellationTokenSource(Guard);
        await client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("present"), "default");

        var events = 0;
        var watch = client.CoreV1.WatchListNamespacedConfigMapAsync("default", timeoutSeconds: 1, cancellationToken: guard.Token);
        await foreach (var _ in watch)
        {
            events++;
        }

        Assert.False(guard.IsCancellationRequested);
        Assert.Equal(1, events);
    }

    [Theory]
    [InlineData("tier=edge", "a,b")]
    [InlineData("tier==edge,track!=canary", "a")]
    [InlineData("tier in (edge,core),!track", "a,c")]
    [InlineData("tier notin (edge)", "c,d")]
    [InlineData("track", "b")]
    public async Task List_filters_by_label_selectors(string selector, string expected)
    {
        await using var f = await ServerFixture.StartAsync(installCrd: false);
        using var client = f.Server.CreateClient();
        foreach (var (name, labels) in (List<(string, Dictionary<string, string>)>)[
            ("a", new() { ["tier"] = "edge" }),
            ("b", new() { ["tier"] = "edge", ["track"] = "canary" }),
            ("c", new() { ["tier"] = "core" }),
            ("d", new())])
        {
            var cm = ConfigMap(name);
            cm.Metadata.Labels = labels;
            await client.CoreV1.CreateNamespacedConfigMapAsync(cm, "default");
        }

        var list = await client.CoreV1.ListNamespacedConfigMapAsync("default", labelSelector: selector);

        Assert.Equal(expected, string.Join(",", list.Items.Select(i => i.Metadata.Name)));
    }

    [Fact]
    public async Task List_pages_with_limit_and_continue()
    {
        await using var f = await ServerFixture.StartAsync(installCrd: false);
        using var client = f.Server.CreateClient();
        for (var i = 0; i < 5; i++)
        {
            await client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap($"page-{i}"), "default");
        }

        var names = new List<string>();
        string? next = null;
        var pages = 0;
        do
        {
            var page = await client.CoreV1.ListNamespacedConfigMapAsync("default", limit: 2, continueParameter: next);
            names.AddRange(page.Items.Select(i => i.Metadata.Name));
            next = page.Metadata.ContinueProperty;
            pages++;
        }
        while (next is not null);

        Assert.Equal(3, pages);
        Assert.Equal(["page-0", "page-1", "page-2", "page-3", "page-4"], names);
    }

    [Fact]
    public async Task A_continue_token_older_than_the_history_is_410_Expired()
    {
        await using var f = await ServerFixture.StartAsync(new LocalKubeApiServerOptions { HistoryLimit = 2 }, installCrd: false);
        using var client = f.Server.CreateClient();
        for (var i = 0; i < 3; i++)
        {
            await client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap($"page-{i}"), "default");
        }

        var first = await client.CoreV1.ListNamespacedConfigMapAsync("default", limit: 1);
        for (var i = 3; i < 6; i++)
        {
            await client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap($"page-{i}"), "default");
        }

        var error = await Assert.ThrowsAsync<k8s.Autorest.HttpOperationException>(() =>
            client.CoreV1.ListNamespacedConfigMapAsync("default", limit: 1, continueParameter: first.Metadata.ContinueProperty));

        Assert.Equal(System.Net.HttpStatusCode.Gone, error.Response.StatusCode);
        Assert.Contains("\"reason\":\"Expired\"", error.Response.Content, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Watch_resumes_across_a_restart_with_a_data_directory()
    {
        var data = Directory.CreateTempSubdirectory("kubeapi-data-").FullName;
        try
        {
            string resumeFrom;
            await using (var before = await ServerFixture.StartAsync(new LocalKubeApiServerOptions { DataDirectory = data }, installCrd: false))
            {
                using var client = before.Server.CreateClient();
                await client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("kept"), "default");
                resumeFrom = (await client.CoreV1.ListNamespacedConfigMapAsync("default")).Metadata.ResourceVersion;
            }

            await using var after = await ServerFixture.StartAsync(new LocalKubeApiServerOptions { DataDirectory = data }, installCrd: false);
            using var restarted = after.Server.CreateClient();
            var kept = await restarted.CoreV1.ReadNamespacedConfigMapAsync("kept", "default");
            using var guard = new CancellationTokenSource(Guard);
            var watch = restarted.CoreV1.WatchListNamespacedConfigMapAsync("default", resourceVersion: resumeFrom, cancellationToken: guard.Token);
            var creating = restarted.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("new"), "default", cancellationToken: guard.Token);
            (WatchEventType Type, V1ConfigMap Object)? first = null;
            await foreach (var e in watch)
            {
                first = e;
                break;
            }

            var created = await creating;
            Assert.Equal("kept", kept.Metadata.Name);
            Assert.Equal(WatchEventType.Added, first?.Type);
            Assert.Equal("new", first?.Object.Metadata.Name);
            Assert.True(long.Parse(created.Metadata.ResourceVersion, System.Globalization.CultureInfo.InvariantCulture) > long.Parse(resumeFrom, System.Globalization.CultureInfo.InvariantCulture));
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }

    private static V1ConfigMap ConfigMap(string name) => new()
    {
        Metadata = new V1ObjectMeta { Name = name },
        Data = new Dictionary<string, string> { ["key"] = name },
    };
}
