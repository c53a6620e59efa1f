namespace WasmOperator.Modules;

/// <summary>Gets a Wasm module from OCI, https, http or file into the verified, content-addressed cache.</summary>
public interface IModuleFetcher
{
    /// <summary>
    /// Fetches (or finds in the cache) the module named by <paramref name="request"/>.
    /// Throws a <see cref="Failures.ModuleFetchException"/> subtype on failure.
    /// </summary>
    Task<FetchedModule> FetchAsync(ModuleRequest request, CancellationToken cancellationToken);

    /// <summary>The module cache: pin digests of live revisions, collect garbage.</summary>
    IModuleCache Cache { get; }
}
