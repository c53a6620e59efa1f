namespace WasmOperator.Modules.Tests;

public sealed class ModuleFetcherOptionsTests
{
    [Fact]
    public void Invalid_options_are_refused_at_start_listing_every_problem()
    {
        var options = new ModuleFetcherOptions
        {
            CacheDirectory = "",
            MaxModuleBytes = 0,
            BlockedNetworks = ["not-a-cidr"],
            AllowedFileRoots = ["relative/dir"],
            MaxRetries = -1,
            PullVerificationLifetime = TimeSpan.Zero,
        };

        var error = Assert.Throws<ArgumentException>(() => new ModuleFetcher(options));

        Assert.Contains("CacheDirectory", error.Message, StringComparison.Ordinal);
        Assert.Contains("MaxModuleBytes", error.Message, StringComparison.Ordinal);
        Assert.Contains("not-a-cidr", error.Message, StringComparison.Ordinal);
        Assert.Contains("relative/dir", error.Message, StringComparison.Ordinal);
        Assert.Contains("MaxRetries", error.Message, StringComparison.Ordinal);
        Assert.Contains("PullVerificationLifetime", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_default_maximum_module_size_is_256_MiB()
    {
        Assert.Equal(256L * 1024 * 1024, new ModuleFetcherOptions { CacheDirectory = "/tmp/x" }.MaxModuleBytes);
    }
}
