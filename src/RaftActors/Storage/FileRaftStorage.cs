using System.Buffers.Binary;
using System.Text;
using RaftActors.Core;

namespace RaftActors.Storage;

/// <summary>
/// Durable storage in a directory: the hard state in one small file, the log in a write-ahead
/// log of append-only segment files (see <see cref="WriteAheadLog"/> for the format).
/// </summary>
/// <remarks>
/// <para>The hard state file is replaced atomically: write a temporary file, fsync it, rename it
/// over the old one, fsync the directory. A checksum guards the content; a damaged file is
/// refused at open, never used.</para>
/// <para>Writes run one at a time, in call order, on the thread pool, never on the caller's
/// thread. A write makes its whole batch durable before it completes: the hard state (its own
/// replace and fsyncs) first, then all of the batch's log records with ONE fsync of the WAL —
/// group commit. The hard state goes first so that a crash between the two can leave a term
/// ahead of the log (harmless: as if the node had only heard of the new term) but never log
/// entries from a term the node has no durable record of. <see cref="Entries"/> and
/// <see cref="HardState"/> change only once a write is durable.</para>
/// <para>A log write that fails with an I/O error leaves the segment in a state only recovery
/// may judge, so the store then refuses further writes; reopen it, as after a crash. A batch that
/// breaks the log's contiguity is refused (ArgumentException) before anything is written, and
/// the store carries on.</para>
/// <para>One store per directory at a time: two live stores on one directory would write over
/// each other's log.</para>
/// </remarks>
public sealed class FileRaftStorage : IRaftStorage, IDisposable
{
    public const string HardStateFileName = "hardstate";

    // "RAFTHS" + format version 1. Layout: magic(8) term(8) voteLength(4) vote(utf8) crc32c(4).
    private static readonly byte[] Magic = "RAFTHS\0\u0001"u8.ToArray();

    private readonly string _directory;
    private readonly string _path;
    private readonly DiskSync _sync;
    private readonly WriteAheadLog _wal;
    private readonly LogBuffer _log; // touched only by the write in progress

    private readonly object _queueLock = new();
    private Task _tail = Task.CompletedTask;
    private bool _disposed;
    private Exception? _failure;

    private volatile HardState _hardState;
    private volatile IReadOnlyList<LogEntry> _entries;

    private FileRaftStorage(string directory, HardState hardState, LogBuffer log, WriteAheadLog wal, DiskSync sync)
    {
        _directory = directory;
        _path = Path.Combine(directory, HardStateFileName);
        _hardState = hardState;
        _log = log;
        _entries = log.Snapshot();
        _wal = wal;
        _sync = sync;
    }

    public HardState HardState => _hardState;

    public IReadOnlyList<LogEntry> Entries => _entries;

    /// <summary>fsync calls this store has made (files and directories): lets tests check group commit.</summary>
    internal long FsyncCount => _sync.Count;

    /// <summary>Opens (creating if needed) the store in <paramref name="directory"/> and checks what it holds.</summary>
    /// <exception cref="RaftStorageException">The stored state is damaged; the message names the file (and, in the log, the byte offset).</exception>
    public static FileRaftStorage Open(string directory) => Open(directory, null);

