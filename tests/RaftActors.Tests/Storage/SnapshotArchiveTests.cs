using RaftActors.Core;
using RaftActors.Storage;

namespace RaftActors.Tests.Storage;

/// <summary>
/// Backup snapshot files (<see cref="SnapshotArchive"/>): written whole, checked whole (every kind of
/// damage refused, naming the file), and restored into a new data directory that a store opens
/// with the snapshot, the configuration given, the log after it and the snapshot's term — never
/// into a directory that holds anything.
/// </summary>
public sealed class SnapshotArchiveTests : IDisposable
{
    private static readonly LogPosition Through = new(1234, 7);

    private static readonly ClusterConfiguration Recorded = new([
        new ClusterMember("n1", "akka.tcp://raft@10.0.0.1:4051/user/raft", true),
        new ClusterMember("n2", "akka.tcp://raft@10.0.0.2:4051/user/raft", true),
    ]);

    private static readonly ClusterConfiguration NewAddresses = new([
        new ClusterMember("n1", "akka.tcp://raft@127.0.0.1:5051/user/raft", true),
        new ClusterMember("n2", "akka.tcp://raft@127.0.0.1:5052/user/raft", true),
        new ClusterMember("n3", "akka.tcp://raft@127.0.0.1:5053/user/raft", true),
    ]);

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static byte[] Content(int length)
    {
        var bytes = new byte[length];
        new Random(13).NextBytes(bytes);
        return bytes;
    }

    private async Task<string> WriteBackup(byte[] content, string name = "backup.snap")
    {
        var path = _dir.File(name);
        await SnapshotArchive.WriteAsync(path, Through, Recorded, async sink =>
        {
            await sink.WriteAsync(content);
            await sink.CompleteAsync();
        });
        return path;
    }

    [Fact]
    public async Task ABackupIsWrittenWhole_AndVerifiedForWhatItHolds()
    {
        var content = Content(100_000);
        var path = await WriteBackup(content);

        var info = SnapshotArchive.Verify(path);

        Assert.Equal(Through, info.Position);
        Assert.Equal(Recorded, info.Configuration);
        Assert.Equal(content.Length, info.ContentLength);
        Assert.Equal(Crc32C.Compute(content), info.ContentChecksum);
        Assert.Equal(new FileInfo(path).Length, info.Size);
        Assert.Equal(["backup.snap"], Directory.GetFiles(_dir.Path).Select(Path.GetFileName)); // no temporary file left
    }

    [Fact]
    public async Task ABackupWhoseContentFailsToBeWritten_LeavesNoFile()
    {
        var path = _dir.File("backup.snap");
        var failure = await Assert.ThrowsAsync<IOException>(() => SnapshotArchive.WriteAsync(path, Through, Recorded, async sink =>
        {
            await sink.WriteAsync(Content(1000));
            throw new IOException("the state machine failed midway");
        }));

        Assert.Equal("the state machine failed midway", failure.Message);
        Assert.Empty(Directory.GetFiles(_dir.Path));
    }

    /// <summary>Byte offsets to damage: the magic, the header's index, the configuration, the content's first and last byte.</summary>
    [Theory]
    [InlineData(0, "not a RaftActors snapshot")]
    [InlineData(9, "header checksum mismatch")]
    [InlineData(SnapshotFile.HeaderSize + 3, "configuration checksum mismatch")]
    [InlineData(-1000, "content checksum mismatch")]
    [InlineData(-1, "content checksum mismatch")]
    public async Task ADamagedFile_IsRefusedNamingItAndTheDamage_AndRestoresNothing(int offset, string problem)
    {
        var path = await WriteBackup(Content(5000));
        var bytes = await File.ReadAllBytesAsync(path);
        bytes[offset >= 0 ? offset : bytes.Length + offset] ^= 0x40;
        await File.WriteAllBytesAsync(path, bytes);

        var verify = Assert.Throws<RaftStorageException>(() => SnapshotArchive.Verify(path));
        var restore = await Assert.ThrowsAsync<RaftStorageException>(() => SnapshotArchive.RestoreAsync(path, _dir.File("n1"), NewAddresses));

        Assert.StartsWith($"{path}: {problem}", verify.Message);
        Assert.Equal(verify.Message, restore.Message);
        Assert.False(Directory.Exists(_dir.File("n1")));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(20)]
    [InlineData(-1)]
    public async Task ATruncatedFile_IsRefusedNamingIt(int keep)
    {
        var path = await WriteBackup(Content(5000));
        var bytes = await File.ReadAllBytesAsync(path);
        await File.WriteAllBytesAsync(path, bytes[..(keep >= 0 ? keep : bytes.Length + keep)]);

        var error = Assert.Throws<RaftStorageException>(() => SnapshotArchive.Verify(path));

        Assert.StartsWith($"{path}: ", error.Message);
        Assert.Contains(keep == -1 ? "the header says" : "the header is cut short", error.Message);
    }

