namespace WasmOperator.Api.Tests.Fixtures;

/// <summary>Finds files of the repository the tests were built from.</summary>
internal static class Repo
{
    public static string Root { get; } = FindRoot();

    public static string PathOf(string relative) => Path.Combine(Root, relative);

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "WasmOperator.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"no WasmOperator.sln above {AppContext.BaseDirectory}");
    }
}
