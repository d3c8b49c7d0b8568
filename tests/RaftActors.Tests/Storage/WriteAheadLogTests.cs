using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using RaftActors.Core;
using RaftActors.Storage;

namespace RaftActors.Tests.Storage;

/// <summary>
/// The log half of <see cref="FileRaftStorage"/>: the write-ahead log. Figure 2: the log is on
/// stable storage before the node answers; a restarted node finds exactly the log it last made
/// durable; a write cut short by a crash is cut off, and real damage refuses to start.
/// </summary>
public sealed class WriteAheadLogTests : IDisposable
{
    private static readonly FileRaftStorageOptions Small = new() { SegmentSize = 256 };

    // Small enough that tests cutting a file at every offset copy little, large enough for a few sectors.
    private static readonly FileRaftStorageOptions Page = new() { SegmentSize = 4096 };

    private readonly TempDirectory _dir = new();
    private readonly List<FileRaftStorage> _stores = [];

    public void Dispose()
    {
        CloseEarlierIncarnations();
        _dir.Dispose();
    }

    private void CloseEarlierIncarnations()
    {
        foreach (var store in _stores)
            store.Dispose();
        _stores.Clear();
    }

    /// <summary>Opens the store as a restarted node does: the earlier incarnations are gone, and with them their hold on the directory.</summary>
    private FileRaftStorage Open(string? directory = null, FileRaftStorageOptions? options = null)
    {
        CloseEarlierIncarnations();
        var store = FileRaftStorage.Open(directory ?? _dir.Path, options);
        _stores.Add(store);
        return store;
    }

    private static LogEntry Command(long index, long term, int dataLength = 16, string? client = "client-1") =>
        new(index, term, new EntryCommand(42, "kv.Put", Data(index, dataLength), client, client is null ? 0 : index));

    private static LogEntry NoOp(long index, long term) => new(index, term, null);

    private static byte[] Data(long seed, int length)
    {
        var data = new byte[length];
        new Random((int)seed).NextBytes(data);
        return data;
    }

    private static StorageWrite Append(params LogEntry[] entries) => new(null, [new AppendToLog(entries)]);

    private static IEnumerable<LogEntry> Range(long from, long to, long term, int dataLength = 16) =>
        Enumerable.Range((int)from, (int)(to - from + 1)).Select(i => i % 5 == 0 ? NoOp(i, term) : Command(i, term, dataLength));

    private string SegmentPath(long sequence, string? directory = null) =>
        Path.Combine(directory ?? _dir.Path, WriteAheadLog.SegmentFileName(sequence));

    private string CopyDirectory(string name)
    {
        var copy = _dir.File(name);
        Directory.CreateDirectory(copy);
        foreach (var file in Directory.EnumerateFiles(_dir.Path))
            File.Copy(file, Path.Combine(copy, Path.GetFileName(file)));
        return copy;
    }

    // ---- round trips -----------------------------------------------------------------------

    [Fact]
    public void Open_OnAFreshDirectory_HasAnEmptyLog_AndWritesNothing()
    {
        var store = Open();

        Assert.Empty(store.Entries);
        Assert.Equal([DataDirectoryLock.FileName, DataDirectoryLock.OwnerFileName], Directory.EnumerateFileSystemEntries(_dir.Path).Select(Path.GetFileName).Order()); // the lock only
    }

    [Fact]
    public async Task HardStateOnlyWrites_CreateNoSegment()
    {
        var store = Open();

        await store.SaveHardStateAsync(new HardState(1, "n1"));
        await store.WriteAsync(new StorageWrite(null, []));
        await store.WriteAsync(new StorageWrite(null, [new TruncateLog(1)])); // deletes nothing

        Assert.Empty(WriteAheadLog.ListSegments(_dir.Path));
        Assert.Empty(store.Entries);
    }

    [Fact]
    public async Task EntriesAndHardState_RoundTripAcrossOpen_ThroughTruncationsAndAppends()
    {
        var store = Open();
        var first = new[] { NoOp(1, 1), Command(2, 1), Command(3, 1, client: null), Command(4, 1, dataLength: 0), Command(5, 1, dataLength: 1000) };
        var replacement = new[] { NoOp(4, 2), Command(5, 2), Command(6, 2, client: "ü-client") };

        await store.WriteAsync(new StorageWrite(new HardState(1, "n1"), [new AppendToLog(first)]));
        Assert.Equal(first, store.Entries);

        await store.WriteAsync(new StorageWrite(new HardState(2, null), [new TruncateLog(4), new AppendToLog(replacement)]));
        await store.WriteAsync(Append(Command(7, 2)));
        await store.WriteAsync(new StorageWrite(null, [new TruncateLog(7)]));
        await store.WriteAsync(new StorageWrite(null, [new AppendToLog([Command(7, 3)]), new TruncateLog(99)]));

        LogEntry[] expected = [.. first[..3], .. replacement, Command(7, 3)];
        Assert.Equal(expected, store.Entries);
        Assert.Equal(new HardState(2, null), store.HardState);

        var reopened = Open();
        Assert.Equal(expected, reopened.Entries);
        Assert.Equal(new HardState(2, null), reopened.HardState);
        Assert.Equal(expected.Select(e => e.Command?.Data), reopened.Entries.Select(e => e.Command?.Data));

        // the reopened store writes on from there, and a third opening sees both
        await reopened.WriteAsync(new StorageWrite(null, [new TruncateLog(2), new AppendToLog([NoOp(2, 4)])]));
        Assert.Equal([first[0], NoOp(2, 4)], Open().Entries);
    }

