using WasmOperator.Api.Schema;
using WasmOperator.Api.WasmPlugins;

namespace WasmOperator.CrdGen;

/// <summary><c>generate</c>: writes the CRD YAML to a file or stdout.</summary>
internal static class GenerateCommand
{
    public static int Run(string output, TextWriter stdout)
    {
        var yaml = CrdGenerator.GenerateYaml(typeof(WasmPlugin));
        if (output == "-")
        {
            stdout.Write(yaml);
            return 0;
        }

        File.WriteAllText(output, yaml);
        stdout.WriteLine($"wrote {output}");
        return 0;
    }
}
