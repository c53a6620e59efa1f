namespace WasmOperator.Modules.Failures;

/// <summary>
/// Base of every error the fetcher reports. The message names the URL, what went wrong and what to do.
/// </summary>
public abstract class ModuleFetchException : Exception
{
    /// <summary>Creates the error for <paramref name="url"/>.</summary>
    protected ModuleFetchException(string url, string message, Exception? inner = null)
        : base(message, inner)
    {
        Url = url;
    }

    /// <summary>The module URL the fetch was for.</summary>
    public string Url { get; }

    /// <summary>The value of the <c>result</c> label on the fetch metrics.</summary>
    public abstract string Result { get; }
}
