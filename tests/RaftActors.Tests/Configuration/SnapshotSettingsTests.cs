using Akka.Configuration;
using RaftActors.Configuration;

namespace RaftActors.Tests.Configuration;

/// <summary>The <c>raft.snapshot</c> settings: defaults, overrides, and every bad value refused naming its key.</summary>
public class SnapshotSettingsTests
{
    private static SnapshotSettings Parse(string hocon) => RaftSettings.FromConfig(ConfigurationFactory.ParseString(hocon)).Snapshots;

    [Fact]
    public void Defaults_SnapshotEvery100kEntriesOr64MiB_Keep5000Trailing_Send64KiBChunks8AtATime()
    {
        var settings = Parse("");

        Assert.Equal(SnapshotSettings.Default, settings);
        Assert.Equal(100_000, settings.EntriesThreshold);
        Assert.Equal(64L << 20, settings.BytesThreshold);
        Assert.Equal(5_000, settings.TrailingEntries);
        Assert.Equal(64 << 10, settings.ChunkSize);
        Assert.Equal(8, settings.ChunksInFlight);
        Assert.True(settings.Enabled);
        Assert.Equal(SnapshotSettings.Default, RaftSettings.Default.Snapshots);
    }

    [Fact]
    public void Overrides_FromHocon_AreRead()
    {
        var settings = Parse("""
            raft.snapshot {
              entries-threshold = 10
              bytes-threshold = 1MiB
              trailing-entries = 0
              chunk-size = 512b
              chunks-in-flight = 2
            }
            """);

        Assert.Equal(new SnapshotSettings(10, 1 << 20, 0, 512, 2), settings);
    }

    [Theory]
    [InlineData(10, 0, 9, 0, false)]
    [InlineData(10, 0, 10, 0, true)]
    [InlineData(0, 100, 1000, 99, false)]
    [InlineData(0, 100, 1, 100, true)]
    [InlineData(10, 100, 3, 200, true)]  // either limit
    [InlineData(0, 0, 1_000_000, 1L << 40, false)] // both off: never
    public void ASnapshotIsDue_OnceEitherThresholdIsReached(long entriesThreshold, long bytesThreshold, long entries, long bytes, bool due)
    {
        var settings = new SnapshotSettings(entriesThreshold, bytesThreshold, 0, 100, 1);

        Assert.Equal(due, settings.IsDue(entries, bytes));
        Assert.Equal(entriesThreshold > 0 || bytesThreshold > 0, settings.Enabled);
    }

    [Theory]
    [InlineData("entries-threshold = -1", "raft.snapshot.entries-threshold")]
    [InlineData("entries-threshold = many", "raft.snapshot.entries-threshold")]
    [InlineData("bytes-threshold = -5", "raft.snapshot.bytes-threshold")]
    [InlineData("bytes-threshold = lots", "raft.snapshot.bytes-threshold")]
    [InlineData("trailing-entries = -1", "raft.snapshot.trailing-entries")]
    [InlineData("chunk-size = 0", "raft.snapshot.chunk-size")]
    [InlineData("chunk-size = 17MiB", "raft.snapshot.chunk-size")]
    [InlineData("chunk-size = 3GiB", "raft.snapshot.chunk-size")]
    [InlineData("chunks-in-flight = 0", "raft.snapshot.chunks-in-flight")]
    [InlineData("chunks-in-flight = x", "raft.snapshot.chunks-in-flight")]
    public void ABadValue_FailsNamingItsKey(string setting, string key)
    {
        var e = Assert.Throws<RaftConfigurationException>(() => Parse($"raft.snapshot {{ {setting} }}"));

        Assert.Equal(key, e.Key);
        Assert.StartsWith(key, e.Message);
    }
}
