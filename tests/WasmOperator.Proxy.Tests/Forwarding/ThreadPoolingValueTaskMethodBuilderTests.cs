using System.Runtime.CompilerServices;
using WasmOperator.Proxy.Forwarding;

namespace WasmOperator.Proxy.Tests.Forwarding;

/// <summary>Methods built with the per-thread pooling builder end as the runtime's builders end them, box after box.</summary>
public sealed class ThreadPoolingValueTaskMethodBuilderTests
{
    private static readonly AsyncLocal<string> Flowing = new();

    [AsyncMethodBuilder(typeof(ThreadPoolingValueTaskMethodBuilder<>))]
    private static async ValueTask<int> AddAfterYieldAsync(int a, int b, bool suspend)
    {
        if (suspend)
        {
            await Task.Yield();
        }

        return a + b;
    }

    [AsyncMethodBuilder(typeof(ThreadPoolingValueTaskMethodBuilder))]
    private static async ValueTask ThrowAsync(Exception exception, bool suspend)
    {
        if (suspend)
        {
            await Task.Yield();
        }

        throw exception;
    }

    [AsyncMethodBuilder(typeof(ThreadPoolingValueTaskMethodBuilder<>))]
    private static async ValueTask<string> ReadFlowingAfterYieldAsync()
    {
        await Task.Delay(1);
        return Flowing.Value ?? "";
    }

    [Fact]
    public async Task Results_come_back_whether_or_not_the_method_suspended_one_call_after_another_and_many_at_once()
    {
        for (var i = 0; i < 3 * ThreadPoolingBox.Capacity; i++)
        {
            Assert.Equal(2 * i, await AddAfterYieldAsync(i, i, suspend: i % 2 == 0));
        }

        // Many in flight at once: each holds its own box until awaited.
        var pending = Enumerable.Range(0, 2 * ThreadPoolingBox.Capacity).Select(i => AddAfterYieldAsync(i, 1, suspend: true).AsTask()).ToArray();
        Assert.Equal(Enumerable.Range(1, 2 * ThreadPoolingBox.Capacity), await Task.WhenAll(pending));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_failure_faults_the_task_and_a_cancellation_cancels_it_before_or_after_a_suspension(bool suspend)
    {
        var failed = ThrowAsync(new InvalidOperationException("broken"), suspend).AsTask();
        var cancelled = ThrowAsync(new OperationCanceledException(), suspend).AsTask();

        Assert.Equal("broken", (await Assert.ThrowsAsync<InvalidOperationException>(() => failed)).Message);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
        Assert.True(failed.IsFaulted);
        Assert.True(cancelled.IsCanceled);
    }

    [Fact]
    public async Task The_execution_context_flows_across_a_suspension()
    {
        Flowing.Value = "request-1";

        Assert.Equal("request-1", await ReadFlowingAfterYieldAsync());
    }
}
