using System.Text.Json.Nodes;
using WasmOperator.Api.Schema;
using WasmOperator.Api.Serialization;
using WasmOperator.Api.WasmPlugins;
using WasmOperator.Validation;
using YamlDotNet.Core;

namespace WasmOperator.CrdGen;

/// <summary>
/// <c>validate</c>: applies the WasmPlugin CRD, generated in memory from the C# types (the same as crds/wasmplugin.yaml,
/// which a test enforces), to every WasmPlugin in the given files and prints each violation, including each field
/// the schema does not declare (which kubectl apply's default fieldValidation=Strict refuses).
/// </summary>
internal static class ValidateCommand
{
    private static readonly string[] Extensions = [".yaml", ".yml", ".json"];

    public static int Run(IReadOnlyList<string> paths, TextWriter output)
    {
        var validator = CrdSchemaValidator.FromCrd(CrdGenerator.Generate(typeof(WasmPlugin)), WasmPlugin.Version);
        var files = new List<string>();
        foreach (var path in paths)
        {
            if (Directory.Exists(path))
            {
                files.AddRange(Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories)
                    .Where(f => Extensions.Contains(Path.GetExtension(f), StringComparer.OrdinalIgnoreCase))
                    .Order(StringComparer.Ordinal));
            }
            else if (File.Exists(path))
            {
                files.Add(path);
            }
            else
            {
                output.WriteLine($"{path}: no such file or directory");
                return 1;
            }
        }

        int checkedCount = 0, invalid = 0;
        foreach (var file in files)
        {
            IReadOnlyList<JsonNode> documents;
            try
            {
                documents = YamlJson.ParseDocuments(File.ReadAllText(file));
            }
            catch (YamlException e)
            {
                output.WriteLine($"✗ {file}: not valid YAML: {e.Message}");
                invalid++;
                continue;
            }

            foreach (var document in documents)
            {
                checkedCount++;
                var errors = Check(document, validator, out var name);
                if (errors.Count == 0)
                {
                    output.WriteLine($"✓ {file}: {name} is valid");
                    continue;
                }

                invalid++;
                output.WriteLine($"✗ {file}: {name} is invalid ({errors.Count} {(errors.Count == 1 ? "error" : "errors")}):");
                foreach (var error in errors)
                {
                    output.WriteLine($"    {error}");
                }
            }
        }

        output.WriteLine();
        var counted = checkedCount == 1 ? "1 manifest" : $"{checkedCount} manifests";
        output.WriteLine(invalid == 0
            ? $"{counted} checked against the WasmPlugin CRD: all valid"
            : $"{counted} checked against the WasmPlugin CRD: {invalid} invalid");
        return invalid == 0 ? 0 : 1;
    }

    private static List<string> Check(JsonNode document, CrdSchemaValidator validator, out string name)
    {
        name = "document";
        if (document is not JsonObject obj)
        {
            return ["the document is not an object"];
        }

        var kind = (string?)obj["kind"];
        var ns = (string?)obj["metadata"]?["namespace"] ?? "default";
        name = $"{kind ?? "object"} {ns}/{(string?)obj["metadata"]?["name"] ?? "<no name>"}";
        if (kind != WasmPlugin.KindName || (string?)obj["apiVersion"] != WasmPlugin.GroupVersion)
        {
            return [$"apiVersion/kind must be {WasmPlugin.GroupVersion}/{WasmPlugin.KindName}, found {(string?)obj["apiVersion"]}/{kind}"];
        }

        // kubectl asks for fieldValidation=Strict by default, so kube-apiserver refuses a field the schema does not
        // declare (a misspelt spec.pluginconfig) instead of pruning it: report it as it would, before the schema errors.
        var result = validator.Validate(obj);
        return [.. result.PrunedFields.Select(UnknownFields.Describe), .. result.Errors.Select(e => e.ToString())];
    }
}
