using RaftActors.Core;
using RaftActors.Storage;

namespace RaftActors.Tests.Storage;

/// <summary>
/// Every kind of file in a data directory names its format's version in the last byte of its magic;
/// a file of a newer version (written by a newer release) stops the store from opening with a
/// message naming the file and both versions, and leaves the directory as it was.
/// </summary>
public sealed class FileFormatVersionTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    // Each kind with this build's version of it.
    public static TheoryData<string, byte> FileKinds() => new() { { "hardstate", 1 }, { "wal-*.log", 2 }, { "snapshot-*.snap", 1 } };

    [Theory]
    [MemberData(nameof(FileKinds))]
    public async Task A_file_of_a_newer_format_version_refuses_to_open_naming_the_file_and_both_versions(string pattern, byte version)
    {
        await WriteStore();
        var path = Directory.GetFiles(_dir.Path, pattern).OrderBy(p => p, StringComparer.Ordinal).Last();
        var bytes = File.ReadAllBytes(path);
        Assert.Equal(version, bytes[7]);
        bytes[7] = (byte)(version + 1);
        File.WriteAllBytes(path, bytes);
        var before = Snapshot();

        var e = Assert.Throws<RaftStorageException>(() => FileRaftStorage.Open(_dir.Path).Dispose());

        Assert.Contains(path, e.Message);
        Assert.Contains($"format version {version + 1}", e.Message);
        Assert.Contains($"reads version {version}", e.Message);
        Assert.Contains("newer release", e.Message);
        Assert.Equal(before, Snapshot()); // nothing truncated, deleted or rewritten
    }

    [Fact]
    public async Task Files_of_the_current_version_open()
    {
        await WriteStore();
        using var store = FileRaftStorage.Open(_dir.Path);
        Assert.Equal(new HardState(3, "n1"), store.HardState);
        Assert.Equal(new LogPosition(2, 1), store.Snapshot);
        Assert.Equal(4, store.Entries[^1].Index);
    }

    /// <summary>A store with all three kinds of file: a hard state, a snapshot through entry 2 and log segments after it.</summary>
    private async Task WriteStore()
    {
        using var store = FileRaftStorage.Open(_dir.Path);
        await store.SaveHardStateAsync(new HardState(3, "n1"));
        var entries = Enumerable.Range(1, 4).Select(i => new LogEntry(i, 1, new EntryCommand(42, "m", [(byte)i], null, 0))).ToArray();
        await store.WriteAsync(new StorageWrite(null, [new AppendToLog(entries)]));
        var sink = store.CreateSnapshot(new LogPosition(2, 1), ClusterConfiguration.OfVoters(["n1"]));
        await sink.WriteAsync(new byte[] { 1, 2, 3 });
        await sink.CompleteAsync();
        await store.WriteAsync(new StorageWrite(null, [new SaveSnapshot(new LogPosition(2, 1))]));
    }

    private Dictionary<string, string> Snapshot() =>
        Directory.GetFiles(_dir.Path).ToDictionary(p => p, p => Convert.ToHexString(File.ReadAllBytes(p)), StringComparer.Ordinal);
}
