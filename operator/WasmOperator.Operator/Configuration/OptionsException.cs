namespace WasmOperator.Operator.Configuration;

/// <summary>The operator's configuration is invalid; <see cref="Exception.Message"/> lists every problem.</summary>
internal sealed class OptionsException(IReadOnlyList<string> problems)
    : Exception("invalid configuration:" + Environment.NewLine + "  - " + string.Join(Environment.NewLine + "  - ", problems))
{
    public IReadOnlyList<string> Problems { get; } = problems;
}
