namespace WasmOperator.KubeApiServer.Api;

/// <summary>
/// What a create, update, patch or apply asked for besides its body (field manager, dry run, fieldValidation),
/// and the warnings the write earned, which the handler sends back as <c>Warning</c> headers.
/// </summary>
internal sealed class WriteContext(string manager, bool dryRun, FieldValidation fieldValidation)
{
    private readonly List<string> _warnings = [];

    public string Manager => manager;

    public bool DryRun => dryRun;

    public FieldValidation FieldValidation => fieldValidation;

    public IReadOnlyList<string> Warnings => _warnings;

    public void Warn(string text) => _warnings.Add(text);
}
