using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Text.RegularExpressions;
using RaftActors.Core;
using RaftActors.Serialization;

namespace RaftActors.Storage;

/// <summary>One change to the log as written to the WAL: an entry, a truncation, or a reset after a snapshot.</summary>
internal readonly record struct WalRecord(byte Type, LogEntry? Entry, long Index)
{
    public static WalRecord Append(LogEntry entry) => new(WriteAheadLog.EntryRecord, entry, entry.Index);

    public static WalRecord Truncate(long fromIndex) => new(WriteAheadLog.TruncateRecord, null, fromIndex);

    public static WalRecord Reset(long afterIndex) => new(WriteAheadLog.ResetRecord, null, afterIndex);

    /// <summary>The log's last index after this record, given the last index before it.</summary>
    public long LastIndexAfter(long lastIndexBefore) => Type switch
    {
        WriteAheadLog.EntryRecord => Index,
        WriteAheadLog.TruncateRecord => Math.Min(lastIndexBefore, Index - 1),
        _ => Index,
    };

    /// <summary>Carries the record out on the in-memory log.</summary>
    public void ApplyTo(LogBuffer log)
    {
        switch (Type)
        {
            case WriteAheadLog.EntryRecord:
                log.Append(Entry!);
                break;
            case WriteAheadLog.TruncateRecord:
                log.TruncateFrom(Index);
                break;
            default:
                log.ResetAfter(Index);
                break;
        }
    }
}

/// <summary>
/// The log's write-ahead log: segment files <c>wal-&lt;sequence&gt;.log</c> in the store's
/// directory, preallocated with zeros and filled with records, replayed in order at open.
/// </summary>
/// <remarks>
/// <para>A segment starts with a 32-byte header, then records back to back, then zeros to the
/// end of the file. All integers are little-endian.</para>
/// <code>
/// header  magic "RAFTWAL\x02" (8) | sequence u64 (8) | last index before this segment i64 (8)
///         | previous segment's records end u32 (4) | crc32c of the previous 28 bytes (4)
/// record  length u32 (4) | crc32c u32 (4) of type+payload | type u8 (1) | payload (length - 1)
///         type 1, entry:    payload = <see cref="LogEntryFormat"/> encoding of the entry
///         type 2, truncate: payload = fromIndex i64 (8); entries fromIndex.. are deleted
///         type 3, reset:    payload = afterIndex i64 (8); every entry is deleted, and the log
///                           continues after afterIndex (a snapshot's last entry)
/// </code>
/// <para>A record's length counts its type byte, so it is never 0: a record header of zeros is
/// no record, and marks the end of the records. Version 1 segments (magic "RAFTWAL\x01", same
/// layout) were not preallocated: they end where the file ends. They are still read, and the
/// last one is written on until it is full; new segments are version 2.</para>
/// <para>Segments are numbered consecutively (zero-padded to 16 digits), from 1 until compaction
/// deletes the oldest. A new segment is made complete on the side — <c>.tmp</c> with its header
/// and the rest of the segment size written as zeros (really written: a sparse file's first write
/// to each block is again a metadata change; the zeros are written ahead, off the writer's path,
/// once the last segment is half full), fsync, rename, fsync of the directory — and only after
/// the previous one is durable, so every segment but the last ends on a whole record, and
/// only the last can hold a torn write. Writes into the preallocated file change neither its
/// size nor its blocks, so each group commit makes only the data durable (fdatasync on Linux).
/// Its header's "last index before" is the log's last index where it begins, and "previous
/// segment's records end" the byte offset where the segment before it ends (0: not recorded, as
/// in the first segment and in segments of earlier builds): replay checks both against the
/// segment before, so records lost at an earlier segment's end — zeros where they were, which
/// read as an earlier end — are found even when the last index did not move (a truncation and
/// the appends after it). Replay starts at "last index before" when the segments before were
/// deleted. Once a snapshot covers every entry of the segments before segment k (the "last index
/// before" of k is at most the snapshot's index), compaction deletes them, oldest first. A crash
/// can leave some of them behind (deletions are not fsynced one by one): at open, the log is the
/// last run of consecutive segments, and older leftovers are deleted, provided a snapshot covers
/// everything before the run.</para>
/// <para>Recovery reads every record and checks its checksum. The records end where a record
/// header is all zeros and every byte after it is zero too (in version 1, in the last segment
/// only). In the last segment, a damaged or incomplete record is a write cut short by a crash
/// when no valid record follows it anywhere, or, in a preallocated segment, when a sector
/// between it and the next valid record was never written (zeros from the record, or the
/// sector's start, to the sector's end: a disk may write the sectors of one write in any order,
/// and what follows such a gap was never acknowledged): it and everything after it are cut off
/// (a version 1 file is truncated, a version 2 file zeroed again to its end). Any other damage —
/// in a segment before the last, any byte after the end that is not zero — and records that
/// pass their checksum but make no sense (entries out of sequence, an impossible truncation),
/// refuse the open with a <see cref="RaftStorageException"/> naming the file and byte offset.</para>
/// </remarks>
internal sealed partial class WriteAheadLog : IDisposable
{
    public const int SegmentHeaderSize = 32;
    public const int RecordHeaderSize = 8;
    public const int MaxRecordLength = 1 << 30;
    public const byte EntryRecord = 1;
    public const byte TruncateRecord = 2;
    public const byte ResetRecord = 3;

