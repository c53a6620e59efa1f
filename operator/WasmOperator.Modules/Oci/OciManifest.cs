using System.Text.Json;
using WasmOperator.Modules.Verification;

namespace WasmOperator.Modules.Oci;

/// <summary>An image manifest or an image index, as far as the fetcher needs it.</summary>
internal sealed record OciManifest(string MediaType, OciDescriptor? Config, IReadOnlyList<OciDescriptor> Layers, IReadOnlyList<OciDescriptor> Manifests)
{
    public bool IsIndex => OciMediaTypes.IsIndex(MediaType);

    /// <summary>Parses manifest JSON; the Content-Type wins, then the document's own mediaType, then its shape.</summary>
    /// <exception cref="FormatException">Not a manifest.</exception>
    public static OciManifest Parse(ReadOnlySpan<byte> json, string? contentType)
    {
        try
        {
            var reader = new Utf8JsonReader(json);
            using var document = JsonDocument.ParseValue(ref reader);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new FormatException("the manifest is not a JSON object");
            }

            var declared = root.TryGetProperty("mediaType", out var mt) && mt.ValueKind == JsonValueKind.String ? mt.GetString() : null;
            var layers = Descriptors(root, "layers");
            var manifests = Descriptors(root, "manifests");
            var mediaType = contentType is { Length: > 0 } && contentType != "application/json" && contentType != "text/plain"
                ? contentType
                : declared ?? (manifests.Count > 0 ? OciMediaTypes.OciIndex : OciMediaTypes.OciManifest);
            var config = root.TryGetProperty("config", out var c) && c.ValueKind == JsonValueKind.Object ? Descriptor(c) : null;
            return new OciManifest(mediaType, config, layers, manifests);
        }
        catch (JsonException ex)
        {
            throw new FormatException($"the manifest is not valid JSON: {ex.Message}", ex);
        }
        catch (InvalidOperationException ex)
        {
            throw new FormatException($"the manifest has an unexpected shape: {ex.Message}", ex);
        }
    }

    private static List<OciDescriptor> Descriptors(JsonElement root, string property)
    {
        var list = new List<OciDescriptor>();
        if (root.TryGetProperty(property, out var array) && array.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in array.EnumerateArray())
            {
                list.Add(Descriptor(item));
            }
        }

        return list;
    }

    private static OciDescriptor Descriptor(JsonElement element)
    {
        var mediaType = element.TryGetProperty("mediaType", out var mt) ? mt.GetString() ?? string.Empty : string.Empty;
        var digestText = element.TryGetProperty("digest", out var d) ? d.GetString() : null;
        var digest = Sha256Digest.TryNormalize(digestText);
        if (digest is null || digestText is null || !digestText.StartsWith(Sha256Digest.Prefix, StringComparison.Ordinal))
        {
            throw new FormatException($"descriptor digest '{digestText}' is not a sha256 digest");
        }

        var size = element.TryGetProperty("size", out var s) && s.TryGetInt64(out var n) ? n : -1;
        if (size < 0 && element.TryGetProperty("size", out _))
        {
            // The OCI image spec: an int64 count of bytes; a negative one is no size at all, and was read as "none given".
            throw new FormatException($"descriptor {digest} has size {s.GetRawText()}, which is no byte count");
        }

        string? os = null;
        string? architecture = null;
        if (element.TryGetProperty("platform", out var platform) && platform.ValueKind == JsonValueKind.Object)
        {
            os = platform.TryGetProperty("os", out var o) ? o.GetString() : null;
            architecture = platform.TryGetProperty("architecture", out var a) ? a.GetString() : null;
        }

        var referenceType = element.TryGetProperty("annotations", out var annotations) && annotations.ValueKind == JsonValueKind.Object
            && annotations.TryGetProperty("vnd.docker.reference.type", out var r) && r.ValueKind == JsonValueKind.String
                ? r.GetString()
                : null;
        return new OciDescriptor(mediaType, digest, size, os, architecture, referenceType);
    }
}
