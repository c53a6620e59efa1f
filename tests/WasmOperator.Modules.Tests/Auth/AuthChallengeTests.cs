using System.Net.Http.Headers;
using WasmOperator.Modules.Auth;

namespace WasmOperator.Modules.Tests.Auth;

public sealed class AuthChallengeTests
{
    [Fact]
    public void A_Bearer_challenge_yields_realm_service_and_scope()
    {
        var challenge = AuthChallenge.Parse(new AuthenticationHeaderValue("Bearer",
            "realm=\"https://auth.example/token\",service=\"registry.example\",scope=\"repository:a/b:pull,push\""));

        Assert.True(challenge.IsBearer);
        Assert.Equal("https://auth.example/token", challenge.Get("realm"));
        Assert.Equal("registry.example", challenge.Get("service"));
        Assert.Equal("repository:a/b:pull,push", challenge.Get("scope"));
    }

    [Fact]
    public void Unquoted_and_escaped_values_are_read()
    {
        var challenge = AuthChallenge.Parse(new AuthenticationHeaderValue("Basic", "realm=\"say \\\"hi\\\"\", charset=UTF-8"));

        Assert.True(challenge.IsBasic);
        Assert.Equal("say \"hi\"", challenge.Get("realm"));
        Assert.Equal("UTF-8", challenge.Get("charset"));
    }
}
