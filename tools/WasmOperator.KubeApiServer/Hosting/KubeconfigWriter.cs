namespace WasmOperator.KubeApiServer.Hosting;

/// <summary>Writes a kubeconfig for kubectl and client libraries: plain HTTP on loopback and a dummy token.</summary>
internal static class KubeconfigWriter
{
    public const string ContextName = "wasmoperator-local";

    public static void Write(string path, Uri server)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null)
        {
            Directory.CreateDirectory(directory);
        }

        var text = $"""
            apiVersion: v1
            kind: Config
            clusters:
            - name: {ContextName}
              cluster:
                server: {server.GetLeftPart(UriPartial.Authority)}
            users:
            - name: {ContextName}
              user:
                token: local-dev-token
            contexts:
            - name: {ContextName}
              context:
                cluster: {ContextName}
                user: {ContextName}
                namespace: default
            current-context: {ContextName}
            """;
        File.WriteAllText(path, text + "\n");
    }
}
