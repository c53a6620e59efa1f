using Microsoft.Extensions.Time.Testing;
using WasmOperator.Operator.Runtime.Queue;
using WasmOperator.Operator.Runtime.RateLimiting;

namespace WasmOperator.Operator.Tests.Runtime.Queue;

public sealed class WorkQueueTests
{
    private static readonly TimeSpan Guard = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task An_item_added_many_times_while_waiting_is_handed_out_once()
    {
        using var queue = NewQueue();
        queue.Add("a");
        queue.Add("a");
        queue.Add("b");
        queue.Add("a");

        Assert.Equal(2, queue.Depth);
        Assert.Equal(2, queue.TotalAdds);
        Assert.Equal("a", await Next(queue));
        Assert.Equal("b", await Next(queue));
        Assert.Equal(0, queue.Depth);
    }

    [Fact]
    public async Task An_item_added_while_processing_is_not_handed_out_until_done_and_then_once()
    {
        using var queue = NewQueue();
        queue.Add("a");
        var first = await Next(queue);
        queue.Add("a");
        queue.Add("a");

        Assert.Equal(0, queue.Depth);
        using (var soon = new CancellationTokenSource(TimeSpan.FromMilliseconds(100)))
        {
            var (ok, _) = await queue.GetAsync(soon.Token);
            Assert.False(ok);
        }

        queue.Done(first);
        Assert.Equal(1, queue.Depth);
        Assert.Equal("a", await Next(queue));
        queue.Done("a");
        Assert.Equal(0, queue.Depth);
    }

    [Fact]
    public void Per_item_backoff_doubles_from_5ms_and_is_capped()
    {
        var limiter = new ExponentialFailureRateLimiter<string>(TimeSpan.FromMilliseconds(5), TimeSpan.FromSeconds(1000));
        var delays = Enumerable.Range(0, 5).Select(_ => limiter.When("a").TotalMilliseconds).ToList();
        for (var i = 0; i < 40; i++)
        {
            limiter.When("a");
        }

        Assert.Equal([5, 10, 20, 40, 80], delays);
        Assert.Equal(TimeSpan.FromSeconds(1000), limiter.When("a"));
        Assert.Equal(TimeSpan.FromMilliseconds(5), limiter.When("b"));
        limiter.Forget("a");
        Assert.Equal(0, limiter.NumRequeues("a"));
        Assert.Equal(TimeSpan.FromMilliseconds(5), limiter.When("a"));
    }

    [Fact]
    public void The_token_bucket_allows_a_burst_then_spaces_retries_at_the_rate()
    {
        var time = new FakeTimeProvider();
        var bucket = new TokenBucketRateLimiter<string>(10, 100, time);
        var burst = Enumerable.Range(0, 100).Select(i => bucket.When($"k{i}")).ToList();

        Assert.All(burst, d => Assert.Equal(TimeSpan.Zero, d));
        Assert.Equal(TimeSpan.FromMilliseconds(100), bucket.When("x"));
        Assert.Equal(TimeSpan.FromMilliseconds(200), bucket.When("y"));
        time.Advance(TimeSpan.FromMilliseconds(200));
        Assert.Equal(TimeSpan.FromMilliseconds(100), bucket.When("z"));
        time.Advance(TimeSpan.FromSeconds(20));
        Assert.Equal(TimeSpan.Zero, bucket.When("refilled"));
    }

    [Fact]
    public async Task A_rate_limited_item_comes_back_after_its_backoff_and_counts_a_retry()
    {
        var time = new FakeTimeProvider();
        using var queue = NewQueue(time);
        queue.AddRateLimited("a");
        queue.AddRateLimited("a");

        Assert.Equal(0, queue.Depth);
        Assert.Equal(2, queue.TotalRetries);
        Assert.Equal(2, queue.NumRequeues("a"));
        time.Advance(TimeSpan.FromMilliseconds(4));
        Assert.Equal(0, queue.Depth);
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(1, queue.Depth);
        Assert.Equal("a", await Next(queue));
        queue.Forget("a");
        Assert.Equal(0, queue.NumRequeues("a"));
    }