    // Bytes buffered in memory before they are written (not yet fsynced) to the segment.
    private const int FlushThreshold = 1 << 20;

    // Bytes of a sector, the unit a disk writes whole: a torn write leaves some unwritten.
    private const int SectorSize = 512;

    // The format versions (the magic's last byte): 1, segments that grow as records are appended;
    // 2, segments preallocated full size with zeros. This build writes 2 and reads both.
    private const byte AppendedVersion = 1;
    private const byte PreallocatedVersion = 2;

    private static ReadOnlySpan<byte> SegmentMagic => "RAFTWAL\u0002"u8;

    // Written to fill a new segment; never written to.
    private static readonly byte[] Zeros = new byte[256 * 1024];

    private readonly string _directory;
    private readonly long _segmentSize;
    private readonly DiskSync _sync;
    private readonly ArrayBufferWriter<byte> _buffer = new(64 * 1024);

    // Every segment, oldest first, with the log's last index where it begins.
    private readonly List<(long Sequence, long LastIndexBefore)> _segments;

    private long _sequence;        // the last segment's number; 0 while there is none
    private long _length;          // bytes of the last segment written so far
    private long _capacity;        // where records in the last segment stop fitting: its preallocated size
    private bool _unsynced;        // the last segment has writes not yet fsynced
    private FileStream? _segment;  // the last segment, opened at its first write

    // The next segment's temporary file being filled with zeros off the writer's path, once the
    // last segment is half full; null when none is.
    private (long Sequence, Task Task)? _preparing;

    private WriteAheadLog(string directory, long segmentSize, DiskSync sync, List<(long Sequence, long LastIndexBefore)> segments, long length, long capacity)
    {
        _directory = directory;
        _segmentSize = segmentSize;
        _sync = sync;
        _segments = segments;
        _sequence = segments.Count == 0 ? 0 : segments[^1].Sequence;
        _length = length;
        _capacity = capacity;
    }

    /// <summary>Segment files on disk now.</summary>
    public int SegmentCount => _segments.Count;

    public static string SegmentFileName(long sequence) =>
        $"wal-{sequence.ToString("D16", CultureInfo.InvariantCulture)}.log";

    [GeneratedRegex(@"^wal-(\d{16})\.log$")]
    private static partial Regex SegmentNamePattern();

    /// <summary>The segment files in the directory, in order.</summary>
    public static IReadOnlyList<(long Sequence, string Path)> ListSegments(string directory) =>
        Directory.EnumerateFiles(directory, "wal-*.log")
            .Select(path => (Match: SegmentNamePattern().Match(Path.GetFileName(path)), Path: path))
            .Where(f => f.Match.Success)
            .Select(f => (long.Parse(f.Match.Groups[1].Value, CultureInfo.InvariantCulture), f.Path))
            .OrderBy(f => f.Item1)
            .ToList();