    /// <summary>Opens (creating if needed) the store in <paramref name="directory"/> and checks what it holds.</summary>
    /// <remarks>A write cut short by a crash at the end of the log is cut off the file here.</remarks>
    /// <exception cref="RaftStorageException">The stored state is damaged; the message names the file (and, in the log, the byte offset).</exception>
    public static FileRaftStorage Open(string directory, FileRaftStorageOptions? options)
    {
        options ??= FileRaftStorageOptions.Default;
        options.Validate();
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, HardStateFileName);
        File.Delete(path + ".tmp"); // a crash between write and rename leaves only this behind
        var state = File.Exists(path) ? Decode(path, File.ReadAllBytes(path)) : HardState.Initial;
        var sync = new DiskSync(options.Fsync);
        var log = new LogBuffer();
        var wal = WriteAheadLog.Open(directory, options.SegmentSize, log, sync);
        return new FileRaftStorage(directory, state, log, wal, sync);
    }

    public Task WriteAsync(StorageWrite write)
    {
        ArgumentNullException.ThrowIfNull(write);
        lock (_queueLock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            // Each write runs after the one before it, whatever that one's outcome.
            var task = _tail.ContinueWith(
                _ => Execute(write), CancellationToken.None, TaskContinuationOptions.DenyChildAttach, TaskScheduler.Default);
            _tail = task;
            return task;
        }
    }

    /// <summary>Waits for the writes already issued, then closes the log's file.</summary>
    public void Dispose()
    {
        Task tail;
        lock (_queueLock)
        {
            if (_disposed)
                return;
            _disposed = true;
            tail = _tail;
        }

        try
        {
            tail.Wait();
        }
        catch (AggregateException)
        {
            // the writer saw the error; closing is all that is left to do
        }

        _wal.Dispose();
    }

    private void Execute(StorageWrite write)
    {
        if (_failure is not null)
            throw new RaftStorageException(
                $"{_directory}: an earlier write failed ({_failure.Message}); the store takes no more writes. " +
                "Reopen it to recover what is durable", _failure);

        var records = Plan(write.LogOperations);

        // A failed hard state write leaves the old file in place (the rename is the commit), so
        // the store may go on; a failed log write may leave a partial record that only recovery
        // can judge, so the store stops taking writes.
        if (write.HardState is not null)
            Write(write.HardState);
        try
        {
            _wal.Write(records, _log.Count);
        }
        catch (Exception e)
        {
            _failure = e;
            throw;
        }

        if (records.Count == 0)
            return;
        foreach (var record in records)
        {
            if (record.Entry is { } entry)
                _log.Append(entry);
            else
                _log.TruncateFrom(record.TruncateFrom);
        }

        _entries = _log.Snapshot();
    }

    /// <summary>
    /// The records that carry out <paramref name="operations"/> on the current log, checked
    /// before anything is written: entries follow on without gaps and can be encoded.
    /// Truncations that delete nothing are left out.
    /// </summary>
    private List<WalRecord> Plan(IReadOnlyList<LogOperation> operations)
    {
        var records = new List<WalRecord>();
        long count = _log.Count;
        foreach (var operation in operations)
        {
            switch (operation)
            {
                case TruncateLog truncate:
                    if (truncate.FromIndex < 1)
                        throw new ArgumentException($"cannot truncate from index {truncate.FromIndex}");
                    if (truncate.FromIndex <= count)
                    {
                        records.Add(WalRecord.Truncate(truncate.FromIndex));
                        count = truncate.FromIndex - 1;
                    }

                    break;
                case AppendToLog append:
                    foreach (var entry in append.Entries)
                    {
                        ArgumentNullException.ThrowIfNull(entry);
                        if (entry.Index != count + 1)
                            throw new ArgumentException($"entry {entry.Index} does not follow the last stored entry {count}");
                        if (WriteAheadLog.RecordSize(WalRecord.Append(entry)) - WriteAheadLog.RecordHeaderSize > WriteAheadLog.MaxRecordLength)
                            throw new ArgumentException($"entry {entry.Index} is larger than a log record holds ({WriteAheadLog.MaxRecordLength} bytes)");
                        records.Add(WalRecord.Append(entry));
                        count++;
                    }

                    break;
                default:
                    throw new ArgumentException($"unknown log operation {operation}");
            }
        }

        return records;
    }

    private void Write(HardState state)
    {
        var temporary = _path + ".tmp";
        using (var file = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            file.Write(Encode(state));
            _sync.File(file);
        }

        File.Move(temporary, _path, overwrite: true);
        _sync.Directory(_directory);
        _hardState = state;
    }

    internal static byte[] Encode(HardState state)
    {
        var vote = state.VotedFor is null ? [] : Encoding.UTF8.GetBytes(state.VotedFor);
        var bytes = new byte[Magic.Length + 8 + 4 + vote.Length + 4];
        var span = bytes.AsSpan();
        Magic.CopyTo(span);
        BinaryPrimitives.WriteInt64LittleEndian(span[8..], state.Term);
        BinaryPrimitives.WriteInt32LittleEndian(span[16..], state.VotedFor is null ? -1 : vote.Length);
        vote.CopyTo(span[20..]);
        var body = span[..^4];
        BinaryPrimitives.WriteUInt32LittleEndian(span[^4..], Crc32C.Compute(body));
        return bytes;
    }

    internal static HardState Decode(string path, byte[] bytes)
    {
        var span = bytes.AsSpan();
        if (span.Length < Magic.Length + 16 || !span[..Magic.Length].SequenceEqual(Magic))
            throw new RaftStorageException($"{path}: not a RaftActors hard state file (bad header or too short)");
        var expected = BinaryPrimitives.ReadUInt32LittleEndian(span[^4..]);
        if (Crc32C.Compute(span[..^4]) != expected)
            throw new RaftStorageException($"{path}: checksum mismatch; the file is damaged and is not used");
        var term = BinaryPrimitives.ReadInt64LittleEndian(span[8..]);
        var voteLength = BinaryPrimitives.ReadInt32LittleEndian(span[16..]);
        if (term < 0 || voteLength < -1 || 20 + Math.Max(voteLength, 0) + 4 != span.Length)
            throw new RaftStorageException($"{path}: inconsistent content (term {term}, vote length {voteLength})");
        var vote = voteLength < 0 ? null : Encoding.UTF8.GetString(span.Slice(20, voteLength));
        return new HardState(term, vote);
    }
}
