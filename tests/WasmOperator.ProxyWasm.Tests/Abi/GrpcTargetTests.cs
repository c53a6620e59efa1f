using System.Text;
using WasmOperator.ProxyWasm.Abi;

namespace WasmOperator.ProxyWasm.Tests.Abi;

/// <summary>
/// The upstream of a gRPC callout is read as Envoy's <c>Context::grpcCall</c> reads it: a serialized
/// <c>envoy.config.core.v3.GrpcService</c> if the bytes parse as one, else a bare cluster name.
/// </summary>
public class GrpcTargetTests
{
    private static byte[] Field(int number, byte[] payload) => [(byte)((number << 3) | 2), (byte)payload.Length, .. payload];

    private static byte[] Text(int number, string text) => Field(number, Encoding.UTF8.GetBytes(text));

    [Theory]
    [InlineData("grpc")]
    [InlineData("nope")] // wire types 6 and 7 are not protobuf, whatever CodedInputStream.SkipLastField lets pass
    [InlineData("outbound|9000||authz.default.svc.cluster.local")]
    public void Bytes_that_are_not_a_GrpcService_are_a_cluster_name(string name)
    {
        Assert.True(GrpcTarget.TryRead(Encoding.UTF8.GetBytes(name), out var target));

        Assert.Equal((name, null, 0, false), (target.Cluster, target.Authority, target.InitialMetadata.Count, target.IsServiceConfig));
    }

    [Fact]
    public void A_GrpcService_gives_its_cluster_authority_and_initial_metadata_and_skips_the_rest()
    {
        byte[] service =
        [
            .. Field(1, [.. Text(1, "authz"), .. Text(2, "authz.internal"), 0x28, 0x01]), // envoy_grpc, with skip_envoy_headers
            .. Field(3, [0x08, 0x05]), // timeout { seconds: 5 }: Envoy's raw client ignores it
            .. Field(5, [.. Text(1, "x-tenant"), .. Text(2, "blue")]),
            .. Field(5, [.. Text(1, "x-key"), .. Field(3, [0xff, 0x00])]), // raw_value
        ];

        Assert.True(GrpcTarget.TryRead(service, out var target));

        Assert.Equal(("authz", "authz.internal", true), (target.Cluster, target.Authority, target.IsServiceConfig));
        Assert.Equal([new("x-tenant", "blue"), new("x-key", "\u00ff\0")], target.InitialMetadata.Entries);
    }

    [Fact]
    public void A_GrpcService_without_envoy_grpc_cannot_be_called()
    {
        // google_grpc { target_uri: "dns:///authz" }: Envoy would need a Google gRPC client.
        Assert.False(GrpcTarget.TryRead(Field(2, Text(1, "dns:///authz")), out _));
        // Nothing at all parses as an empty GrpcService, which names no client either.
        Assert.False(GrpcTarget.TryRead([], out _));
    }

    [Fact]
    public void A_GrpcService_whose_strings_are_not_utf8_does_not_parse_and_is_taken_as_a_name()
    {
        byte[] bytes = Field(1, Field(1, [0xc3, 0x28]));

        Assert.True(GrpcTarget.TryRead(bytes, out var target));

        Assert.False(target.IsServiceConfig);
    }
}