    /// <summary>
    /// Recovers the log in <paramref name="directory"/> into <paramref name="log"/> (which must be
    /// empty). The log may start after an entry only when <paramref name="snapshotIndex"/>, the
    /// latest snapshot's last entry, covers everything before.
    /// </summary>
    /// <exception cref="RaftStorageException">The log is damaged or has a hole; the message names the file and byte offset.</exception>
    public static WriteAheadLog Open(string directory, long segmentSize, LogBuffer log, DiskSync sync, long snapshotIndex)
    {
        foreach (var leftover in Directory.EnumerateFiles(directory, "wal-*.log.tmp"))
            File.Delete(leftover); // a segment whose creation did not finish; it held no records

        var all = ListSegments(directory);
        var runStart = all.Count - 1;
        while (runStart > 0 && all[runStart - 1].Sequence == all[runStart].Sequence - 1)
            runStart--;
        var segments = new List<(long Sequence, long LastIndexBefore)>();
        long lastLength = 0;
        var lastCapacity = segmentSize;
        for (var i = Math.Max(runStart, 0); i < all.Count; i++)
        {
            var (sequence, path) = all[i];
            var bytes = File.ReadAllBytes(path);
            var (lastIndexBefore, previousEnd, preallocated) = ReadHeader(path, sequence, bytes);
            if (segments.Count > 0 && previousEnd != 0 && previousEnd != lastLength)
            {
                throw new RaftStorageException(
                    $"{all[i - 1].Path}: the records end at byte offset {lastLength}, but the next segment's header (byte offset 24) says " +
                    $"they end at byte offset {previousEnd}: records at the end of the segment are lost, and the store will not open");
            }

            if (segments.Count == 0)
            {
                if (lastIndexBefore > snapshotIndex)
                    throw new RaftStorageException(
                        $"{Path.Combine(directory, SegmentFileName(sequence - 1))}: missing; the log resumes in {Path.GetFileName(path)} after entry " +
                        $"{lastIndexBefore}, but {(snapshotIndex == 0 ? "there is no snapshot" : $"the latest snapshot covers entries only through {snapshotIndex}")}, " +
                        "so entries are lost and the store will not open");
                log.ResetAfter(lastIndexBefore);
            }
            else if (lastIndexBefore != log.LastIndex)
            {
                throw new RaftStorageException(
                    $"{path}: at byte offset 16 the segment header says it starts after entry {lastIndexBefore}, but the log " +
                    $"before it ends at entry {log.LastIndex}; the store will not open");
            }

            var end = Replay(path, bytes, isLast: i == all.Count - 1, preallocated, log);
            if (end < bytes.Length)
                CutTornTail(path, bytes, end, preallocated, sync);
            segments.Add((sequence, lastIndexBefore));
            lastLength = end;
            lastCapacity = preallocated ? bytes.Length : segmentSize; // an appended segment grows to the size now configured
        }

        // Older segments, cut off from the run by a gap, are what a compaction interrupted by a
        // crash did not delete: the snapshot covers them (checked above).
        for (var i = 0; i < runStart; i++)
            File.Delete(all[i].Path);

        return new WriteAheadLog(directory, segmentSize, sync, segments, lastLength, lastCapacity);
    }

    /// <summary>Replays one segment into <paramref name="log"/>; returns where its valid records end.</summary>
    private static long Replay(string path, byte[] bytes, bool isLast, bool preallocated, LogBuffer log)
    {
        var offset = SegmentHeaderSize;
        while (offset < bytes.Length)
        {
            var status = ReadRecord(bytes.AsSpan(offset), out var type, out var payload, out var size, out var problem);
            if (status == RecordStatus.Valid)
            {
                ApplyRecord(path, offset, type, payload, log);
                offset += size;
                continue;
            }

            var nonZero = bytes.AsSpan(offset).IndexOfAnyExcept((byte)0);
            if (nonZero < 0 && (preallocated || isLast))
                return offset; // the end: zeros preallocated, or space the file system gave and no write reached
            if (isLast)
            {
                var next = NextValidRecord(bytes, offset + 1);
                if (next < 0 || (preallocated && HasUnwrittenSector(bytes, offset, next)))
                    return offset; // a torn write: the crash came before the write finished
            }

            if (!isLast && nonZero >= RecordHeaderSize)
                throw new RaftStorageException(
                    $"{path}: the records end at byte offset {offset} (a record header of zeros), but byte offset {offset + nonZero} " +
                    "after the end is not zero. It is not in the last segment, so it is not a write cut short by a crash; " +
                    "the log is damaged and the store will not open");
            throw new RaftStorageException(
                $"{path}: damaged record at byte offset {offset}: {problem}. " +
                (isLast
                    ? "Valid records follow it, so it is not a write cut short by a crash"
                    : "It is not in the last segment, so it is not a write cut short by a crash") +
                "; the log is damaged and the store will not open");
        }

        return offset;
    }