    [Fact]
    public async Task TruncatingEverything_ThenAppending_RoundTrips()
    {
        var store = Open();
        await store.WriteAsync(Append([.. Range(1, 10, 1)]));

        await store.WriteAsync(new StorageWrite(null, [new TruncateLog(1)]));
        Assert.Empty(store.Entries);
        store = Open();
        Assert.Empty(store.Entries);

        await store.WriteAsync(Append(NoOp(1, 2)));
        Assert.Equal([NoOp(1, 2)], Open().Entries);
    }

    // Entries hands out snapshots: what a reader holds does not change under it.
    [Fact]
    public async Task Entries_IsASnapshot_UnchangedByLaterWrites()
    {
        var store = Open();
        await store.WriteAsync(Append([.. Range(1, 20, 1)]));
        var before = store.Entries;
        var copy = before.ToList();

        await store.WriteAsync(new StorageWrite(null, [new TruncateLog(5), new AppendToLog([.. Range(5, 40, 2)])]));

        Assert.Equal(copy, before);
        Assert.Equal(20, before.Count);
        Assert.Equal(40, store.Entries.Count);
        Assert.Throws<ArgumentOutOfRangeException>(() => before[20]);
    }

    // ---- refused batches -------------------------------------------------------------------

    [Theory]
    [InlineData("gap", 5L)]
    [InlineData("repeat", 3L)]
    [InlineData("zero", 0L)]
    public async Task ABatchThatBreaksContiguity_IsRefusedBeforeAnythingIsWritten_AndTheStoreCarriesOn(string name, long index)
    {
        var store = Open();
        await store.WriteAsync(Append(NoOp(1, 1), NoOp(2, 1)));
        var end = WalFiles.RecordsEnd(SegmentPath(1));

        var write = store.WriteAsync(new StorageWrite(new HardState(9, "n9"), [new AppendToLog([NoOp(3, 1)]), new AppendToLog([NoOp(index, 1)])]));

        await Assert.ThrowsAsync<ArgumentException>(() => write);
        Assert.Equal(end, WalFiles.RecordsEnd(SegmentPath(1)));
        Assert.True(WalFiles.ZerosFrom(SegmentPath(1), end));
        Assert.Equal(2, store.Entries.Count);
        Assert.Equal(HardState.Initial, store.HardState);
        await store.WriteAsync(Append(NoOp(3, 1)));
        Assert.Equal(3, Open().Entries.Count);
        _ = name;
    }

    [Fact]
    public async Task TruncatingFromIndexZero_IsRefused()
    {
        var store = Open();

        await Assert.ThrowsAsync<ArgumentException>(() => store.WriteAsync(new StorageWrite(null, [new TruncateLog(0)])));
    }

    // ---- torn tails ------------------------------------------------------------------------

    public static TheoryData<string> LastRecords() => new() { "command", "no-op", "truncate", "large command" };

