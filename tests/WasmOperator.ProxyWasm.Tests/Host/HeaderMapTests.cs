using WasmOperator.ProxyWasm.Host;

namespace WasmOperator.ProxyWasm.Tests.Host;

public sealed class HeaderMapTests
{
    [Fact]
    public void Names_are_lower_cased_repeated_names_stay_separate_and_set_keeps_the_first_position()
    {
        var map = new HeaderMap();
        map.Add("X-A", "1");
        map.Add("b", "2");
        map.Add("x-a", "3");

        map.Set("X-a", "4");

        Assert.Equal([new("x-a", "4"), new("b", "2")], map.Entries);
        Assert.Equal("4", map.Get("X-A"));
    }

    [Fact]
    public void Version_changes_with_every_edit_and_not_when_nothing_changed()
    {
        var map = new HeaderMap();
        map.Add("a", "1");
        var version = map.Version;

        Assert.Equal(0, map.Remove("absent"));
        _ = map.Get("a");
        Assert.Equal(version, map.Version);

        map.Set("a", "2");
        Assert.NotEqual(version, version = map.Version);
        map.Add("b", "3");
        Assert.NotEqual(version, version = map.Version);
        Assert.Equal(1, map.Remove("b"));
        Assert.NotEqual(version, version = map.Version);
        map.Clear();
        Assert.NotEqual(version, map.Version);
    }

    [Fact]
    public void Changes_are_recorded_by_lower_cased_name_only_after_tracking_starts_and_a_clear_marks_the_map_replaced()
    {
        var map = new HeaderMap();
        map.Add("Content-Type", "text/plain");
        map.Add("x-a", "1");
        map.TrackChanges();
        Assert.Empty(map.ChangedNames);
        Assert.Equal("content-type", map.Entries[0].Key);

        map.Set("X-A", "2");
        map.Add("x-b", "3");
        map.Add("x-b", "4");
        Assert.Equal(0, map.Remove("absent"));
        Assert.Equal(1, map.Remove("Content-Type"));

        Assert.Equal(["x-a", "x-b", "content-type"], map.ChangedNames);
        Assert.False(map.Replaced);

        map.Clear();
        map.Add("x-c", "5");
        Assert.True(map.Replaced);

        map.TrackChanges();
        Assert.False(map.Replaced);
        Assert.Empty(map.ChangedNames);
    }
}
