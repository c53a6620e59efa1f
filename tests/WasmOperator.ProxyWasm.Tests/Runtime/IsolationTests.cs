using WasmOperator.ProxyWasm.Plugins;
using WasmOperator.ProxyWasm.Runtime;
using WasmOperator.ProxyWasm.Tests.Support;

namespace WasmOperator.ProxyWasm.Tests.Runtime;

public class IsolationTests
{
    private static ProxyWasmPlugin LoadTraps(ProxyWasmRuntime runtime, TestPluginHost host, int shards = 1, long memoryLimit = 4L * 1024 * 1024) =>
        runtime.LoadPlugin(runtime.Compile(TestModules.Wat("traps")), new PluginOptions
        {
            Name = "traps",
            Shards = shards,
            MemoryLimitBytes = memoryLimit,
            CallDeadline = TimeSpan.FromMilliseconds(100),
            RebuildBackoff = TimeSpan.Zero,
        }, host);

    [Theory]
    [InlineData(6, TrapKind.Unreachable)]
    [InlineData(7, TrapKind.OutOfBounds)]
    [InlineData(8, TrapKind.Deadline)]
    [InlineData(9, TrapKind.StackOverflow)]
    [InlineData(10, TrapKind.ProcExit)]
    [InlineData(11, TrapKind.MemoryLimit)]
    [InlineData(12, TrapKind.MissingImport)]
    public void A_trap_fails_the_call_with_its_kind_and_the_shard_is_rebuilt_for_the_next_stream(int selector, TrapKind kind)
    {
        using var runtime = new ProxyWasmRuntime();
        var host = new TestPluginHost();
        using var plugin = LoadTraps(runtime, host);

        using var failing = plugin.CreateHttpStream(TestStreamHost.WithRequestHeaders(selector));
        var result = failing.OnRequestHeaders(true);

        Assert.Equal(FilterStatus.Failed, result.Status);
        Assert.Equal(kind, result.Failure?.Kind);
        Assert.Equal("proxy_on_request_headers", result.Failure?.Callback);
        Assert.Equal(1, plugin.CrashCount);
        // Later calls on the failed stream keep failing; they never reach a VM.
        Assert.Equal(FilterStatus.Failed, failing.OnResponseHeaders(true).Status);

        using var next = plugin.CreateHttpStream(TestStreamHost.WithRequestHeaders(5));
        Assert.Equal(FilterStatus.Continue, next.OnRequestHeaders(true).Status);
        Assert.Equal(1, plugin.HealthyShards);
        Assert.Contains("ok", host.Messages());
    }

    [Theory]
    [InlineData(6, TrapKind.Unreachable)]
    [InlineData(7, TrapKind.OutOfBounds)]
    [InlineData(8, TrapKind.Deadline)]
    [InlineData(9, TrapKind.StackOverflow)]
    [InlineData(13, TrapKind.Arithmetic)]
    public void A_trap_in_the_allocator_reached_from_a_hostcall_keeps_its_kind(int selector, TrapKind kind)
    {
        using var runtime = new ProxyWasmRuntime();
        using var plugin = runtime.LoadPlugin(runtime.Compile(TestModules.Wat("allocator_traps")), new PluginOptions
        {
            Name = "allocator-traps",
            Shards = 1,
            CallDeadline = TimeSpan.FromMilliseconds(100),
            RebuildBackoff = TimeSpan.Zero,
        }, new TestPluginHost());

        using var failing = plugin.CreateHttpStream(TestStreamHost.WithRequestHeaders(selector));
        var result = failing.OnRequestHeaders(true);

        Assert.Equal(FilterStatus.Failed, result.Status);
        Assert.Equal(kind, result.Failure?.Kind);
        Assert.Equal("proxy_on_request_headers", result.Failure?.Callback);

        using var next = plugin.CreateHttpStream(TestStreamHost.WithRequestHeaders(5));
        Assert.Equal(FilterStatus.Continue, next.OnRequestHeaders(true).Status);
    }

