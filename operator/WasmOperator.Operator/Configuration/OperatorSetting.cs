namespace WasmOperator.Operator.Configuration;

/// <summary>
/// One setting of the operator: its kebab-case name, how a raw value is applied to <see cref="OperatorOptions"/>,
/// and what <c>--help</c> and the README say about it.
/// </summary>
internal sealed record OperatorSetting(string Name, string Default, string Description, Func<OperatorOptions, string, OperatorOptions> Apply)
{
    public string Flag => "--" + Name;

    public string Variable => OperatorSettings.EnvPrefix + Name.Replace('-', '_').ToUpperInvariant();
}
