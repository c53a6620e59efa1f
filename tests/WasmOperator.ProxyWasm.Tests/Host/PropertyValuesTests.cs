using WasmOperator.ProxyWasm.Abi;
using WasmOperator.ProxyWasm.Host;

namespace WasmOperator.ProxyWasm.Tests.Host;

public class PropertyValuesTests
{
    [Fact]
    public void Numbers_are_8_bytes_little_endian_and_booleans_one_byte()
    {
        Assert.Equal(Convert.FromHexString("0040000000000000"), PropertyValues.Int64(0x4000));
        Assert.Equal(Convert.FromHexString("ffffffffffffffff"), PropertyValues.Int64(-1));
        Assert.Equal([1], PropertyValues.Bool(true));
        Assert.Equal([0], PropertyValues.Bool(false));
    }

    [Fact]
    public void A_map_is_the_pairs_encoding_of_its_encoded_values_and_a_nested_map_is_a_value()
    {
        var labels = PropertyValues.Map([new("app"u8.ToArray(), "web"u8.ToArray())]);
        var metadata = PropertyValues.Map([new("LABELS"u8.ToArray(), labels), new("NAMESPACE"u8.ToArray(), "shop"u8.ToArray())]);

        Assert.Equal(Convert.FromHexString("01000000" + "03000000" + "03000000" + "61707000" + "77656200"), labels);
        var parsed = new HeaderMap();
        Assert.True(Pairs.TryParse(metadata, parsed));
        Assert.Equal(2, parsed.Count);
        Assert.Equal(labels, System.Text.Encoding.Latin1.GetBytes(parsed.Entries[0].Value));
        Assert.Equal("shop", parsed.Entries[1].Value);
        Assert.Empty(PropertyValues.Map([]));
    }
}
