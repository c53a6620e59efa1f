using System.Text.Json.Nodes;
using WasmOperator.Api.Schema;
using WasmOperator.Api.Serialization;
using WasmOperator.Api.WasmPlugins;
using WasmOperator.Validation;

namespace WasmOperator.Api.Tests.Fixtures;

/// <summary>The CRD generated from the types, and a validator built from it, shared by the tests.</summary>
internal static class WasmPluginCrd
{
    public static JsonObject Crd { get; } = CrdGenerator.Generate(typeof(WasmPlugin));

    public static CrdSchemaValidator Validator { get; } = CrdSchemaValidator.FromCrd(Crd, WasmPlugin.Version);

    public static JsonObject Schema => (JsonObject)Crd["spec"]!["versions"]![0]!["schema"]!["openAPIV3Schema"]!;

    /// <summary>A WasmPlugin document with the given spec (YAML, indented as under <c>spec:</c>).</summary>
    public static JsonObject Manifest(string specYaml) =>
        (JsonObject)YamlJson.Parse($"""
            apiVersion: extensions.wasmoperator.io/v1alpha1
            kind: WasmPlugin
            metadata:
              name: test
              namespace: default
            spec:
            {Indent(specYaml)}
            """);

    public static ValidationResult Validate(string specYaml) => Validator.Validate(Manifest(specYaml));

    private static string Indent(string yaml) =>
        string.Join('\n', yaml.Trim('\n').Split('\n').Select(line => "  " + line));
}