    [Fact]
    public void AMissingFile_IsRefusedNamingIt()
    {
        var path = _dir.File("nothing.snap");
        var error = Assert.Throws<RaftStorageException>(() => SnapshotArchive.Verify(path));
        Assert.StartsWith($"{path}: cannot read the snapshot file", error.Message);
    }

    [Fact]
    public async Task ARestoredDirectory_OpensWithTheSnapshot_TheGivenConfiguration_ItsTerm_AndALogThatStartsAfterIt()
    {
        var content = Content(70_000);
        var path = await WriteBackup(content);
        var data = _dir.File(Path.Combine("new", "n3"));

        var restored = await SnapshotArchive.RestoreAsync(path, data, NewAddresses);

        Assert.Equal((Through, NewAddresses), (restored.Position, restored.Configuration));
        using var store = FileRaftStorage.Open(data);
        Assert.Equal(Through, store.Snapshot);
        Assert.Equal(NewAddresses, store.SnapshotConfiguration);
        Assert.Equal(new HardState(Through.Term, null), store.HardState);
        Assert.Empty(store.Entries);
        var (position, stream) = store.OpenSnapshot();
        using (stream)
        {
            var copy = new MemoryStream();
            await stream.CopyToAsync(copy);
            Assert.Equal(Through, position);
            Assert.Equal(content, copy.ToArray());
        }

        // The log goes on right after the snapshot.
        var next = new LogEntry(Through.Index + 1, Through.Term + 1, null);
        await store.WriteAsync(new StorageWrite(new HardState(Through.Term + 1, "n3"), [new AppendToLog([next])]));
        Assert.Equal([next], store.Entries);
    }

    [Fact]
    public async Task AnEmptyDirectory_IsRestoredInto()
    {
        var path = await WriteBackup(Content(10));
        var data = _dir.File("n1");
        Directory.CreateDirectory(data);

        await SnapshotArchive.RestoreAsync(path, data, NewAddresses);

        using var store = FileRaftStorage.Open(data);
        Assert.Equal(Through, store.Snapshot);
    }

    [Fact]
    public async Task ADirectoryThatHoldsAnything_IsRefusedNamingIt_AndLeftAsItWas()
    {
        var path = await WriteBackup(Content(10));
        var data = _dir.File("n1");
        Directory.CreateDirectory(data);
        await File.WriteAllTextAsync(Path.Combine(data, "notes.txt"), "mine");

        var error = await Assert.ThrowsAsync<RaftStorageException>(() => SnapshotArchive.RestoreAsync(path, data, NewAddresses));

        Assert.StartsWith($"{data}: the data directory is not empty", error.Message);
        Assert.Equal(["notes.txt"], Directory.GetFileSystemEntries(data).Select(Path.GetFileName));
    }

    [Fact]
    public async Task AConfigurationWithoutVoters_IsRefused()
    {
        var path = await WriteBackup(Content(10));
        await Assert.ThrowsAsync<ArgumentException>(() => SnapshotArchive.RestoreAsync(path, _dir.File("n1"), ClusterConfiguration.Empty));
        Assert.False(Directory.Exists(_dir.File("n1")));
    }
}
