using WasmOperator.ProxyWasm.Abi;
using WasmOperator.ProxyWasm.Host;

namespace WasmOperator.ProxyWasm.Tests.Abi;

public class PairsTests
{
    [Fact]
    public void Pairs_serialize_to_the_documented_bytes_and_parse_back()
    {
        var map = new HeaderMap();
        map.Add("a", "1");
        map.Add("b", "22");
        var bytes = new byte[Pairs.SerializedSize(map)];
        Pairs.Serialize(map, bytes);

        Assert.Equal(Convert.FromHexString("02000000" + "01000000" + "01000000" + "01000000" + "02000000" + "61003100" + "6200323200"), bytes);
        var parsed = new HeaderMap();
        Assert.True(Pairs.TryParse(bytes, parsed));
        Assert.Equal(map.Entries, parsed.Entries);
    }

    [Theory]
    [InlineData("")]
    [InlineData("00")]
    [InlineData("00000000")]
    public void Empty_maps_are_accepted_in_every_encoding_SDKs_use(string hex)
    {
        var parsed = new HeaderMap();
        Assert.True(Pairs.TryParse(Convert.FromHexString(hex), parsed));
        Assert.Equal(0, parsed.Count);
    }

    [Fact]
    public void Empty_maps_are_emitted_as_zero_bytes() => Assert.Equal(0, Pairs.SerializedSize(new HeaderMap()));

    [Fact]
    public void Pairs_with_a_wrong_length_or_missing_terminator_are_rejected()
    {
        var parsed = new HeaderMap();
        Assert.False(Pairs.TryParse(Convert.FromHexString("01000000" + "01000000" + "01000000" + "610031"), parsed));
        Assert.False(Pairs.TryParse(Convert.FromHexString("01000000" + "01000000" + "01000000" + "6100310000"), parsed));
        Assert.False(Pairs.TryParse(Convert.FromHexString("01040000"), parsed)); // 1025 pairs
    }
}
