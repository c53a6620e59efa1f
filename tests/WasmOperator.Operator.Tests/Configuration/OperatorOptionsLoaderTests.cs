using System.Collections;
using WasmOperator.Operator.Configuration;

namespace WasmOperator.Operator.Tests.Configuration;

public sealed class OperatorOptionsLoaderTests
{
    [Fact]
    public void Flags_override_the_environment_which_overrides_the_file()
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, """{"rootNamespace":"from-file","workers":3,"insecureRegistries":["a:5000","b"],"leaseDuration":"20s"}""");
            var env = new Hashtable { ["WASMOP_CONFIG"] = file, ["WASMOP_WORKERS"] = "5", ["WASMOP_ROOT_NAMESPACE"] = "from-env", ["PATH"] = "/bin" };

            var options = OperatorOptionsLoader.Load(["--root-namespace=from-flag", "--renew-deadline", "12s"], env);

            Assert.Equal("from-flag", options.RootNamespace);
            Assert.Equal(5, options.Workers);
            Assert.Equal(["a:5000", "b"], options.InsecureRegistries);
            Assert.Equal(TimeSpan.FromSeconds(20), options.LeaseDuration);
            Assert.Equal(TimeSpan.FromSeconds(12), options.RenewDeadline);
            Assert.Equal("from-flag", options.EffectiveLeaseNamespace);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Every_invalid_setting_is_reported_at_once_with_what_to_fix()
    {
        var env = new Hashtable { ["WASMOP_BLOCKED_CIDRS"] = "10.0.0.0/8,not-a-cidr" };

        var ex = Assert.Throws<OptionsException>(() => OperatorOptionsLoader.Load(
            ["--root-namespace=Bad_NS", "--workers=0", "--lease-duration=5s", "--renew-deadline=10s", "--cache-directory=relative/dir", "--workerz=1", "--retry-period=abc"], env));

        Assert.Contains(ex.Problems, p => p.StartsWith("workerz: unknown setting", StringComparison.Ordinal));
        Assert.Contains(ex.Problems, p => p.StartsWith("retry-period: \"abc\"", StringComparison.Ordinal));
        Assert.Contains(ex.Problems, p => p.Contains("root-namespace: \"Bad_NS\"", StringComparison.Ordinal));
        Assert.Contains(ex.Problems, p => p.Contains("\"not-a-cidr\"", StringComparison.Ordinal));
        Assert.Contains(ex.Problems, p => p.StartsWith("workers: 0", StringComparison.Ordinal));
        Assert.Contains(ex.Problems, p => p.StartsWith("lease-duration", StringComparison.Ordinal));
        Assert.Contains(ex.Problems, p => p.StartsWith("cache-directory", StringComparison.Ordinal));
        Assert.Contains("invalid configuration", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_cache_gc_interval_defaults_to_ten_minutes_is_set_by_flag_and_must_be_positive()
    {
        var env = new Hashtable();

        Assert.Equal(TimeSpan.FromMinutes(10), OperatorOptionsLoader.Load([], env).CacheGcInterval);
        Assert.Equal(TimeSpan.FromSeconds(30), OperatorOptionsLoader.Load(["--cache-gc-interval=30s"], env).CacheGcInterval);
        var ex = Assert.Throws<OptionsException>(() => OperatorOptionsLoader.Load(["--cache-gc-interval=0s"], env));
        Assert.Contains(ex.Problems, p => p.Contains("cache-gc-interval", StringComparison.Ordinal));
    }

    [Fact]
    public void Durations_read_like_kubernetes_flags()
    {
        Assert.Equal(TimeSpan.FromMilliseconds(500), OperatorOptionsLoader.Duration("500ms"));
        Assert.Equal(TimeSpan.FromMinutes(5), OperatorOptionsLoader.Duration("5m"));
        Assert.Equal(TimeSpan.FromHours(1), OperatorOptionsLoader.Duration("1h"));
        Assert.Equal(TimeSpan.FromSeconds(15), OperatorOptionsLoader.Duration("00:00:15"));
    }

    [Fact]
    public void Durations_read_go_syntax()
    {
        var options = OperatorOptionsLoader.Load(["--always-pull-interval=1h30m", "--watch-timeout=2m30.5s", "--queue-base-delay=1500us"], new Hashtable());

        Assert.Equal(TimeSpan.FromMinutes(90), options.AlwaysPullInterval);
        Assert.Equal(TimeSpan.FromSeconds(150.5), options.WatchTimeout);
        Assert.Equal(TimeSpan.FromMilliseconds(1.5), options.QueueBaseDelay);
    }

    [Theory]
    [InlineData("--retry-period=NaNs")]
    [InlineData("--retry-period=Infinityms")]
    [InlineData("--retry-period=-Infinityh")]
    [InlineData("--queue-qps=NaN")]
    [InlineData("--queue-qps=Infinity")]
    [InlineData("--retry-period=100000000000000000000h")]
    [InlineData("--retry-period=9223372036854775807h")]
    [InlineData("--retry-period=99999999999999999999999999h")]
    public void A_number_that_is_not_finite_or_too_large_is_a_clear_error(string flag)
    {
        var ex = Assert.Throws<OptionsException>(() => OperatorOptionsLoader.Load([flag], new Hashtable()));

        var name = flag[2..flag.IndexOf('=', StringComparison.Ordinal)];
        Assert.StartsWith($"{name}: \"{flag[(name.Length + 3)..]}\" is not valid; expected a", Assert.Single(ex.Problems), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--always-pull-interval=1ms", "always-pull-interval (0.001s) must be at least 0.1s")]
    [InlineData("--cache-gc-interval=1us", "cache-gc-interval (0.000001s) must be at least 0.1s")]
    [InlineData("--queue-base-delay=-5s", "queue-base-delay (-5s) must be positive")]
    [InlineData("--lease-duration=5s", "lease-duration (5s) must be greater than renew-deadline (10s)")]
    public void A_setting_out_of_range_is_named_alone_with_its_value_as_it_was_written(string flag, string problem)
    {
        var ex = Assert.Throws<OptionsException>(() => OperatorOptionsLoader.Load([flag], new Hashtable()));

        Assert.Contains(problem, ex.Problems);
    }

    [Fact]
    public void Variables_kubernetes_service_links_set_for_a_service_named_wasmop_do_not_stop_the_operator()
    {
        var env = new Hashtable
        {
            ["WASMOP_SERVICE_HOST"] = "10.96.0.12", ["WASMOP_SERVICE_PORT"] = "8080", ["WASMOP_PORT"] = "tcp://10.96.0.12:8080",
            ["WASMOP_PORT_8080_TCP"] = "tcp://10.96.0.12:8080", ["WASMOP_PORT_8080_TCP_PROTO"] = "tcp", ["WASMOP_WORKERS"] = "3",
        };

        var options = OperatorOptionsLoader.Load([], env);

        Assert.Equal(3, options.Workers);
    }

    [Fact]
    public void An_unknown_WASMOP_variable_is_one_warning_naming_it_while_an_unknown_flag_stays_an_error()
    {
        var env = new Hashtable { ["WASMOP_SERVICE_HOST"] = "10.96.0.12", ["WASMOP_PORT"] = "tcp://10.96.0.12:8080" };
        var warnings = new List<string>();

        OperatorOptionsLoader.Load([], env, warnings);
        var ex = Assert.Throws<OptionsException>(() => OperatorOptionsLoader.Load(["--service-host=x"], env));

        var warning = Assert.Single(warnings);
        Assert.Contains("WASMOP_PORT, WASMOP_SERVICE_HOST", warning, StringComparison.Ordinal);
        Assert.StartsWith("service-host: unknown setting", Assert.Single(ex.Problems), StringComparison.Ordinal);
    }

    [Fact]
    public void A_bad_value_from_the_environment_is_reported_with_the_variable_that_set_it()
    {
        var env = new Hashtable { ["WASMOP_WORKERS"] = "abc", ["WASMOP_CACHE_MAX_BYTES"] = "12" };

        var ex = Assert.Throws<OptionsException>(() => OperatorOptionsLoader.Load([], env));

        Assert.Contains(ex.Problems, p => p.StartsWith("WASMOP_WORKERS=abc: ", StringComparison.Ordinal));
        Assert.Contains(ex.Problems, p => p.StartsWith("cache-max-bytes: 12", StringComparison.Ordinal) && p.Contains("WASMOP_CACHE_MAX_BYTES=12", StringComparison.Ordinal));
    }
}
