using System.Text;
using WasmOperator.Modules.Auth;

namespace WasmOperator.Modules.Tests.Auth;

public sealed class DockerConfigTests
{
    private static ReadOnlyMemory<byte> Json(string text) => Encoding.UTF8.GetBytes(text);

    [Fact]
    public void The_auth_field_is_decoded_into_username_and_password()
    {
        var auth = Convert.ToBase64String(Encoding.UTF8.GetBytes("user:pa:ss"));
        var credential = DockerConfig.Find(Json("{\"auths\":{\"registry.example:5000\":{\"auth\":\"" + auth + "\"}}}"), "registry.example:5000");

        Assert.Equal(new RegistryCredential("user", "pa:ss", null), credential);
    }

    [Fact]
    public void Entries_keyed_by_URL_match_their_host_and_Docker_Hub_aliases_match_each_other()
    {
        var payload = Json("""{"auths":{"https://index.docker.io/v1/":{"username":"hub","password":"p"},"http://reg.example/v2/":{"username":"u","password":"q","identitytoken":"tok"}}}""");

        Assert.Equal("hub", DockerConfig.Find(payload, "docker.io")?.Username);
        Assert.Equal(new RegistryCredential("u", "q", "tok"), DockerConfig.Find(payload, "reg.example"));
        Assert.Null(DockerConfig.Find(payload, "other.example"));
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("""{"registry":{}}""")]
    [InlineData("""{"auths":{"r.example":{"auth":"%%%"}}}""")]
    public void A_malformed_secret_is_a_format_error(string text)
    {
        Assert.Throws<FormatException>(() => DockerConfig.Find(Json(text), "r.example"));
    }

    [Fact]
    public void A_secret_that_is_not_JSON_is_reported_by_position_without_its_text()
    {
        var error = Assert.Throws<FormatException>(() => DockerConfig.Find(Json("{\"auths\": trUe_SuperSecretPassw0rd}"), "r.example"));

        Assert.Equal("is not valid JSON (line 1, byte 13)", error.Message);
        Assert.Null(error.InnerException);
    }
}
