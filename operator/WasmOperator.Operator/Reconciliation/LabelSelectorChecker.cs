using System.Text.RegularExpressions;
using WasmOperator.Api.WasmPlugins;

namespace WasmOperator.Operator.Reconciliation;

/// <summary>
/// Label keys and values a selector may name, as Kubernetes validates them (apimachinery's IsQualifiedName and
/// IsValidLabelValue; Istio's webhook applies the same to a WasmPlugin's selector). The CRD's schema cannot say it
/// cheaply for a map of up to 4096 entries, so a key such as "bad key!" was accepted and its selector matched nothing
/// without a word.
/// </summary>
internal static partial class LabelSelectorChecker
{
    private const string NameRule = "at most 63 characters: letters, digits, '-', '_' and '.', starting and ending with a letter or digit";

    /// <summary>Why <paramref name="selector"/> (at <paramref name="path"/>) cannot select pods, or null.</summary>
    public static string? Problem(LabelSelector? selector, string path)
    {
        foreach (var (key, value) in selector?.MatchLabels ?? [])
        {
            if (KeyProblem(key) is { } keyProblem)
            {
                return $"{path}.matchLabels: Invalid value: \"{key}\": {keyProblem}";
            }

            if (!IsValue(value))
            {
                return $"{path}.matchLabels[{key}]: Invalid value: \"{value}\": a label value is empty or {NameRule}";
            }
        }

        var index = 0;
        foreach (var requirement in selector?.MatchExpressions ?? [])
        {
            if (requirement.Key is { } key && KeyProblem(key) is { } keyProblem)
            {
                return $"{path}.matchExpressions[{index}].key: Invalid value: \"{key}\": {keyProblem}";
            }

            foreach (var value in requirement.Values ?? [])
            {
                if (!IsValue(value))
                {
                    return $"{path}.matchExpressions[{index}].values: Invalid value: \"{value}\": a label value is empty or {NameRule}";
                }
            }

            index++;
        }

        return null;
    }

    private static string? KeyProblem(string key)
    {
        var slash = key.LastIndexOf('/');
        var (prefix, name) = slash < 0 ? (null, key) : (key[..slash], key[(slash + 1)..]);
        if (prefix is not null && (prefix.Length is 0 or > 253 || !Subdomain().IsMatch(prefix)))
        {
            return "a label key's prefix (before '/') is a DNS subdomain: at most 253 characters, lower-case letters, digits, '-' and '.'";
        }

        return name.Length is > 0 and <= 63 && Name().IsMatch(name) ? null : $"a label key's name (after any 'prefix/') is {NameRule}";
    }

    private static bool IsValue(string value) => value.Length == 0 || (value.Length <= 63 && Name().IsMatch(value));

    [GeneratedRegex("^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$", RegexOptions.CultureInvariant)]
    private static partial Regex Name();

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$", RegexOptions.CultureInvariant)]
    private static partial Regex Subdomain();
}
