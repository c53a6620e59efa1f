using System.Text.RegularExpressions;
using WasmOperator.KubeApiServer.Resources;

namespace WasmOperator.KubeApiServer.Api;

/// <summary>
/// kube-apiserver's checks of metadata.name: a namespace is an RFC 1123 label, everything else served here an RFC 1123
/// subdomain (custom resources included), with apimachinery's wording.
/// </summary>
internal static partial class ObjectNames
{
    public static string? Problem(ResourceType type, string name) =>
        type.Key == "/namespaces" ? LabelProblem(name) : SubdomainProblem(name);

    private static string? SubdomainProblem(string name) =>
        name.Length > 253 ? "must be no more than 253 characters"
        : Subdomain().IsMatch(name) ? null
        : "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character " +
          "(e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

    private static string? LabelProblem(string name) =>
        name.Length > 63 ? "must be no more than 63 characters"
        : Label().IsMatch(name) ? null
        : "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character " +
          "(e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")]
    private static partial Regex Subdomain();

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
    private static partial Regex Label();
}