    /// <summary>
    /// Checks a segment's header; returns the log's last index where the segment begins, where the
    /// segment before it ends (0: not recorded), and whether it was preallocated.
    /// </summary>
    private static (long LastIndexBefore, long PreviousEnd, bool Preallocated) ReadHeader(string path, long sequence, byte[] bytes)
    {
        FileFormat.RefuseNewer(path, bytes, SegmentMagic, "write-ahead log segment");
        if (bytes.Length < SegmentHeaderSize)
            throw new RaftStorageException(
                $"{path}: segment header cut short at byte offset {bytes.Length} ({SegmentHeaderSize} bytes needed); the store will not open");
        var header = bytes.AsSpan(0, SegmentHeaderSize);
        var version = header[FileFormat.MagicLength - 1];
        if (!header[..(FileFormat.MagicLength - 1)].SequenceEqual(SegmentMagic[..(FileFormat.MagicLength - 1)]) ||
            version is not (AppendedVersion or PreallocatedVersion))
            throw new RaftStorageException($"{path}: not a RaftActors WAL segment (bad magic at byte offset 0); the store will not open");
        if (Crc32C.Compute(header[..28]) != BinaryPrimitives.ReadUInt32LittleEndian(header[28..]))
            throw new RaftStorageException($"{path}: segment header checksum mismatch at byte offset 0; the store will not open");
        var stored = BinaryPrimitives.ReadInt64LittleEndian(header[8..]);
        if (stored != sequence)
            throw new RaftStorageException($"{path}: the header at byte offset 8 says segment {stored}, the file name says {sequence}; the store will not open");
        var lastIndexBefore = BinaryPrimitives.ReadInt64LittleEndian(header[16..]);
        if (lastIndexBefore < 0)
            throw new RaftStorageException($"{path}: inconsistent segment header at byte offset 16; the store will not open");
        var previousEnd = BinaryPrimitives.ReadUInt32LittleEndian(header[24..]);
        if (previousEnd is > 0 and < SegmentHeaderSize)
            throw new RaftStorageException($"{path}: inconsistent segment header at byte offset 24; the store will not open");
        return (lastIndexBefore, previousEnd, version == PreallocatedVersion);
    }

    private static void ApplyRecord(string path, long offset, byte type, ReadOnlySpan<byte> payload, LogBuffer log)
    {
        switch (type)
        {
            case EntryRecord:
                LogEntry entry;
                try
                {
                    entry = LogEntryFormat.Read(payload);
                }
                catch (FormatException e)
                {
                    throw new RaftStorageException(
                        $"{path}: the record at byte offset {offset} passes its checksum but holds no valid log entry ({e.Message}); the store will not open", e);
                }

                if (entry.Index != log.LastIndex + 1)
                    throw new RaftStorageException(
                        $"{path}: entry out of sequence at byte offset {offset}: index {entry.Index} where {log.LastIndex + 1} comes next; the store will not open");
                log.Append(entry);
                break;
            case TruncateRecord:
                // A truncation may reach before the first segment kept: compaction deleted the
                // entries it cut, and the log restarts below them (a snapshot covers them).
                var from = payload.Length == 8 ? BinaryPrimitives.ReadInt64LittleEndian(payload) : -1;
                if (from < 1 || from > log.LastIndex)
                    throw new RaftStorageException(
                        $"{path}: impossible truncation at byte offset {offset}: " +
                        (payload.Length == 8 ? $"from index {from} of a log ending at {log.LastIndex}" : $"payload of {payload.Length} bytes") +
                        "; the store will not open");
                log.TruncateFrom(from);
                break;
            case ResetRecord:
                var after = payload.Length == 8 ? BinaryPrimitives.ReadInt64LittleEndian(payload) : -1;
                if (after < 0)
                    throw new RaftStorageException(
                        $"{path}: impossible reset at byte offset {offset}: " +
                        (payload.Length == 8 ? $"after index {after}" : $"payload of {payload.Length} bytes") + "; the store will not open");
                log.ResetAfter(after);
                break;
            default:
                throw new RaftStorageException(
                    $"{path}: the record at byte offset {offset} passes its checksum but has unknown type {type}; the store will not open");
        }
    }

