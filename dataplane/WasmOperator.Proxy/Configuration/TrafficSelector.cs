namespace WasmOperator.Proxy.Configuration;

/// <summary>One <c>match[]</c> entry: a traffic mode and destination ports (the workload's or target service's; empty = any port).</summary>
internal sealed record TrafficSelector(string Mode, IReadOnlyList<int> Ports)
{
    public bool MatchesMode(string trafficMode) =>
        Mode is "" or "UNDEFINED" or "CLIENT_AND_SERVER" || string.Equals(Mode, trafficMode, StringComparison.Ordinal);

    public bool Matches(string trafficMode, int port)
    {
        if (!MatchesMode(trafficMode))
        {
            return false;
        }

        if (Ports.Count == 0)
        {
            return true;
        }

        foreach (var p in Ports)
        {
            if (p == port)
            {
                return true;
            }
        }

        return false;
    }
}
