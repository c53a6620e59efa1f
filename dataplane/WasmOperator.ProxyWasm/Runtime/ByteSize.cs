using System.Globalization;

namespace WasmOperator.ProxyWasm.Runtime;

/// <summary>A size in bytes as a person reads it in a message: whole MiB or KiB where it is one, else bytes.</summary>
internal static class ByteSize
{
    public static string Format(long bytes) => bytes switch
    {
        > 0 when bytes % (1024 * 1024) == 0 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (1024 * 1024)} MiB"),
        > 0 when bytes % 1024 == 0 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024} KiB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes} bytes"),
    };
}