    /// <summary>Where the first whole, checksummed record at or after <paramref name="start"/> begins; -1 if there is none.</summary>
    private static int NextValidRecord(byte[] bytes, int start)
    {
        for (var at = start; at <= bytes.Length - RecordHeaderSize - 1; at++)
        {
            if (ReadRecord(bytes.AsSpan(at), out var type, out _, out _, out _) == RecordStatus.Valid &&
                type is EntryRecord or TruncateRecord or ResetRecord)
                return at;
        }

        return -1;
    }

    /// <summary>
    /// Does a preallocated segment show, between the damaged record at <paramref name="offset"/>
    /// and the next valid record at <paramref name="next"/>, a sector the last write never
    /// reached: from the record (or a sector's start) to a sector's end, all zeros? A disk writes
    /// a sector whole, but the sectors of one write in any order: valid records after such a gap
    /// are part of a write that did not finish, never acknowledged, and the gap makes this a torn
    /// write rather than damage. A sector that holds the start of the next valid record was
    /// written, so only sectors that end at or before it count.
    /// </summary>
    private static bool HasUnwrittenSector(byte[] bytes, int offset, int next)
    {
        for (var sectorEnd = (offset / SectorSize + 1) * SectorSize; sectorEnd <= next; sectorEnd += SectorSize)
        {
            var start = Math.Max(offset, sectorEnd - SectorSize);
            if (bytes.AsSpan(start, sectorEnd - start).IndexOfAnyExcept((byte)0) < 0)
                return true;
        }

        return false;
    }

    /// <summary>
    /// Cuts off a torn tail at <paramref name="end"/>: an appended segment is truncated there; in
    /// a preallocated one the bytes after it are zeroed again, so that the file keeps its size.
    /// </summary>
    private static void CutTornTail(string path, byte[] bytes, long end, bool preallocated, DiskSync sync)
    {
        var lastNonZero = bytes.AsSpan().LastIndexOfAnyExcept((byte)0);
        if (preallocated && lastNonZero < end)
            return; // zeros only: nothing to cut
        using var file = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0);
        if (preallocated)
        {
            file.Position = end;
            WriteZeros(file, lastNonZero + 1 - end);
        }
        else
        {
            file.SetLength(end);
        }

