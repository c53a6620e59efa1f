namespace WasmOperator.Operator.Reconciliation;

/// <summary>
/// Where the reconciler hands the desired state of each plugin. The PluginSync gRPC server implements it
/// in a later issue; until then <see cref="InMemoryPluginDistributor"/> holds it (and tests observe it).
/// </summary>
internal interface IPluginDistributor
{
    /// <summary>Makes <paramref name="plugin"/> the desired state of its key, replacing any earlier revision.</summary>
    void Apply(DesiredPlugin plugin);

    /// <summary>Removes the plugin with <paramref name="key"/> (namespace/name) from the desired state.</summary>
    void Remove(string key);
}