    [Fact]
    public void A_cap_on_an_items_backoff_shortens_its_own_backoff_but_not_the_wait_for_the_overall_rate()
    {
        var time = new FakeTimeProvider();
        using var queue = new WorkQueue<string>(
            new MaxOfRateLimiter<string>(
                new ExponentialFailureRateLimiter<string>(TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(30)),
                new TokenBucketRateLimiter<string>(1, 1, time)),
            time);
        var cap = TimeSpan.FromSeconds(2);

        // Each backoff of a minute is capped at two seconds; one token a second: the fourth and fifth retries wait three and
        // four seconds for the bucket.
        foreach (var item in new[] { "a", "b", "c", "d", "e" })
        {
            queue.AddRateLimited(item, cap);
        }

        time.Advance(cap);
        Assert.Equal(3, queue.Depth);
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(5, queue.Depth);
    }

    [Fact]
    public void AddAfter_keeps_the_earliest_time_for_an_item()
    {
        var time = new FakeTimeProvider();
        using var queue = NewQueue(time);
        queue.AddAfter("a", TimeSpan.FromSeconds(10));
        queue.AddAfter("a", TimeSpan.FromSeconds(1));
        queue.AddAfter("a", TimeSpan.FromSeconds(5));

        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(1, queue.Depth);
        time.Advance(TimeSpan.FromSeconds(20));
        Assert.Equal(1, queue.Depth);
        Assert.Equal(1, queue.TotalAdds);
    }

    [Fact]
    public async Task Shutdown_releases_waiting_workers_and_refuses_new_items()
    {
        using var queue = NewQueue();
        var waiting = queue.GetAsync(CancellationToken.None);
        queue.ShutDown();
        queue.Add("late");

        var (ok, _) = await waiting.WaitAsync(Guard);
        Assert.False(ok);
        Assert.Equal(0, queue.Depth);
    }

    [Fact]
    public async Task Many_workers_never_hold_the_same_key_at_once()
    {
        using var queue = NewQueue();
        var active = new System.Collections.Concurrent.ConcurrentDictionary<string, int>();
        var overlaps = 0;
        var processed = 0;
        using var stop = new CancellationTokenSource(Guard);
        var workers = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            while (true)
            {
                var (ok, key) = await queue.GetAsync(stop.Token);
                if (!ok)
                {
                    return;
                }

                if (active.AddOrUpdate(key, 1, (_, n) => n + 1) > 1)
                {
                    Interlocked.Increment(ref overlaps);
                }

                await Task.Yield();
                active.AddOrUpdate(key, 0, (_, n) => n - 1);
                Interlocked.Increment(ref processed);
                queue.Done(key);
            }
        })).ToList();

        for (var i = 0; i < 2000; i++)
        {
            queue.Add($"k{i % 5}");
            if (i % 50 == 0)
            {
                await Task.Yield();
            }
        }

        while (queue.Depth > 0 && !stop.IsCancellationRequested)
        {
            await Task.Delay(10);
        }

        await Task.Delay(50);
        queue.ShutDown();
        await Task.WhenAll(workers);
        Assert.Equal(0, overlaps);
        Assert.InRange(processed, 5, 2000);
        Assert.Equal(queue.TotalAdds, processed);
    }

    private static WorkQueue<string> NewQueue(TimeProvider? time = null) =>
        new(new ExponentialFailureRateLimiter<string>(TimeSpan.FromMilliseconds(5), TimeSpan.FromSeconds(1000)), time);

    private static async Task<string> Next(WorkQueue<string> queue)
    {
        using var guard = new CancellationTokenSource(Guard);
        var (ok, item) = await queue.GetAsync(guard.Token);
        Assert.True(ok);
        return item;
    }
}
