using k8s;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using WasmOperator.Api.WasmPlugins;
using WasmOperator.Operator.Runtime.Events;
using WasmOperator.Operator.Tests.Support;

namespace WasmOperator.Operator.Tests.Runtime.Events;

public sealed class EventRecorderTests
{
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2026, 12, 7, 8, 0, 0, TimeSpan.Zero));

    [Fact]
    public async Task An_event_repeated_within_the_window_bumps_the_count_and_last_timestamp_of_the_one_recorded()
    {
        await using var cluster = await Cluster.StartAsync();
        var plugin = await CreatePluginAsync(cluster, "repeated");
        var recorder = new EventRecorder(cluster.Client, "wasm-operator", "replica-a", NullLogger.Instance, _clock);

        await recorder.RecordAsync(plugin, EventRecorder.Warning, "RegistryUnavailable", "registry down", default);
        _clock.Advance(TimeSpan.FromMinutes(1));
        await recorder.RecordAsync(plugin, EventRecorder.Warning, "RegistryUnavailable", "registry down", default);
        _clock.Advance(TimeSpan.FromMinutes(1));
        await recorder.RecordAsync(plugin, EventRecorder.Warning, "RegistryUnavailable", "registry down", default);

        var ev = Assert.Single((await cluster.Client.CoreV1.ListNamespacedEventAsync("default")).Items);
        Assert.Equal(3, ev.Count);
        Assert.Equal(new DateTime(2026, 12, 7, 8, 0, 0, DateTimeKind.Utc), ev.FirstTimestamp?.ToUniversalTime());
        Assert.Equal(new DateTime(2026, 12, 7, 8, 2, 0, DateTimeKind.Utc), ev.LastTimestamp?.ToUniversalTime());
    }

    [Fact]
    public async Task A_repeat_within_the_same_second_keeps_first_and_last_timestamp_in_whole_seconds_and_in_order()
    {
        await using var cluster = await Cluster.StartAsync();
        var plugin = await CreatePluginAsync(cluster, "same-second");
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 12, 7, 8, 0, 0, 700, TimeSpan.Zero));
        var recorder = new EventRecorder(cluster.Client, "wasm-operator", "replica-a", NullLogger.Instance, clock);

        await recorder.RecordAsync(plugin, EventRecorder.Warning, "RegistryUnavailable", "registry down", default);
        clock.Advance(TimeSpan.FromMilliseconds(200));
        await recorder.RecordAsync(plugin, EventRecorder.Warning, "RegistryUnavailable", "registry down", default);

        var ev = Assert.Single((await cluster.Client.CoreV1.ListNamespacedEventAsync("default")).Items);
        Assert.Equal(2, ev.Count);
        Assert.Equal(new DateTime(2026, 12, 7, 8, 0, 0, DateTimeKind.Utc), ev.FirstTimestamp?.ToUniversalTime());
        Assert.Equal(new DateTime(2026, 12, 7, 8, 0, 0, DateTimeKind.Utc), ev.LastTimestamp?.ToUniversalTime());
    }

    [Fact]
    public async Task Another_message_or_a_repeat_after_the_window_or_after_the_event_is_gone_is_a_new_event()
    {
        await using var cluster = await Cluster.StartAsync();
        var plugin = await CreatePluginAsync(cluster, "varied");
        var recorder = new EventRecorder(cluster.Client, "wasm-operator", "replica-a", NullLogger.Instance, _clock);

        await recorder.RecordAsync(plugin, EventRecorder.Warning, "RegistryUnavailable", "registry down", default);
        await recorder.RecordAsync(plugin, EventRecorder.Warning, "RegistryUnavailable", "registry down again", default);
        _clock.Advance(TimeSpan.FromMinutes(10));
        await recorder.RecordAsync(plugin, EventRecorder.Warning, "RegistryUnavailable", "registry down", default);
        var separate = (await cluster.Client.CoreV1.ListNamespacedEventAsync("default")).Items;
        foreach (var ev in separate)
        {
            await cluster.Client.CoreV1.DeleteNamespacedEventAsync(ev.Metadata.Name, "default");
        }

        await recorder.RecordAsync(plugin, EventRecorder.Warning, "RegistryUnavailable", "registry down", default);

        var recreated = Assert.Single((await cluster.Client.CoreV1.ListNamespacedEventAsync("default")).Items);
        Assert.Equal(3, separate.Count);
        Assert.All(separate, e => Assert.Equal(1, e.Count));
        Assert.Equal(1, recreated.Count);
        Assert.Equal("registry down", recreated.Message);
    }

    private static async Task<WasmPlugin> CreatePluginAsync(Cluster cluster, string name)
    {
        await cluster.CreateAsync(Cluster.Plugin(name, "oci://registry.invalid/team/x:v1"));
        return (await cluster.GetAsync(name))!;
    }
}
