using RaftActors.Core;
using RaftActors.Storage;

namespace RaftActors.Tests.Storage;

/// <summary>
/// A <see cref="FileRaftStorage"/> on a disk that fills or fails, through injected failures of its
/// writes and fsyncs: the failed write is refused naming what was written, the file and the OS
/// error; the store takes no more writes (after a failed fsync nothing unsynced can be believed
/// durable); reopened, it holds every write that completed, and recovery cuts the torn record a
/// short write left. A snapshot that cannot be written leaves the log whole and the store working.
/// </summary>
public sealed class DiskFailureStorageTests : IDisposable
{
    private static readonly FileRaftStorageOptions Small = new() { SegmentSize = 4096 };

    private readonly TempDirectory _dir = new();
    private readonly List<FileRaftStorage> _stores = [];

    public void Dispose()
    {
        foreach (var store in _stores)
            store.Dispose();
        _dir.Dispose();
    }

    private FileRaftStorage Open()
    {
        var store = FileRaftStorage.Open(_dir.Path, Small);
        _stores.Add(store);
        return store;
    }

    private static LogEntry Entry(long index) =>
        new(index, 1, new EntryCommand(42, "kv.Put", BitConverter.GetBytes(index * 31), "c", index));

    private static LogEntry[] Entries(long from, long to) =>
        Enumerable.Range((int)from, (int)(to - from + 1)).Select(i => Entry(i)).ToArray();

    private static StorageWrite Append(params LogEntry[] entries) => new(null, [new AppendToLog(entries)]);

    private static DiskOperation Operation(string name) => name == "write" ? DiskOperation.Write : DiskOperation.Fsync;

    private string SegmentPath => Path.Combine(_dir.Path, WriteAheadLog.SegmentFileName(1));

    [Theory]
    [InlineData("write")]
    [InlineData("fsync")]
    public async Task AFailedAppend_IsRefusedNamingTheSegment_AndTheStoreTakesNoMoreWrites(string operation)
    {
        var failing = Operation(operation);
        var store = Open();
        var acknowledged = Entries(1, 10);
        await store.WriteAsync(new StorageWrite(new HardState(1, "n1"), [new AppendToLog(acknowledged)]));
        store.Fault = DiskFaults.FailFrom(failing, "wal-");

        var e = await Assert.ThrowsAsync<RaftStorageException>(() => store.WriteAsync(Append(Entries(11, 12))));

        Assert.Equal($"appending to the write-ahead log failed: No space left on device : '{SegmentPath}'", e.Message);
        Assert.Equal(acknowledged, store.Entries);

        // Not even a write the disk would take now: the store cannot know what the failed one left.
        store.Fault = null;
        var refused = await Assert.ThrowsAsync<RaftStorageException>(() => store.SaveHardStateAsync(new HardState(2, null)));
        Assert.Contains("an earlier write failed (appending to the write-ahead log failed: No space left on device", refused.Message);
        Assert.Equal(new HardState(1, "n1"), store.HardState);
    }

    // A disk that fills in the middle of a record leaves part of it in the file (a short write,
    // then ENOSPC): reopened, the store cuts it off by its checksum and keeps what was acknowledged.
    [Fact]
    public async Task APartialRecordLeftByAFailedAppend_IsCutOffAtTheNextOpen_AndEveryAcknowledgedEntryIsThere()
    {
        var store = Open();
        var acknowledged = Entries(1, 10);
        await store.WriteAsync(Append(acknowledged));
        var acknowledgedEnd = WalFiles.RecordsEnd(SegmentPath);
        store.Fault = DiskFaults.FailFrom(DiskOperation.Write, "wal-");

        await Assert.ThrowsAsync<RaftStorageException>(() => store.WriteAsync(Append(Entry(11))));
        store.Dispose();
        Assert.False(WalFiles.ZerosFrom(SegmentPath, acknowledgedEnd), "the failed append left no partial record to recover from");

        var reopened = Open();

        Assert.Equal(acknowledged, reopened.Entries);
        Assert.Equal(acknowledgedEnd, WalFiles.RecordsEnd(SegmentPath));
        Assert.True(WalFiles.ZerosFrom(SegmentPath, acknowledgedEnd), "the partial record is still there");
        await reopened.WriteAsync(Append(Entries(11, 12)));
        reopened.Dispose();
        Assert.Equal(Entries(1, 12), Open().Entries);
    }

    // A new segment is made whole on the side: a disk that fills while it is made leaves only a
    // temporary file, which the next open deletes.
    [Fact]
    public async Task AFailureWhileStartingANewSegment_LeavesTheLogAsItWas()
    {
        var store = Open();
        var acknowledged = Entries(1, 10);
        await store.WriteAsync(Append(acknowledged));
        store.Fault = DiskFaults.FailFrom(DiskOperation.Write, "wal-0000000000000002");

        var e = await Assert.ThrowsAsync<RaftStorageException>(() => store.WriteAsync(Append(Entries(11, 300))));
        store.Dispose();

        Assert.Contains("wal-0000000000000002.log.tmp", e.Message);
        Assert.Equal(acknowledged, Open().Entries.Take(acknowledged.Length));
        Assert.Empty(Directory.GetFiles(_dir.Path, "*.tmp"));
    }