        sync.File(file);
    }

    /// <summary>Writes <paramref name="count"/> zero bytes at <paramref name="file"/>'s position.</summary>
    private static void WriteZeros(FileStream file, long count)
    {
        for (var left = count; left > 0; left -= Zeros.Length)
            file.Write(Zeros, 0, (int)Math.Min(left, Zeros.Length));
    }

    internal enum RecordStatus
    {
        Valid,
        Incomplete,
        Damaged,
    }

    /// <summary>Reads the record at the start of <paramref name="data"/>, which runs to the end of the file.</summary>
    internal static RecordStatus ReadRecord(ReadOnlySpan<byte> data, out byte type, out ReadOnlySpan<byte> payload, out int size, out string problem)
    {
        type = 0;
        payload = default;
        size = 0;
        if (data.Length < RecordHeaderSize)
        {
            problem = $"only {data.Length} bytes remain, a record header takes {RecordHeaderSize}";
            return RecordStatus.Incomplete;
        }

        var length = BinaryPrimitives.ReadUInt32LittleEndian(data);
        if (length == 0)
        {
            problem = "zero length";
            return RecordStatus.Damaged;
        }

        if (length > MaxRecordLength)
        {
            problem = $"length {length} is larger than any record ({MaxRecordLength})";
            return RecordStatus.Damaged;
        }

        if (length > data.Length - RecordHeaderSize)
        {
            problem = $"a record of {length} bytes runs past the end of the file ({data.Length - RecordHeaderSize} bytes remain)";
            return RecordStatus.Incomplete;
        }

        var body = data.Slice(RecordHeaderSize, (int)length);
        if (Crc32C.Compute(body) != BinaryPrimitives.ReadUInt32LittleEndian(data[4..]))
        {
            problem = "checksum mismatch";
            return RecordStatus.Damaged;
        }

        type = body[0];
        payload = body[1..];
        size = RecordHeaderSize + (int)length;
        problem = "";
        return RecordStatus.Valid;
    }

    /// <summary>Appends the record for an entry: header, type, <see cref="LogEntryFormat"/> payload.</summary>
    internal static void WriteEntryRecord(IBufferWriter<byte> writer, LogEntry entry)
    {
        var payload = LogEntryFormat.GetSize(entry);
        if (payload + 1L > MaxRecordLength)
            throw new ArgumentException($"entry {entry.Index} encodes to {payload} bytes, more than a record holds ({MaxRecordLength - 1})");
        var span = writer.GetSpan(RecordHeaderSize + 1 + payload);
        span[RecordHeaderSize] = EntryRecord;
        LogEntryFormat.Write(span.Slice(RecordHeaderSize + 1, payload), entry);
        Seal(span, 1 + payload);
        writer.Advance(RecordHeaderSize + 1 + payload);
    }

    internal static void WriteTruncateRecord(IBufferWriter<byte> writer, long fromIndex) => WriteIndexRecord(writer, TruncateRecord, fromIndex);

    internal static void WriteResetRecord(IBufferWriter<byte> writer, long afterIndex) => WriteIndexRecord(writer, ResetRecord, afterIndex);

    private static void WriteIndexRecord(IBufferWriter<byte> writer, byte type, long index)
    {
        var span = writer.GetSpan(RecordHeaderSize + 9);
        span[RecordHeaderSize] = type;
        BinaryPrimitives.WriteInt64LittleEndian(span[(RecordHeaderSize + 1)..], index);
        Seal(span, 9);
        writer.Advance(RecordHeaderSize + 9);
    }

    internal static int RecordSize(WalRecord record) =>
        RecordHeaderSize + 1 + (record.Entry is { } entry ? LogEntryFormat.GetSize(entry) : 8);

    private static void Seal(Span<byte> record, int length)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(record, (uint)length);
        BinaryPrimitives.WriteUInt32LittleEndian(record[4..], Crc32C.Compute(record.Slice(RecordHeaderSize, length)));
    }

    internal static byte[] SegmentHeader(long sequence, long lastIndexBefore, long previousEnd = 0)
    {
        var header = new byte[SegmentHeaderSize];
        SegmentMagic.CopyTo(header);
        BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(8), sequence);
        BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(16), lastIndexBefore);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(24), checked((uint)previousEnd));
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(28), Crc32C.Compute(header.AsSpan(0, 28)));
        return header;
    }

    /// <summary>
    /// Writes <paramref name="records"/> after the last segment's end and makes them durable
    /// with one fsync of the segment (more only when the batch fills a segment and a new one
    /// begins). <paramref name="lastIndexBefore"/> is the log's last index before the batch.
    /// </summary>
    public void Write(IReadOnlyList<WalRecord> records, long lastIndexBefore)
    {
        if (records.Count == 0)
            return;
        var lastIndex = lastIndexBefore;
        _buffer.ResetWrittenCount();
        if (_sequence == 0)
            StartSegment(1, lastIndex);

        foreach (var record in records)
        {
            var used = _length + _buffer.WrittenCount;
            if (used > SegmentHeaderSize && used + RecordSize(record) > _capacity)
            {
                Sync();
                StartSegment(_sequence + 1, lastIndex);
            }

            switch (record.Type)
            {
                case EntryRecord:
                    WriteEntryRecord(_buffer, record.Entry!);
                    break;
                case TruncateRecord:
                    WriteTruncateRecord(_buffer, record.Index);
                    break;
                default:
                    WriteResetRecord(_buffer, record.Index);
                    break;
            }

            lastIndex = record.LastIndexAfter(lastIndex);
            if (_buffer.WrittenCount >= FlushThreshold)
                Flush();
        }

        Sync();
        PrepareNextSegment();
    }

    /// <summary>
    /// Deletes the oldest segments while a snapshot covers everything in them: segment k goes when
    /// segment k+1 begins after an entry at or before <paramref name="throughIndex"/>. The last
    /// segment always stays. Oldest first, so that a crash midway leaves the newer ones.
    /// </summary>
    /// <returns>How many segments were deleted.</returns>
    public int DeleteSegmentsThrough(long throughIndex)
    {
        var deleted = 0;
        while (_segments.Count > 1 && _segments[1].LastIndexBefore <= throughIndex)
        {
            File.Delete(Path.Combine(_directory, SegmentFileName(_segments[0].Sequence)));
            _segments.RemoveAt(0);
            deleted++;
        }

        if (deleted > 0)
            _sync.Directory(_directory);

        return deleted;
    }

    /// <summary>Writes the buffered bytes to the last segment, without fsync.</summary>
    private void Flush()
    {
        if (_buffer.WrittenCount == 0)
            return;
        _segment ??= new FileStream(
            Path.Combine(_directory, SegmentFileName(_sequence)), FileMode.Open, FileAccess.ReadWrite,
            FileShare.ReadWrite | FileShare.Delete, bufferSize: 0);
        _segment.Position = _length;
        _sync.Write(_segment, _buffer.WrittenSpan);
        _length += _buffer.WrittenCount;
        _unsynced = true;
        _buffer.ResetWrittenCount();
    }

    /// <summary>
    /// Writes what is buffered and makes the last segment's data durable (fdatasync) if anything
    /// reached it since. Into a preallocated segment a write changes no metadata, so that is all
    /// the disk has to commit; an appended segment's growth is committed by fdatasync too.
    /// </summary>
    private void Sync()
    {
        Flush();
        if (!_unsynced)
            return;
        _sync.Data(_segment!);
        _unsynced = false;
    }

    /// <summary>
    /// Makes segment <paramref name="sequence"/> exist, complete with its header and preallocated
    /// to the segment size with zeros actually written (a sparse file's first write to each block
    /// would again change metadata), or not at all: written and fsynced as a temporary file,
    /// renamed, and the directory fsynced. The zeros are usually written already, by
    /// <see cref="PrepareNextSegment"/>; then only the header is.
    /// </summary>
    private void StartSegment(long sequence, long lastIndexBefore)
    {
        var path = Path.Combine(_directory, SegmentFileName(sequence));
        var temporary = path + ".tmp";
        var prepared = TakePrepared(sequence);
        using (var file = new FileStream(temporary, prepared ? FileMode.Open : FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 0))
        {
            _sync.Write(file, SegmentHeader(sequence, lastIndexBefore, previousEnd: _sequence == 0 ? 0 : _length));
            if (!prepared)
                WriteZeros(file, _segmentSize - SegmentHeaderSize);
            _sync.File(file);
        }

        File.Move(temporary, path, overwrite: false);
        _sync.Directory(_directory);

        _segment?.Dispose();
        _segment = null;
        _segments.Add((sequence, lastIndexBefore));
        _sequence = sequence;
        _length = SegmentHeaderSize;
        _capacity = _segmentSize;
        _unsynced = false;
    }

    /// <summary>
    /// Once the last segment is half full, starts writing the next one's temporary file full of
    /// zeros (and fsyncing it) on the thread pool, so that moving on to it costs the writer only
    /// its header, an fsync, the rename and the directory's fsync — not 16 MiB of writes. Until
    /// then nothing is prepared: a store that writes little keeps no second file.
    /// </summary>
    private void PrepareNextSegment()
    {
        if (_preparing is not null || (_length - SegmentHeaderSize) * 2 < _capacity - SegmentHeaderSize)
            return;
        var temporary = Path.Combine(_directory, SegmentFileName(_sequence + 1)) + ".tmp";
        var size = _segmentSize;
        var fsync = _sync.IsOn;
        _preparing = (_sequence + 1, Task.Run(() =>
        {
            using var file = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0);
            WriteZeros(file, size);
            file.Flush(flushToDisk: fsync);
        }));
    }

    /// <summary>
    /// Waits for the preparation under way, if any; whether it left segment
    /// <paramref name="sequence"/>'s temporary file whole. If it failed the caller makes the file
    /// itself, and meets the failure (a full disk) where it is reported.
    /// </summary>
    private bool TakePrepared(long sequence)
    {
        if (_preparing is not { } preparing)
            return false;
        _preparing = null;
        WaitQuietly(preparing.Task);
        return preparing.Task.IsCompletedSuccessfully && preparing.Sequence == sequence;
    }

    /// <summary>Waits for <paramref name="task"/> to end, however it ends.</summary>
    private static void WaitQuietly(Task task) => task.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default).Wait();

    public void Dispose()
    {
        _segment?.Dispose();
        _segment = null;
        if (_preparing is { } preparing)
        {
            _preparing = null;
            WaitQuietly(preparing.Task);
            File.Delete(Path.Combine(_directory, SegmentFileName(preparing.Sequence)) + ".tmp");
        }
    }
}