    [Fact]
    public void Memory_never_grows_past_the_shard_limit()
    {
        using var runtime = new ProxyWasmRuntime();
        using var plugin = LoadTraps(runtime, new TestPluginHost(), memoryLimit: 2L * 1024 * 1024);
        using var stream = plugin.CreateHttpStream(TestStreamHost.WithRequestHeaders(11));

        var result = stream.OnRequestHeaders(true);

        Assert.Equal(TrapKind.MemoryLimit, result.Failure?.Kind);
        // A guess from the memory's size (Wasmtime does not report a refused growth): the message gives its grounds.
        Assert.StartsWith("probably a refused memory.grow: the VM's memory (", result.Failure?.Message, StringComparison.Ordinal);
        Assert.Contains("within maxMemoryBytes (2048 KiB)", result.Failure?.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_table_never_grows_past_10_million_elements()
    {
        using var runtime = new ProxyWasmRuntime();

        // Fixtures/table_grow.wat traps in on_vm_start unless the second grow is refused.
        using var plugin = runtime.LoadPlugin(runtime.Compile(TestModules.Wat("table_grow")),
            new PluginOptions { Name = "table-grow", Shards = 1 }, new TestPluginHost());

        Assert.Equal(1, plugin.HealthyShards);
    }

    [Fact]
    public void A_module_declaring_a_table_over_10_million_elements_fails_to_load()
    {
        using var runtime = new ProxyWasmRuntime();

        var error = Assert.Throws<PluginLoadException>(() => runtime.LoadPlugin(runtime.Compile(TestModules.Wat("big_table")),
            new PluginOptions { Name = "big-table", Shards = 1 }, new TestPluginHost()));

        Assert.Contains("big-table", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_trap_fails_only_the_streams_of_its_own_shard()
    {
        using var runtime = new ProxyWasmRuntime();
        using var plugin = LoadTraps(runtime, new TestPluginHost(), shards: 2);
        var pausedHost = TestStreamHost.WithRequestHeaders(5);
        using var onShardA = plugin.CreateHttpStream(pausedHost);
        using var onShardB = CreateOnAnotherThread(plugin, TestStreamHost.WithRequestHeaders(6), busy: onShardA.Shard!);

        Assert.NotSame(onShardA.Shard, onShardB.Shard);
        Assert.Equal(FilterStatus.Failed, onShardB.OnRequestHeaders(true).Status);

        Assert.Equal(FilterStatus.Continue, onShardA.OnRequestHeaders(true).Status);
        Assert.Null(pausedHost.Failure);
    }

    [Fact]
    public void A_thread_keeps_using_its_own_shard()
    {
        using var runtime = new ProxyWasmRuntime();
        using var plugin = LoadTraps(runtime, new TestPluginHost(), shards: 4);
        PluginShard? first = null;

        for (var i = 0; i < 10; i++)
        {
            using var stream = plugin.CreateHttpStream(TestStreamHost.WithRequestHeaders(5));
            first ??= stream.Shard;
            Assert.Same(first, stream.Shard);
        }
    }

    [Fact]
    public void The_first_threads_to_use_a_plugin_get_shards_of_their_own()
    {
        using var runtime = new ProxyWasmRuntime();
        using var plugin = LoadTraps(runtime, new TestPluginHost(), shards: 2);
        var shards = new PluginShard?[2];
        for (var i = 0; i < shards.Length; i++)
        {
            var n = i;
            var thread = new Thread(() =>
            {
                using var stream = plugin.CreateHttpStream(TestStreamHost.WithRequestHeaders(5));
                shards[n] = stream.Shard;
            });
            thread.Start();
            thread.Join();
        }

        Assert.NotNull(shards[0]);
        Assert.NotSame(shards[0], shards[1]);
    }

    [Fact]
    public void A_thread_whose_shard_is_busy_takes_a_free_one_instead_of_waiting()
    {
        using var runtime = new ProxyWasmRuntime();
        using var plugin = LoadTraps(runtime, new TestPluginHost(), shards: 2);
        PluginShard own;
        using (var probe = plugin.CreateHttpStream(TestStreamHost.WithRequestHeaders(5)))
        {
            own = probe.Shard!;
        }

        using var held = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var holder = new Thread(() =>
        {
            lock (own.Gate)
            {
                held.Set();
                release.Wait(TimeSpan.FromSeconds(10)); // bounded: a create that waits for this shard fails the test, not hangs it
            }
        });
        holder.Start();
        held.Wait();
        try
        {
            using var stream = plugin.CreateHttpStream(TestStreamHost.WithRequestHeaders(5));
            Assert.NotSame(own, stream.Shard);
            Assert.NotNull(stream.Shard);
        }
        finally
        {
            release.Set();
            holder.Join();
        }
    }

    /// <summary>Creates a stream on another thread while <paramref name="busy"/> is held by this one: it lands on another shard.</summary>
    private static HttpStream CreateOnAnotherThread(ProxyWasmPlugin plugin, TestStreamHost host, PluginShard busy)
    {
        HttpStream? stream = null;
        lock (busy.Gate)
        {
            var thread = new Thread(() => stream = plugin.CreateHttpStream(host));
            thread.Start();
            thread.Join();
        }

        return stream!;
    }

    [Fact]
    public void A_trap_in_a_streams_on_context_create_fails_that_stream_on_one_shard_and_tries_no_other()
    {
        // Each shard was tried in turn, and each crashed: one request took the plugin down on every shard, holding its
        // thread for shards x the deadline when the create spun.
        var wasm = Wasmtime.Module.ConvertText("""
            (module
              (memory (export "memory") 1)
              (func (export "malloc") (param i32) (result i32) i32.const 1024)
              (func (export "proxy_abi_version_0_2_0"))
              (func (export "proxy_on_vm_start") (param i32 i32) (result i32) i32.const 1)
              (func (export "proxy_on_configure") (param i32 i32) (result i32) i32.const 1)
              (func (export "proxy_on_context_create") (param $id i32) (param $root i32)
                (if (local.get $root) (then unreachable))))
            """).ToArray();
        using var runtime = new ProxyWasmRuntime();
        using var plugin = runtime.LoadPlugin(runtime.Compile(wasm),
            new PluginOptions { Name = "create_traps", Shards = 4, RebuildBackoff = TimeSpan.FromMinutes(1) }, new TestPluginHost());

        using var stream = plugin.CreateHttpStream(TestStreamHost.WithRequestHeaders(1));
        var result = stream.OnRequestHeaders(true);

        Assert.Equal(FilterStatus.Failed, result.Status);
        Assert.Equal(TrapKind.Unreachable, result.Failure?.Kind);
        Assert.Equal("proxy_on_context_create", result.Failure?.Callback);
        Assert.Equal(1, plugin.CrashCount);
    }

    [Fact]
    public void Streams_paused_on_a_shard_that_crashes_are_told_of_the_failure()
    {
        using var runtime = new ProxyWasmRuntime();
        using var plugin = LoadTraps(runtime, new TestPluginHost(), shards: 1);
        var pausedHost = TestStreamHost.WithRequestHeaders(5);
        using var paused = plugin.CreateHttpStream(pausedHost);
        paused.OnRequestHeaders(false);
        using var crashing = plugin.CreateHttpStream(TestStreamHost.WithRequestHeaders(6));

        var own = crashing.OnRequestHeaders(true).Failure;

        Assert.Equal(TrapKind.Unreachable, pausedHost.Failure?.Kind);
        var next = paused.OnResponseHeaders(true);
        Assert.Equal(FilterStatus.Failed, next.Status);
        // The paused stream's failure says the shard failed elsewhere (its log line named the trap as if its own); the
        // crashing stream's does not.
        Assert.True(pausedHost.Failure!.InAnotherStream);
        Assert.StartsWith("its VM shard failed in another request: Function: proxy_on_request_headers failed (Unreachable)", pausedHost.Failure.ToString(), StringComparison.Ordinal);
        Assert.True(next.Failure!.InAnotherStream);
        Assert.False(own!.InAnotherStream);
        Assert.StartsWith("Function: proxy_on_request_headers failed (Unreachable)", own.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void One_plugin_trapping_on_every_request_does_not_stop_another_plugin_on_the_same_host()
    {
        var runtime = SharedRuntime.Instance;
        using var trapping = LoadTraps(runtime, new TestPluginHost(), shards: 2);
        using var healthy = runtime.LoadPlugin(runtime.Compile(TestModules.Plugin("add_header")),
            new PluginOptions { Name = "add-header", RootId = "add_header", Shards = 2 }, new TestPluginHost());

        for (var i = 0; i < 20; i++)
        {
            using var bad = trapping.CreateHttpStream(TestStreamHost.WithRequestHeaders(6));
            Assert.Equal(FilterStatus.Failed, bad.OnRequestHeaders(true).Status);

            var request = new TestStreamHost();
            using var good = healthy.CreateHttpStream(request);
            Assert.Equal(FilterStatus.Continue, good.OnRequestHeaders(true).Status);
            Assert.Equal(FilterStatus.Continue, good.OnResponseHeaders(true).Status);
            good.Complete();
            Assert.Equal("world!", request.ResponseHeaders.Get("hello"));
        }

        Assert.Equal(20, trapping.CrashCount);
        Assert.Equal(0, healthy.CrashCount);
    }

    [Fact]
    public void The_rebuild_backoff_doubles_per_consecutive_failure_up_to_its_maximum()
    {
        var options = new PluginOptions { Name = "x", RebuildBackoff = TimeSpan.FromSeconds(1), MaxRebuildBackoff = TimeSpan.FromSeconds(5) };

        var delays = Enumerable.Range(1, 5).Select(n => PluginShard.ComputeBackoff(options, n).TotalSeconds);

        Assert.Equal([1, 2, 4, 5, 5], delays);
    }

    [Fact]
    public void Consecutive_crashes_are_counted_until_a_stream_completes_healthily()
    {
        using var runtime = new ProxyWasmRuntime();
        using var plugin = LoadTraps(runtime, new TestPluginHost());
        var shard = plugin.Shards[0];
        for (var i = 0; i < 3; i++)
        {
            using var crashing = plugin.CreateHttpStream(TestStreamHost.WithRequestHeaders(6));
            crashing.OnRequestHeaders(true);
        }

        Assert.Equal(3, shard.ConsecutiveFailures);
        using (var healthy = plugin.CreateHttpStream(TestStreamHost.WithRequestHeaders(5)))
        {
            healthy.OnRequestHeaders(true);
            healthy.Complete();
        }

        Assert.Equal(0, shard.ConsecutiveFailures);
        Assert.Equal(3, plugin.CrashCount);
    }

    [Fact]
    public void A_failed_shard_waits_for_its_backoff_before_it_is_rebuilt()
    {
        using var runtime = new ProxyWasmRuntime();
        using var plugin = runtime.LoadPlugin(runtime.Compile(TestModules.Wat("traps")), new PluginOptions
        {
            Name = "traps",
            Shards = 1,
            RebuildBackoff = TimeSpan.FromHours(1),
        }, new TestPluginHost());
        using (var crashing = plugin.CreateHttpStream(TestStreamHost.WithRequestHeaders(6)))
        {
            crashing.OnRequestHeaders(true);
        }

        using var next = plugin.CreateHttpStream(TestStreamHost.WithRequestHeaders(5));
        var result = next.OnRequestHeaders(true);

        Assert.Equal(FilterStatus.Failed, result.Status);
        Assert.Equal(TrapKind.Unavailable, result.Failure?.Kind);
        Assert.Equal(0, plugin.HealthyShards);
    }
}
