using System.Globalization;

namespace WasmOperator.Validation.Schema;

/// <summary>Builds field paths the way kube's <c>field.Path</c> prints them.</summary>
internal static class FieldPath
{
    public static string Child(string path, string name) => path.Length == 0 ? name : $"{path}.{name}";

    public static string Index(string path, int index) => string.Create(CultureInfo.InvariantCulture, $"{path}[{index}]");

    public static string Key(string path, string key) => $"{path}[{key}]";

    /// <summary>Appends a CEL rule's relative <c>fieldPath</c> such as <c>.url</c> or <c>.env[0]</c> or <c>['x']</c>.</summary>
    public static string Append(string path, string relative)
    {
        if (relative.Length == 0)
        {
            return path;
        }

        if (relative[0] == '.')
        {
            return path.Length == 0 ? relative[1..] : path + relative;
        }

        return path + relative;
    }
}
