// crdgen: regenerates crds/wasmplugin.yaml from the C# API types (make crds) and validates manifests
// against that CRD the way kube-apiserver would (make run).
using WasmOperator.CrdGen;

return args switch
{
    ["generate", var output] => GenerateCommand.Run(output, Console.Out),
    ["generate"] => GenerateCommand.Run("-", Console.Out),
    ["validate", .. var paths] when paths.Length > 0 => ValidateCommand.Run(paths, Console.Out),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("""
        usage:
          crdgen generate <out.yaml|->       write the WasmPlugin CRD generated from the C# types
          crdgen validate <dir-or-file>...   validate WasmPlugin manifests (*.yaml, *.yml, *.json) against it
        """);
    return 2;
}