    [Theory]
    [InlineData("write", "hardstate")]
    [InlineData("fsync", "hardstate")]
    [InlineData("fsync", "raftactors-tests-")] // the directory, after the rename
    public async Task AFailedHardStateSave_IsRefused_TheStoreTakesNoMoreWrites_AndReopensWithAWholeHardState(string operation, string file)
    {
        var failing = Operation(operation);
        var store = Open();
        await store.WriteAsync(new StorageWrite(new HardState(1, "n1"), [new AppendToLog(Entries(1, 3))]));
        store.Fault = DiskFaults.FailFrom(failing, file);

        var e = await Assert.ThrowsAsync<RaftStorageException>(() => store.SaveHardStateAsync(new HardState(2, "n2")));

        Assert.StartsWith("saving the hard state failed: No space left on device : '", e.Message);
        Assert.Equal(new HardState(1, "n1"), store.HardState);
        store.Fault = null;
        await Assert.ThrowsAsync<RaftStorageException>(() => store.WriteAsync(Append(Entries(4, 4))));
        store.Dispose();

        // The rename is the commit: before it the old state stands, after it the new one may.
        var reopened = Open();
        Assert.Contains(reopened.HardState, new[] { new HardState(1, "n1"), new HardState(2, "n2") });
        Assert.Equal(failing == DiskOperation.Write || file == "hardstate" ? new HardState(1, "n1") : new HardState(2, "n2"), reopened.HardState);
        Assert.Equal(Entries(1, 3), reopened.Entries);
        Assert.Empty(Directory.GetFiles(_dir.Path, "*.tmp"));
    }

    // Writing a snapshot's content is not a write of the store: it fails alone, and the store, its
    // log and its latest snapshot stay as they were; a later snapshot is taken as usual.
    [Theory]
    [InlineData("write")]
    [InlineData("fsync")]
    public async Task ASnapshotThatCannotBeWritten_IsDiscarded_AndTheLogAndTheStoreGoOn(string operation)
    {
        var failing = Operation(operation);
        var store = Open();
        await store.WriteAsync(Append(Entries(1, 40)));
        store.Fault = DiskFaults.FailFrom(failing, "snapshot-");

        var sink = store.CreateSnapshot(new LogPosition(30, 1));
        await Assert.ThrowsAsync<IOException>(async () =>
        {
            await sink.WriteAsync(new byte[200_000]); // more than the file's buffer: it reaches the disk
            await sink.CompleteAsync();
        });
        sink.Dispose();

        Assert.Empty(Directory.GetFiles(_dir.Path, "snapshot-*"));
        Assert.Equal(LogPosition.Empty, store.Snapshot);
        await Assert.ThrowsAsync<ArgumentException>(() => store.WriteAsync(new StorageWrite(null, [new SaveSnapshot(new LogPosition(30, 1)), new CompactLog(30)])));
        Assert.Equal(Entries(1, 40), store.Entries);

        store.Fault = null;
        await store.WriteAsync(Append(Entries(41, 41)));
        var next = store.CreateSnapshot(new LogPosition(35, 1));
        await next.WriteAsync(new byte[1000]);
        await next.CompleteAsync();
        await store.WriteAsync(new StorageWrite(null, [new SaveSnapshot(new LogPosition(35, 1)), new CompactLog(35)]));
        Assert.Equal(new LogPosition(35, 1), store.Snapshot);
    }

    // Saving a written snapshot renames it and fsyncs the directory in the store's write queue: a
    // failure there is the store's, and the log is not compacted.
    [Fact]
    public async Task AFailedSnapshotSave_CompactsNothing_AndTheStoreReopensWithTheWholeLog()
    {
        var store = Open();
        var log = Entries(1, 200);
        await store.WriteAsync(Append(log));
        var segments = WriteAheadLog.ListSegments(_dir.Path).Count;
        Assert.True(segments > 1, "the log must span segments that compaction would delete");
        var sink = store.CreateSnapshot(new LogPosition(150, 1));
        await sink.WriteAsync(new byte[1000]);
        await sink.CompleteAsync();
        store.Fault = DiskFaults.FailFrom(DiskOperation.Fsync, "raftactors-tests-");

        var e = await Assert.ThrowsAsync<RaftStorageException>(() =>
            store.WriteAsync(new StorageWrite(null, [new SaveSnapshot(new LogPosition(150, 1)), new CompactLog(150)])));
        sink.Dispose();

        Assert.StartsWith("saving the snapshot through entry 150 failed: No space left on device", e.Message);
        Assert.Equal(log, store.Entries);
        Assert.Equal(segments, WriteAheadLog.ListSegments(_dir.Path).Count);
        store.Dispose();

        var reopened = Open();
        Assert.Equal(log, reopened.Entries.SkipWhile(entry => entry.Index <= reopened.Entries[0].Index - 1));
        Assert.Equal(200, reopened.Entries[^1].Index);
        Assert.Equal(1, reopened.Entries[0].Index);
    }
}
