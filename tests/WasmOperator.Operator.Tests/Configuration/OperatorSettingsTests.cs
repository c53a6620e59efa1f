using System.Collections;
using WasmOperator.Operator.Configuration;

namespace WasmOperator.Operator.Tests.Configuration;

public sealed class OperatorSettingsTests
{
    private const string Begin = "<!-- settings:begin";
    private const string End = "<!-- settings:end -->";

    [Fact]
    public void Every_setting_the_loader_binds_is_in_the_help_with_its_flag_variable_default_and_description()
    {
        var help = OperatorSettings.Help();

        Assert.Equal(26, OperatorSettings.All.Count);
        foreach (var setting in OperatorSettings.All)
        {
            Assert.Contains($"  {setting.Flag}  {setting.Variable}  (default: {setting.Default})", help, StringComparison.Ordinal);
            Assert.Contains(setting.Description, help, StringComparison.Ordinal);

            // The table is what the loader binds from: a name it lists is accepted by flag and by variable.
            var value = ValidValue(setting.Name);
            OperatorOptionsLoader.Load([$"{setting.Flag}={value}"], new Hashtable());
            OperatorOptionsLoader.Load([], new Hashtable { [setting.Variable] = value });
        }

        Assert.Contains("--config  WASMOP_CONFIG", help, StringComparison.Ordinal);
        Assert.Contains("-h, --help", help, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_option_property_has_a_setting()
    {
        var names = OperatorSettings.All.Select(s => s.Name.Replace("-", "", StringComparison.Ordinal)).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var properties = typeof(OperatorOptions).GetProperties().Where(p => p.CanWrite).Select(p => p.Name).ToList();

        Assert.All(properties, p => Assert.Contains(p, names));
    }

    [Fact]
    public void The_readme_lists_the_settings_as_the_table_says()
    {
        var readme = File.ReadAllText(Readme());
        var begin = readme.IndexOf('\n', readme.IndexOf(Begin, StringComparison.Ordinal)) + 1;
        var end = readme.IndexOf(End, StringComparison.Ordinal);

        var expected = OperatorSettings.Markdown().ReplaceLineEndings("\n");
        Assert.True(readme[begin..end] == expected, $"operator/WasmOperator.Operator/README.md: replace the lines between the settings markers with:\n{expected}");
    }

    private static string ValidValue(string name) => name switch
    {
        "cache-max-bytes" or "max-module-bytes" => "2000000",
        "workers" or "queue-burst" or "queue-qps" => "2",
        "leader-election" => "false",
        "blocked-cidrs" => "10.0.0.0/8",
        "insecure-registries" => "registry:5000",
        "allowed-file-roots" or "cache-directory" => "/tmp",
        "lease-duration" => "20s",
        "renew-deadline" => "12s",
        "retry-period" => "3s",
        "queue-max-delay" or "queue-base-delay" => "1s",
        "listen-address" => "http://127.0.0.1:9090",
        _ when name.Contains("interval", StringComparison.Ordinal) || name.StartsWith("watch-", StringComparison.Ordinal) && name != "watch-namespaces" => "2m",
        _ => "team-a",
    };

    private static string Readme()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "WasmOperator.sln")))
        {
            directory = directory.Parent;
        }

        return Path.Combine(directory?.FullName ?? throw new DirectoryNotFoundException("WasmOperator.sln not found above " + AppContext.BaseDirectory),
            "operator", "WasmOperator.Operator", "README.md");
    }
}
