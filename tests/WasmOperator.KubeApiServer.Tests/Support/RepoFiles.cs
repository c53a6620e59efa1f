namespace WasmOperator.KubeApiServer.Tests.Support;

/// <summary>Files checked into the repository (the CRD and example manifests), found from the test's output folder.</summary>
internal static class RepoFiles
{
    public static string Path(string relative)
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(System.IO.Path.Combine(directory.FullName, "WasmOperator.sln")))
        {
            directory = directory.Parent;
        }

        return System.IO.Path.Combine(directory?.FullName ?? throw new DirectoryNotFoundException("WasmOperator.sln not found above " + AppContext.BaseDirectory), relative);
    }
}