    private static LogOperation LastOperation(string kind) => kind switch
    {
        "command" => new AppendToLog([Command(3, 1)]),
        "no-op" => new AppendToLog([NoOp(3, 2)]),
        "truncate" => new TruncateLog(2),
        "large command" => new AppendToLog([Command(3, 1, dataLength: 300)]),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    // A crash while the last record was being written leaves any prefix of it on disk, followed
    // by the segment's preallocated zeros. At every such length the store opens with exactly the
    // entries before that record, zeroes the partial record, and takes writes again.
    [Theory]
    [MemberData(nameof(LastRecords))]
    public async Task AFileCutAtEveryByteOffsetWithinItsLastRecord_RecoversTheEntriesBeforeIt(string kind)
    {
        var store = Open(options: Page);
        LogEntry[] before = [NoOp(1, 1), Command(2, 1)];
        await store.WriteAsync(new StorageWrite(new HardState(1, "n2"), [new AppendToLog(before)]));
        var recordStart = WalFiles.RecordsEnd(SegmentPath(1));
        await store.WriteAsync(new StorageWrite(null, [LastOperation(kind)]));
        store.Dispose();
        var whole = File.ReadAllBytes(SegmentPath(1));
        var recordEnd = WalFiles.RecordsEnd(whole);
        Assert.True(recordEnd > recordStart + WriteAheadLog.RecordHeaderSize);
        Assert.Equal(Page.SegmentSize, whole.Length);

        for (var cut = recordStart; cut < recordEnd; cut++)
        {
            if (whole.AsSpan(cut, recordEnd - cut).IndexOfAnyExcept((byte)0) < 0)
                break; // the rest of the record is zeros (a truncation's index): cut there, it is on disk whole

            var directory = CopyDirectory($"cut-{cut}");
            var segment = SegmentPath(1, directory);
            File.WriteAllBytes(segment, [.. whole[..cut], .. new byte[whole.Length - cut]]);

            var recovered = Open(directory, Page);

            Assert.True(before.SequenceEqual(recovered.Entries), $"{kind}, cut at {cut}: {recovered.Entries.Count} entries");
            Assert.Equal(new HardState(1, "n2"), recovered.HardState);
            Assert.Equal(recordStart, WalFiles.RecordsEnd(segment));
            Assert.True(WalFiles.ZerosFrom(segment, recordStart), $"{kind}, cut at {cut}: the partial record is still there");
            Assert.Equal(whole.Length, new FileInfo(segment).Length);

            await recovered.WriteAsync(Append(Command(3, 5)));
            recovered.Dispose();
            Assert.Equal([.. before, Command(3, 5)], Open(directory, Page).Entries);
        }
    }

    // A batch is many records; a crash in the middle keeps the records that made it whole.
    [Fact]
    public async Task AFileCutAnywhereInItsLastBatch_KeepsTheWholeRecordsBeforeTheCut()
    {
        var store = Open(options: Page);
        await store.WriteAsync(Append(NoOp(1, 1)));
        var ends = new List<int> { WalFiles.RecordsEnd(SegmentPath(1)) };
        var batch = Range(2, 6, 1).ToArray();
        foreach (var entry in batch) // learn where each record of the batch ends
        {
            await store.WriteAsync(Append(entry));
            ends.Add(WalFiles.RecordsEnd(SegmentPath(1)));
        }

        store.Dispose();
        var whole = File.ReadAllBytes(SegmentPath(1));

        for (var cut = ends[0]; cut < ends[^1]; cut += 3)
        {
            var directory = CopyDirectory($"cut-{cut}");
            File.WriteAllBytes(SegmentPath(1, directory), [.. whole[..cut], .. new byte[whole.Length - cut]]);

            var whole_records = ends.Count(end => end <= cut) - 1;

            Assert.Equal([NoOp(1, 1), .. batch[..whole_records]], Open(directory, Page).Entries);
        }
    }

    // The file system may leave zeros after the last record (space allocated, data never written);
    // zeros, and a partial record followed by zeros, are an end, not damage.
    [Theory]
    [InlineData(0, 1)]
    [InlineData(0, 4096)]
    [InlineData(10, 4096)]
    [InlineData(20, 100)]
    public async Task ZerosAfterTheTail_AreTheEnd_NotCorruption(int partialRecordBytes, int zeros)
    {
        var store = Open(options: Page);
        LogEntry[] entries = [.. Range(1, 3, 1)];
        await store.WriteAsync(Append(entries));
        var end = WalFiles.RecordsEnd(SegmentPath(1));
        await store.WriteAsync(Append(Command(4, 1)));
        store.Dispose();
        var bytes = File.ReadAllBytes(SegmentPath(1));
        File.WriteAllBytes(SegmentPath(1), [.. bytes[..(end + partialRecordBytes)], .. new byte[zeros]]);

        var reopened = Open(options: Page);

        Assert.Equal(entries, reopened.Entries);
        Assert.Equal(end, WalFiles.RecordsEnd(SegmentPath(1)));
        Assert.True(WalFiles.ZerosFrom(SegmentPath(1), end));
    }

    // ---- damage before the tail ------------------------------------------------------------

    public static TheoryData<int> EarlyRecords() => new() { 0, 1 };

    // A flipped bit in any byte of a record that is not the last — its length, checksum, type or
    // payload — is damage, not a torn write: the store refuses to open, names the file and the
    // record's offset, and leaves the file as it found it.
    [Theory]
    [MemberData(nameof(EarlyRecords))]
    public async Task AFlippedBitInARecordBeforeTheLast_IsRefusedNamingTheFileAndOffset(int record)
    {
        var store = Open(options: Page);
        var starts = new List<int>();
        foreach (var entry in new[] { Command(1, 1), NoOp(2, 1), Command(3, 1) })
        {
            starts.Add(File.Exists(SegmentPath(1)) ? WalFiles.RecordsEnd(SegmentPath(1)) : WriteAheadLog.SegmentHeaderSize);
            await store.WriteAsync(Append(entry));
        }

        store.Dispose();
        var path = SegmentPath(1);
        var good = File.ReadAllBytes(path);
        var start = starts[record];
        var end = starts[record + 1];

        for (var offset = start; offset < end; offset++)
        for (var bit = 0; bit < 8; bit++)
        {
            var damaged = (byte[])good.Clone();
            damaged[offset] ^= (byte)(1 << bit);
            File.WriteAllBytes(path, damaged);

            var e = Assert.Throws<RaftStorageException>(() => Open(options: Page));

            Assert.True(e.Message.Contains(path, StringComparison.Ordinal) && e.Message.Contains($"byte offset {start}", StringComparison.Ordinal),
                $"record {record}, byte {offset}, bit {bit}: {e.Message}");
            Assert.Equal(damaged, File.ReadAllBytes(path));
        }
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(3u)]
    [InlineData(1000u)]
    [InlineData(uint.MaxValue)]
    public async Task ABadLengthBeforeTheLastRecord_IsRefused(uint length)
    {
        var store = Open();
        await store.WriteAsync(Append(Command(1, 1)));
        await store.WriteAsync(Append(Command(2, 1)));
        store.Dispose();
        var bytes = File.ReadAllBytes(SegmentPath(1));
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(WriteAheadLog.SegmentHeaderSize), length);
        File.WriteAllBytes(SegmentPath(1), bytes);

        var e = Assert.Throws<RaftStorageException>(() => Open());

        Assert.Contains($"{SegmentPath(1)}: damaged record at byte offset {WriteAheadLog.SegmentHeaderSize}", e.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// Writes entries 1 to <paramref name="last"/>, enough for several segments, and closes the
    /// store; returns the first segment: its path, its bytes and where its records end.
    /// </summary>
    private async Task<(string Path, byte[] Bytes, int End)> FirstOfSeveralSegments(FileRaftStorageOptions options, int last)
    {
        var store = Open(options: options);
        await store.WriteAsync(Append([.. Range(1, last, 1)]));
        store.Dispose();
        Assert.True(WriteAheadLog.ListSegments(_dir.Path).Count >= 2);
        var bytes = File.ReadAllBytes(SegmentPath(1));
        return (SegmentPath(1), bytes, WalFiles.RecordsEnd(bytes));
    }

    // Every segment but the last was fsynced before the next began, so damage at its end is not
    // a torn write either.
    [Fact]
    public async Task DamageAtTheEndOfASegmentThatIsNotTheLast_IsRefused()
    {
        var (path, bytes, end) = await FirstOfSeveralSegments(Small, 30);

        File.WriteAllBytes(path, bytes[..(end - 1)]);
        var cut = Assert.Throws<RaftStorageException>(() => Open(options: Small));
        bytes[end - 1] ^= 1;
        File.WriteAllBytes(path, bytes);
        var flipped = Assert.Throws<RaftStorageException>(() => Open(options: Small));

        Assert.Contains(path, cut.Message, StringComparison.Ordinal);
        Assert.Contains("not in the last segment", cut.Message, StringComparison.Ordinal);
        Assert.Contains(path, flipped.Message, StringComparison.Ordinal);
    }

    // Zeros in place of an earlier segment's last records read as an earlier end. Here they hide
    // a truncation and the appends after it, so the log's last index where the next segment
    // begins is the same either way: only the next header's record of where the segment ends
    // tells, and the store must not open with the truncated entries back.
    [Fact]
    public async Task RecordsLostAtTheEndOfAnEarlierSegment_AreRefused_EvenWhenTheLastIndexIsTheSame()
    {
        var store = Open(options: Small);
        await store.WriteAsync(Append(NoOp(1, 1), NoOp(2, 1), NoOp(3, 1)));
        await store.WriteAsync(new StorageWrite(null, [new TruncateLog(2), new AppendToLog([NoOp(2, 2), NoOp(3, 2)])]));
        await store.WriteAsync(Append(Command(4, 2, dataLength: 150))); // too big for what is left of segment 1
        store.Dispose();
        var first = File.ReadAllBytes(SegmentPath(1));
        var ends = WalFiles.RecordEnds(first);
        Assert.Equal(6, ends.Count); // three appends, the truncation, two appends
        Assert.Equal((uint)ends[^1], BinaryPrimitives.ReadUInt32LittleEndian(File.ReadAllBytes(SegmentPath(2)).AsSpan(24)));

        first.AsSpan(ends[2], ends[5] - ends[2]).Clear();
        File.WriteAllBytes(SegmentPath(1), first);

        var refused = Assert.Throws<RaftStorageException>(() => Open(options: Small));
        Assert.Contains(SegmentPath(1), refused.Message, StringComparison.Ordinal);
        Assert.Contains($"end at byte offset {ends[2]}, but the next segment's header", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AFlippedBitInASegmentHeader_IsRefusedNamingTheFile()
    {
        var store = Open();
        await store.WriteAsync(Append(Command(1, 1)));
        store.Dispose();
        var path = SegmentPath(1);
        var good = File.ReadAllBytes(path);

        for (var offset = 0; offset < WriteAheadLog.SegmentHeaderSize; offset++)
        {
            var damaged = (byte[])good.Clone();
            damaged[offset] ^= 0x10;
            File.WriteAllBytes(path, damaged);

            var e = Assert.Throws<RaftStorageException>(() => Open());

            Assert.True(e.Message.Contains(path, StringComparison.Ordinal) && e.Message.Contains("byte offset", StringComparison.Ordinal),
                $"byte {offset}: {e.Message}");
        }
    }

    // Records that pass their checksum but make no sense were written by a buggy writer, not cut
    // short by a crash: refused even as the last record.
    public static TheoryData<string, int> NonsenseRecords() => new()
    {
        { "an entry index skipped", 2 },
        { "an entry index repeated", 2 },
        { "a truncation beyond the end", 2 },
        { "a truncation from zero", 2 },
        { "an unknown record type", 2 },
        { "an entry payload that does not decode", 2 },
    };

    [Theory]
    [MemberData(nameof(NonsenseRecords))]
    public void ARecordThatPassesItsChecksumButMakesNoSense_IsRefusedEvenAtTheTail(string kind, int badRecord)
    {
        var writer = new ArrayBufferWriter<byte>();
        writer.Write(WriteAheadLog.SegmentHeader(1, 0));
        var starts = new List<int>();
        void Entry(LogEntry entry)
        {
            starts.Add(writer.WrittenCount);
            WriteAheadLog.WriteEntryRecord(writer, entry);
        }

        Entry(NoOp(1, 1));
        Entry(NoOp(2, 1));
        starts.Add(writer.WrittenCount);
        switch (kind)
        {
            case "an entry index skipped":
                WriteAheadLog.WriteEntryRecord(writer, NoOp(4, 1));
                break;
            case "an entry index repeated":
                WriteAheadLog.WriteEntryRecord(writer, NoOp(2, 1));
                break;
            case "a truncation beyond the end":
                WriteAheadLog.WriteTruncateRecord(writer, 3);
                break;
            case "a truncation from zero":
                WriteAheadLog.WriteTruncateRecord(writer, 0);
                break;
            case "an unknown record type":
                RawRecord(writer, 9, [1, 2, 3]);
                break;
            case "an entry payload that does not decode":
                RawRecord(writer, WriteAheadLog.EntryRecord, [0x80]);
                break;
        }

        var path = SegmentPath(1);
        File.WriteAllBytes(path, writer.WrittenSpan.ToArray());

        var e = Assert.Throws<RaftStorageException>(() => Open());

        Assert.True(e.Message.Contains(path, StringComparison.Ordinal) && e.Message.Contains($"byte offset {starts[badRecord]}", StringComparison.Ordinal),
            $"{kind}: {e.Message}");
    }

    private static void RawRecord(ArrayBufferWriter<byte> writer, byte type, byte[] payload)
    {
        var body = new byte[] { type }.Concat(payload).ToArray();
        var header = new byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(header, (uint)body.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(4), Crc32C.Compute(body));
        writer.Write(header);
        writer.Write(body);
    }

    // ---- segments --------------------------------------------------------------------------

    [Fact]
    public async Task Segments_RollOverAtTheConfiguredSize_AndReopenAcrossSeveral()
    {
        var store = Open(options: Small);
        var expected = new List<LogEntry>();
        var next = 1L;
        foreach (var size in new[] { 1, 7, 1, 1, 20, 3, 1, 40 })
        {
            var batch = Range(next, next + size - 1, 1).ToArray();
            await store.WriteAsync(Append(batch));
            expected.AddRange(batch);
            next += size;
        }

        var segments = WriteAheadLog.ListSegments(_dir.Path);
        Assert.True(segments.Count >= 10, $"{segments.Count} segments");
        Assert.Equal(Enumerable.Range(1, segments.Count).Select(i => (long)i), segments.Select(s => s.Sequence));
        Assert.All(segments, s => Assert.InRange(WalFiles.RecordsEnd(s.Path), WriteAheadLog.SegmentHeaderSize + 1, Small.SegmentSize));
        Assert.All(segments, s => Assert.Equal(Small.SegmentSize, new FileInfo(s.Path).Length)); // preallocated whole
        Assert.Equal(expected, store.Entries);

        Assert.Equal(expected, Open(options: Small).Entries);
        Assert.Equal(expected, Open().Entries); // the size is a writing choice; any size reads any log

        // the reopened store continues in the last segment, then rolls on
        var reopened = Open(options: Small);
        await reopened.WriteAsync(Append([.. Range(next, next + 9, 2)]));
        expected.AddRange(Range(next, next + 9, 2));
        Assert.Equal(expected, Open(options: Small).Entries);
        Assert.True(WriteAheadLog.ListSegments(_dir.Path).Count > segments.Count);
    }

    [Fact]
    public async Task ARecordLargerThanASegment_GetsASegmentOfItsOwn()
    {
        var store = Open(options: Small);
        LogEntry[] entries = [NoOp(1, 1), Command(2, 1, dataLength: 1000), NoOp(3, 1)];

        await store.WriteAsync(Append(entries));

        var segments = WriteAheadLog.ListSegments(_dir.Path);
        Assert.Equal(3, segments.Count);
        Assert.True(new FileInfo(segments[1].Path).Length > 1000);
        Assert.Equal(entries, Open(options: Small).Entries);
    }

    [Fact]
    public async Task TruncationAcrossASegmentBoundary_RoundTrips()
    {
        var store = Open(options: Small);
        await store.WriteAsync(Append([.. Range(1, 40, 1)]));
        var segmentsBefore = WriteAheadLog.ListSegments(_dir.Path).Count;
        Assert.True(segmentsBefore >= 4);

        // index 3 lives in the first segment; the truncation is recorded in the last
        await store.WriteAsync(new StorageWrite(new HardState(2, "n2"), [new TruncateLog(3), new AppendToLog([.. Range(3, 12, 2)])]));

        LogEntry[] expected = [.. Range(1, 2, 1), .. Range(3, 12, 2)];
        Assert.Equal(expected, store.Entries);
        var reopened = Open(options: Small);
        Assert.Equal(expected, reopened.Entries);
        Assert.Equal(new HardState(2, "n2"), reopened.HardState);
        Assert.True(WriteAheadLog.ListSegments(_dir.Path).Count >= segmentsBefore);

        await reopened.WriteAsync(new StorageWrite(null, [new TruncateLog(1), new AppendToLog([NoOp(1, 3)])]));
        Assert.Equal([NoOp(1, 3)], Open(options: Small).Entries);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(8)]
    [InlineData(20)]
    public async Task ATornTailInTheLastOfSeveralSegments_IsCutOff(int tornBytes)
    {
        var store = Open(options: Small);
        await store.WriteAsync(Append([.. Range(1, 30, 1)]));
        store.Dispose();
        var segments = WriteAheadLog.ListSegments(_dir.Path);
        Assert.True(segments.Count >= 3);
        var last = segments[^1].Path;
        var length = new FileInfo(last).Length;
        var end = WalFiles.RecordsEnd(last);
        var record = new ArrayBufferWriter<byte>();
        WriteAheadLog.WriteEntryRecord(record, Command(31, 1));
        using (var file = new FileStream(last, FileMode.Open))
        {
            file.Position = end;
            file.Write(record.WrittenSpan[..Math.Min(tornBytes, (int)(length - end))]);
        }

        var reopened = Open(options: Small);

        Assert.Equal(Range(1, 30, 1), reopened.Entries);
        Assert.Equal(length, new FileInfo(last).Length);
        Assert.True(WalFiles.ZerosFrom(last, end));
        await reopened.WriteAsync(Append(Command(31, 2)));
        Assert.Equal([.. Range(1, 30, 1), Command(31, 2)], Open(options: Small).Entries);
    }

    // Writes issued without waiting fill segment after segment, each preallocated whole.
    [Fact]
    public async Task Segments_RollOver_UnderWritesIssuedWithoutWaiting()
    {
        var store = Open(options: Page);
        var expected = Enumerable.Range(1, 400).Select(i => Command(i, 1)).ToList();

        await Task.WhenAll(expected.Select(entry => store.WriteAsync(Append(entry))).ToList());

        var segments = WriteAheadLog.ListSegments(_dir.Path);
        Assert.True(segments.Count >= 4, $"{segments.Count} segments");
        Assert.Equal(segments.Count, store.SegmentCount);
        Assert.All(segments, s => Assert.Equal(Page.SegmentSize, new FileInfo(s.Path).Length));
        Assert.Equal(expected, store.Entries);
        Assert.Equal(expected, Open(options: Page).Entries);
    }

    // Once the last segment is half full, the next one's file is written with zeros off the
    // writer's path, and moving on to it writes only its header; closed before that, the store
    // removes it.
    [Fact]
    public async Task TheNextSegment_IsPreparedOnceTheLastIsHalfFull_ThenUsed_OrRemovedAtClose()
    {
        var prepared = SegmentPath(2) + ".tmp";
        var store = Open(options: Page);
        var expected = Range(1, 10, 1).ToList();
        await store.WriteAsync(Append([.. expected]));
        Assert.True(WalFiles.RecordsEnd(SegmentPath(1)) * 2 < Page.SegmentSize);
        Assert.False(File.Exists(prepared));

        async Task WriteOneMore()
        {
            var entry = Command(expected.Count + 1, 1);
            await store.WriteAsync(Append(entry));
            expected.Add(entry);
        }

        while (WalFiles.RecordsEnd(SegmentPath(1)) * 2 < Page.SegmentSize)
            await WriteOneMore();
        Assert.True(SpinWait.SpinUntil(() => File.Exists(prepared), TimeSpan.FromSeconds(10)), "the next segment is not being prepared");
        store.Dispose();
        Assert.False(File.Exists(prepared));

        store = Open(options: Page);
        while (!File.Exists(SegmentPath(2)))
            await WriteOneMore();
        Assert.Equal(Page.SegmentSize, new FileInfo(SegmentPath(2)).Length);
        Assert.False(File.Exists(prepared));
        Assert.Equal(expected, store.Entries);
        Assert.Equal(expected, Open(options: Page).Entries);
    }

    // ---- preallocated segments: the end of the records -------------------------------------

    // Bytes that are not zero after the end of the last segment's records are a write cut short
    // (whatever they are): cut off by zeroing them, the file keeping its size.
    [Theory]
    [InlineData(0)]    // where the next record's header goes
    [InlineData(100)]  // in the same sector
    [InlineData(3000)] // sectors later
    public async Task NonZeroBytesAfterTheEndOfTheLastSegment_AreCutOff(int distance)
    {
        var store = Open(options: Page);
        await store.WriteAsync(Append([.. Range(1, 5, 1)]));
        store.Dispose();
        var path = SegmentPath(1);
        var bytes = File.ReadAllBytes(path);
        var end = WalFiles.RecordsEnd(bytes);
        bytes[end + distance] = 0x5A;
        bytes[end + distance + 1] = 0x17;
        File.WriteAllBytes(path, bytes);

        var reopened = Open(options: Page);

        Assert.Equal(Range(1, 5, 1), reopened.Entries);
        Assert.True(WalFiles.ZerosFrom(path, end));
        Assert.Equal(Page.SegmentSize, new FileInfo(path).Length);
        await reopened.WriteAsync(Append(Command(6, 1)));
        Assert.Equal([.. Range(1, 5, 1), Command(6, 1)], Open(options: Page).Entries);
    }

    // A segment before the last was durable before the next began: anything but zeros after its
    // records is damage, refused naming the file, where the records end and the byte that is not zero.
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task NonZeroBytesAfterTheEndOfAnEarlierSegment_AreRefusedNamingTheFileAndOffset(bool atTheFileEnd)
    {
        var (path, bytes, end) = await FirstOfSeveralSegments(Page, 200);
        var at = atTheFileEnd ? bytes.Length - 1 : end + WriteAheadLog.RecordHeaderSize;
        Assert.True(at > end && end + WriteAheadLog.RecordHeaderSize < bytes.Length);
        bytes[at] = 1;
        File.WriteAllBytes(path, bytes);

        var e = Assert.Throws<RaftStorageException>(() => Open(options: Page));

        Assert.Contains($"{path}: the records end at byte offset {end}", e.Message, StringComparison.Ordinal);
        Assert.Contains($"byte offset {at} after the end is not zero", e.Message, StringComparison.Ordinal);
        Assert.Equal(bytes, File.ReadAllBytes(path));
    }

    // A disk writes the sectors of one write in any order: a crash can leave a later sector of the
    // last batch written and an earlier one not (still zeros). The records after that gap were
    // never acknowledged: the log ends at the first record it damaged.
    [Fact]
    public async Task ABatchWithAnUnwrittenSectorBeforeWrittenOnes_IsCutAtTheFirstRecordItDamaged()
    {
        var store = Open(options: Page);
        await store.WriteAsync(Append(NoOp(1, 1)));
        var batch = Range(2, 60, 1).ToArray();
        await store.WriteAsync(Append(batch));
        store.Dispose();
        var path = SegmentPath(1);
        var bytes = File.ReadAllBytes(path);
        var ends = WalFiles.RecordEnds(bytes);
        Assert.True(ends[^1] > 1536, $"the batch ends at {ends[^1]}, before its fourth sector");
        Array.Clear(bytes, 512, 512);
        File.WriteAllBytes(path, bytes);
        var kept = ends.Count(end => end <= 512);

        var reopened = Open(options: Page);

        Assert.Equal([NoOp(1, 1), .. batch[..(kept - 1)]], reopened.Entries);
        Assert.True(WalFiles.ZerosFrom(path, ends[kept - 1]));
    }

    // ---- logs of the first format: segments appended to, not preallocated ------------------

    /// <summary>A version 1 segment as the appending writer made it: header, records, nothing after them.</summary>
    private static byte[] AppendedSegment(long sequence, long lastIndexBefore, IEnumerable<LogEntry> entries)
    {
        var header = WriteAheadLog.SegmentHeader(sequence, lastIndexBefore);
        header[7] = 1;
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(28), Crc32C.Compute(header.AsSpan(0, 28)));
        var writer = new ArrayBufferWriter<byte>();
        writer.Write(header);
        foreach (var entry in entries)
            WriteAheadLog.WriteEntryRecord(writer, entry);
        return writer.WrittenSpan.ToArray();
    }

    [Fact]
    public async Task AnAppendedLogOfTheFirstFormat_Opens_LosesItsTornTail_AndIsWrittenOn()
    {
        var first = AppendedSegment(1, 0, Range(1, 10, 1));
        var last = AppendedSegment(2, 10, Range(11, 15, 1));
        var torn = new ArrayBufferWriter<byte>();
        WriteAheadLog.WriteEntryRecord(torn, Command(16, 1));
        File.WriteAllBytes(SegmentPath(1), first);
        File.WriteAllBytes(SegmentPath(2), [.. last, .. torn.WrittenSpan[..5]]);

        var store = Open(options: Page);

        Assert.Equal(Range(1, 15, 1), store.Entries);
        Assert.Equal(last.Length, new FileInfo(SegmentPath(2)).Length); // truncated, as a version 1 file is

        // the last segment grows as before until it is full; the segments after it are preallocated
        await store.WriteAsync(Append([.. Range(16, 200, 1)]));
        Assert.Equal(1, File.ReadAllBytes(SegmentPath(2))[7]);
        Assert.InRange(new FileInfo(SegmentPath(2)).Length, last.Length + 1, Page.SegmentSize);
        Assert.Equal(WalFiles.RecordsEnd(SegmentPath(2)), new FileInfo(SegmentPath(2)).Length);
        Assert.Equal(2, File.ReadAllBytes(SegmentPath(3))[7]);
        Assert.Equal(Page.SegmentSize, new FileInfo(SegmentPath(3)).Length);
        Assert.Equal(Range(1, 200, 1), Open(options: Page).Entries);
        Assert.Equal(Range(1, 200, 1), Open().Entries);
    }

    // A version 1 segment before the last ended on its last record: zeros after it are damage.
    [Fact]
    public void ZerosAfterTheRecordsOfAnEarlierSegmentOfTheFirstFormat_AreRefused()
    {
        File.WriteAllBytes(SegmentPath(1), [.. AppendedSegment(1, 0, Range(1, 10, 1)), .. new byte[100]]);
        File.WriteAllBytes(SegmentPath(2), AppendedSegment(2, 10, Range(11, 15, 1)));

        var e = Assert.Throws<RaftStorageException>(() => Open());

        Assert.Contains(SegmentPath(1), e.Message, StringComparison.Ordinal);
        Assert.Contains("not in the last segment", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AMissingSegment_IsRefusedNamingIt()
    {
        var store = Open(options: Small);
        await store.WriteAsync(Append([.. Range(1, 30, 1)]));
        store.Dispose();
        File.Delete(SegmentPath(2));

        var e = Assert.Throws<RaftStorageException>(() => Open());

        Assert.Contains(SegmentPath(2), e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AMissingFirstSegment_IsRefusedNamingIt()
    {
        var store = Open(options: Small);
        await store.WriteAsync(Append([.. Range(1, 30, 1)]));
        store.Dispose();
        File.Delete(SegmentPath(1));

        var e = Assert.Throws<RaftStorageException>(() => Open());

        Assert.Contains(SegmentPath(1), e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ALeftoverTemporarySegment_IsRemoved_AndTheLogIsIntact()
    {
        var store = Open();
        await store.WriteAsync(Append(NoOp(1, 1)));
        store.Dispose();
        var leftover = SegmentPath(2) + ".tmp";
        File.WriteAllBytes(leftover, WriteAheadLog.SegmentHeader(2, 1)[..10]);

        var reopened = Open();

        Assert.False(File.Exists(leftover));
        Assert.Equal([NoOp(1, 1)], reopened.Entries);
        await reopened.WriteAsync(Append(NoOp(2, 1)));
        Assert.Equal(2, Open().Entries.Count);
    }

    [Theory]
    [InlineData(10)]
    [InlineData(FileRaftStorageOptions.MaximumSegmentSize + 1)]
    public void SegmentSize_OutsideItsRange_IsRefused(long size)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => FileRaftStorage.Open(_dir.Path, new FileRaftStorageOptions { SegmentSize = size }));
    }

    // The layout documented on WriteAheadLog, pinned so that a change of format is a deliberate one.
    [Fact]
    public async Task SegmentLayout_FollowsTheDocumentedFormat()
    {
        var store = Open();
        await store.WriteAsync(new StorageWrite(null, [new AppendToLog([NoOp(1, 7), NoOp(2, 7)]), new TruncateLog(2)]));
        store.Dispose();

        var bytes = File.ReadAllBytes(_dir.File("wal-0000000000000001.log"));

        Assert.Equal("RAFTWAL\u0002"u8.ToArray(), bytes[..8]);
        Assert.Equal(FileRaftStorageOptions.DefaultSegmentSize, bytes.Length);
        Assert.Equal(1, BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(8)));
        Assert.Equal(0, BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(16)));
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(24))); // the first segment: none before it
        Assert.Equal(Crc32C.Compute(bytes.AsSpan(0, 28)), BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(28)));
        var records = bytes[32..WalFiles.RecordsEnd(bytes)];
        Assert.True(WalFiles.ZerosFrom(_dir.File("wal-0000000000000001.log"), 32 + records.Length));
        Assert.Equal(
            new byte[] { 4, 0, 0, 0 }.Concat(Crc(1, 0, 1, 7)).Concat(new byte[] { 1, 0, 1, 7 })
                .Concat(new byte[] { 4, 0, 0, 0 }).Concat(Crc(1, 0, 2, 7)).Concat(new byte[] { 1, 0, 2, 7 })
                .Concat(new byte[] { 9, 0, 0, 0 }).Concat(Crc(2, 2, 0, 0, 0, 0, 0, 0, 0)).Concat(new byte[] { 2, 2, 0, 0, 0, 0, 0, 0, 0 }),
            records);
        Assert.Equal([NoOp(1, 7)], Open().Entries);

        static byte[] Crc(params byte[] body)
        {
            var crc = new byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(crc, Crc32C.Compute(body));
            return crc;
        }
    }

    // ---- group commit and ordering ---------------------------------------------------------

    [Fact]
    public async Task ABatchOfAThousandEntries_CostsOneFsync()
    {
        var store = Open();
        await store.WriteAsync(Append(NoOp(1, 1))); // creates the segment: its own fsyncs
        var before = store.FsyncCount;

        await store.WriteAsync(Append([.. Range(2, 1001, 1, dataLength: 128)]));

        Assert.Equal(1, store.FsyncCount - before);
        Assert.Equal(1001, Open().Entries.Count);
    }

    [Fact]
    public async Task FsyncCounts_OfEachKindOfWrite()
    {
        var store = Open();

        await store.WriteAsync(Append(NoOp(1, 1)));
        Assert.Equal(3, store.FsyncCount); // new segment: its temporary file and the directory; then the batch

        await store.SaveHardStateAsync(new HardState(1, "n1"));
        Assert.Equal(5, store.FsyncCount); // the hard state file and the directory; no log write

        await store.WriteAsync(new StorageWrite(new HardState(2, "n2"), [new TruncateLog(1), new AppendToLog([.. Range(1, 50, 2)])]));
        Assert.Equal(8, store.FsyncCount); // hard state (2) and the whole log batch (1)
    }

    [Fact]
    public async Task WithFsyncOff_WritesReachTheFilesWithoutAnyFsync()
    {
        var store = Open(options: new FileRaftStorageOptions { Fsync = false, SegmentSize = 256 });

        await store.WriteAsync(new StorageWrite(new HardState(3, "n2"), [new AppendToLog([.. Range(1, 40, 3)])]));

        Assert.Equal(0, store.FsyncCount);
        Assert.True(WriteAheadLog.ListSegments(_dir.Path).Count > 1, "the batch should have filled several segments");
        store.Dispose();
        var reopened = Open();
        Assert.Equal(new HardState(3, "n2"), reopened.HardState);
        Assert.Equal(Range(1, 40, 3), reopened.Entries);
    }

    [Fact]
    public async Task WritesIssuedWithoutWaiting_CompleteInOrder()
    {
        var store = Open(options: new FileRaftStorageOptions { SegmentSize = 4096 });
        var issued = new Task[300];
        var outOfOrder = new ConcurrentQueue<string>();
        var seenAtCompletion = new ConcurrentDictionary<long, int>();

        var observed = new List<Task>();
        for (var n = 1; n <= 300; n++)
        {
            var i = n;
            var write = i % 10 == 0
                ? new StorageWrite(new HardState(i, null), [new AppendToLog([NoOp(i, 1)])])
                : Append(Command(i, 1));
            issued[i - 1] = store.WriteAsync(write);

            // Continuations of different writes may run on different threads in any order; what
            // must hold is that when a write completes, every write issued before it has too.
            observed.Add(issued[i - 1].ContinueWith(
                t =>
                {
                    t.GetAwaiter().GetResult();
                    var unfinished = issued.Take(i - 1).Count(earlier => !earlier.IsCompleted);
                    if (unfinished > 0)
                        outOfOrder.Enqueue($"write {i} completed before {unfinished} earlier writes");
                    seenAtCompletion[i] = store.Entries.Count;
                },
                TaskContinuationOptions.ExecuteSynchronously));
        }

        await Task.WhenAll(observed);

        Assert.Empty(outOfOrder);
        Assert.All(seenAtCompletion, kv => Assert.True(kv.Value >= kv.Key, $"write {kv.Key} completed with {kv.Value} entries visible"));
        Assert.Equal(new HardState(300, null), store.HardState);
        Assert.Equal(300, Open().Entries.Count);
    }

    [Fact]
    public async Task WritesFromManyThreads_AreSerialized()
    {
        var store = Open();
        var gate = new SemaphoreSlim(1, 1);
        var next = 0L;

        // each thread appends the next index under a lock that covers only the call, not the write
        await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            var pending = new List<Task>();
            for (var k = 0; k < 25; k++)
            {
                await gate.WaitAsync();
                try
                {
                    next++;
                    pending.Add(store.WriteAsync(Append(NoOp(next, 1))));
                }
                finally
                {
                    gate.Release();
                }
            }

            await Task.WhenAll(pending);
        })));

        Assert.Equal(Enumerable.Range(1, 200).Select(i => NoOp(i, 1)), Open().Entries);
    }

    [Fact]
    public async Task WriteAsync_ReturnsBeforeTheWriteRuns()
    {
        var store = Open();
        var blocker = new TaskCompletionSource();
        // a first write that cannot finish: later ones queue behind it
        var slow = store.WriteAsync(new StorageWrite(null, [new AppendToLog(new BlockingList(blocker.Task, NoOp(1, 1)))]));

        var queued = store.WriteAsync(Append(NoOp(2, 1)));

        Assert.False(slow.IsCompleted);
        Assert.False(queued.IsCompleted);
        blocker.SetResult();
        await queued;
        Assert.Equal(2, store.Entries.Count);
    }

    [Fact]
    public async Task Dispose_WaitsForIssuedWrites_ThenRefusesMore()
    {
        var store = Open();
        var writes = Enumerable.Range(1, 20).Select(i => store.WriteAsync(Append(NoOp(i, 1)))).ToList();

        store.Dispose();

        Assert.All(writes, w => Assert.True(w.IsCompletedSuccessfully));
        Assert.Throws<ObjectDisposedException>(() => { _ = store.WriteAsync(Append(NoOp(21, 1))); }); // thrown at the call
        Assert.Equal(20, Open().Entries.Count);
        await Task.WhenAll(writes);
    }

    /// <summary>A list whose enumeration waits for a signal: holds a write at a known point.</summary>
    private sealed class BlockingList(Task signal, params LogEntry[] entries) : IReadOnlyList<LogEntry>
    {
        public int Count => entries.Length;

        public LogEntry this[int index] => entries[index];

        public IEnumerator<LogEntry> GetEnumerator()
        {
            signal.Wait();
            return ((IEnumerable<LogEntry>)entries).GetEnumerator();
        }

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }
}
