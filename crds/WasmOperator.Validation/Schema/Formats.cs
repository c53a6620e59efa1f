using System.Globalization;

namespace WasmOperator.Validation.Schema;

/// <summary>The string formats kube-apiserver checks in CRD schemas; unknown formats are accepted, as kube does.</summary>
internal static class Formats
{
    public static bool IsValid(string format, string value) => format switch
    {
        "date-time" => DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out _)
                       && value.Contains('T', StringComparison.OrdinalIgnoreCase),
        "date" => DateOnly.TryParseExact(value, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out _),
        "duration" => Cel.GoDuration.TryParse(value, out _),
        "byte" => IsBase64(value),
        "uuid" => Guid.TryParse(value, out _),
        _ => true,
    };

    private static bool IsBase64(string value)
    {
        var buffer = new byte[value.Length];
        return Convert.TryFromBase64String(value, buffer, out _);
    }
}
