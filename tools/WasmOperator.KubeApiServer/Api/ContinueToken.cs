using System.Text;
using System.Text.Json.Nodes;

namespace WasmOperator.KubeApiServer.Api;

/// <summary>The opaque <c>continue</c> value of a paged list: the list's revision and the last key served.</summary>
internal sealed record ContinueToken(long Revision, string LastKey)
{
    public string Encode() =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes(new JsonObject { ["rv"] = Revision, ["start"] = LastKey }.ToJsonString()));

    public static ContinueToken Decode(string text)
    {
        try
        {
            var node = JsonNode.Parse(Encoding.UTF8.GetString(Convert.FromBase64String(text)))!;
            return new ContinueToken(node["rv"]!.GetValue<long>(), node["start"]!.GetValue<string>());
        }
        catch (Exception e) when (e is FormatException or System.Text.Json.JsonException or NullReferenceException or InvalidOperationException)
        {
            throw ApiErrors.BadRequest($"continue key is not valid: {e.Message}");
        }
    }
}
