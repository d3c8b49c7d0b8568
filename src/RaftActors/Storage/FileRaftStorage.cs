using System.Buffers.Binary;
using System.Text;
using RaftActors.Core;

namespace RaftActors.Storage;

/// <summary>
/// Durable storage in a directory: the hard state in one small file, the latest snapshot in a
/// checksummed file (see <see cref="SnapshotFile"/>), the log after it in a write-ahead log of
/// segment files preallocated and filled in order (see <see cref="WriteAheadLog"/> for the format).
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
/// <para>Snapshots (§7): <see cref="CreateSnapshot"/> writes one to a temporary file off any
/// caller's thread; <see cref="SaveSnapshot"/>, in the write queue, renames it into place and
/// fsyncs the directory before any later operation of the batch: <see cref="ResetLog"/> (a reset
/// record in the WAL) or <see cref="CompactLog"/> (the entries leave memory and the segments the
/// snapshot covers are deleted). At open the log is reconciled with the latest snapshot as
/// Figure 13 says: if the log holds the snapshot's last entry (same index and term) or begins right
/// after it, the entries after it stay; otherwise the log is reset to begin after it (a crash came
/// between saving a received snapshot and resetting the log). A crash at any step leaves a store
/// that opens to a consistent state: the old snapshot and log, or the new snapshot and the log
/// after it.</para>
/// <para>A write or fsync that fails (a full disk, an I/O error) leaves files only recovery may
/// judge: after a failed fsync the kernel may have dropped the pages it could not write and report
/// success to the next fsync of the same file (PostgreSQL's "fsync lesson"), so nothing written
/// before it can be believed durable by trying again. The store then refuses every further write,
/// hard state included; reopen it, as after a crash, once the disk is fixed: recovery checks every
/// record and cuts a torn tail. The failure is a <see cref="RaftStorageException"/> saying what
/// was being written, with the operating system's error naming the file. A batch that breaks the
/// log's contiguity is refused (ArgumentException) before anything is written, and the store
/// carries on.</para>
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
    private readonly DataDirectoryLock _directoryLock;

    private readonly object _queueLock = new();
    private Task _tail = Task.CompletedTask;
    private bool _disposed;
    private Exception? _failure;

    // Snapshots completed by their writers and waiting for a SaveSnapshot, oldest first by position
    // (one position may be staged twice: taken here and received from the leader); and the latest
    // saved one, which readers open under the lock (a save deletes the one before).
    private readonly Dictionary<LogPosition, List<FileSnapshotSink>> _staged = new();
    private readonly object _snapshotLock = new();
    private LogPosition _snapshot;
    private ClusterConfiguration? _snapshotConfiguration;

    private volatile HardState _hardState;
    private volatile IReadOnlyList<LogEntry> _entries;

    private FileRaftStorage(string directory, HardState hardState, LogPosition snapshot, LogBuffer log, WriteAheadLog wal, DiskSync sync, DataDirectoryLock directoryLock)
    {
        _directoryLock = directoryLock;
        _directory = directory;
        _path = Path.Combine(directory, HardStateFileName);
        _hardState = hardState;
        _snapshot = snapshot;
        _log = log;
        _entries = log.Snapshot();
        _wal = wal;
        _sync = sync;
    }

    public HardState HardState => _hardState;

    public LogPosition Snapshot
    {
        get
        {
            lock (_snapshotLock)
                return _snapshot;
        }
    }

    public ClusterConfiguration? SnapshotConfiguration
    {
        get
        {
            lock (_snapshotLock)
                return _snapshotConfiguration;
        }
    }

    public IReadOnlyList<LogEntry> Entries => _entries;

    /// <summary>Write-ahead log segment files on disk (tests check that compaction deletes them).</summary>
    internal int SegmentCount => _wal.SegmentCount;

    /// <summary>
    /// Test hook: called at each named step of saving a snapshot and compacting or resetting the
    /// log; a hook that throws is a crash at that step (the store takes no more writes).
    /// </summary>
    internal Action<string>? Step { get; set; }

    /// <summary>fsync calls this store has made (files and directories): lets tests check group commit.</summary>
    internal long FsyncCount => _sync.Count;

    /// <summary>Test seam: makes chosen writes and fsyncs of this store (its snapshots' too) fail; see <see cref="DiskSync.Fault"/>.</summary>
    internal Func<DiskOperation, string, Exception?>? Fault
    {
        get => _sync.Fault;
        set => _sync.Fault = value;
    }

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
        var directoryLock = DataDirectoryLock.Acquire(directory); // before reading anything
        try
        {
            var path = Path.Combine(directory, HardStateFileName);
            File.Delete(path + ".tmp"); // a crash between write and rename leaves only this behind
            var state = File.Exists(path) ? Decode(path, File.ReadAllBytes(path)) : HardState.Initial;
            var sync = new DiskSync(options.Fsync);
            var (snapshot, snapshotConfiguration) = SnapshotFile.OpenLatest(directory);
            var log = new LogBuffer();
            var wal = WriteAheadLog.Open(directory, options.SegmentSize, log, sync, snapshot.Index);
            if (snapshot != LogPosition.Empty && !FollowsOn(log, snapshot))
            {
                // Figure 13: the log neither holds the snapshot's last entry nor starts after it, so it
                // is discarded (a crash came after a received snapshot was saved, before the reset).
                wal.Write([WalRecord.Reset(snapshot.Index)], log.LastIndex);
                log.ResetAfter(snapshot.Index);
            }

            return new FileRaftStorage(directory, state, snapshot, log, wal, sync, directoryLock) { _snapshotConfiguration = snapshotConfiguration };
        }
        catch
        {
            directoryLock.Dispose();
            throw;
        }
    }

    /// <summary>Whether the stored log goes on from the snapshot: it starts right after it, or holds its last entry.</summary>
    private static bool FollowsOn(LogBuffer log, LogPosition snapshot)
    {
        if (log.BaseIndex == snapshot.Index)
            return true;
        if (snapshot.Index <= log.BaseIndex || snapshot.Index > log.LastIndex)
            return false;
        return log.Snapshot()[(int)(snapshot.Index - log.BaseIndex - 1)].Term == snapshot.Term;
    }

    public SnapshotSink CreateSnapshot(LogPosition position, ClusterConfiguration? configuration = null)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return new FileSnapshotSink(_directory, position, configuration, _sync, Stage, Unstage);
    }

    public OpenedSnapshot OpenSnapshot()
    {
        lock (_snapshotLock)
        {
            if (_snapshot == LogPosition.Empty)
                throw new RaftStorageException($"{_directory}: there is no snapshot to read");
            return new OpenedSnapshot(_snapshot, _snapshotConfiguration, SnapshotFile.OpenContent(Path.Combine(_directory, SnapshotFile.FileName(_snapshot))));
        }
    }

    /// <summary>
    /// Stages a completed snapshot. The same snapshot may be staged twice (taken here and received
    /// from the leader): both stay staged, each until its owner disposes it or a save takes it, so
    /// discarding the copy the protocol did not take on never unstages the one a save waits for.
    /// </summary>
    private void Stage(FileSnapshotSink sink)
    {
        lock (_snapshotLock)
        {
            if (!_staged.TryGetValue(sink.Position, out var staged))
                _staged[sink.Position] = staged = new List<FileSnapshotSink>(1);
            if (!staged.Contains(sink))
                staged.Add(sink);
        }
    }

    private void Unstage(FileSnapshotSink sink)
    {
        lock (_snapshotLock)
        {
            if (_staged.TryGetValue(sink.Position, out var staged) && staged.Remove(sink) && staged.Count == 0)
                _staged.Remove(sink.Position);
        }
    }

    /// <summary>
    /// The staged snapshot a SaveSnapshot for <paramref name="position"/> saves: the first staged that
    /// is still there, claimed for the write (its owner's dispose no longer deletes it), or null. Any
    /// copy of the same position is the same state, the committed one through it.
    /// </summary>
    private FileSnapshotSink? ClaimStaged(LogPosition position)
    {
        lock (_snapshotLock)
        {
            if (!_staged.TryGetValue(position, out var staged))
                return null;
            while (staged.Count > 0)
            {
                var sink = staged[0];
                staged.RemoveAt(0);
                if (sink.Claim())
                {
                    if (staged.Count == 0)
                        _staged.Remove(position);
                    return sink;
                }
            }

            _staged.Remove(position);
            return null;
        }
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
        _directoryLock.Dispose();
    }

    private void Execute(StorageWrite write)
    {
        if (_failure is not null)
            throw new RaftStorageException(
                $"{_directory}: an earlier write failed ({_failure.Message}); the store takes no more writes. " +
                "Reopen it to recover what is durable", _failure);

        var steps = Plan(write.LogOperations);
        if (write.HardState is not null)
            RunOrStop("saving the hard state", () => Write(write.HardState));
        foreach (var step in steps)
            RunOrStop(Describe(step), () => Run(step));

        if (steps.Count > 0)
            _entries = _log.Snapshot();
    }

    /// <summary>
    /// The steps that carry out <paramref name="operations"/> on the current log, checked before
    /// anything is written: entries follow on without gaps and can be encoded, a snapshot to save
    /// is staged and newer than the latest, compaction and resets stay within what a snapshot
    /// covers. Consecutive WAL records travel in one step (one fsync); truncations that delete
    /// nothing are left out.
    /// </summary>
    private List<object> Plan(IReadOnlyList<LogOperation> operations)
    {
        var steps = new List<object>();
        var records = new List<WalRecord>();
        var baseIndex = _log.BaseIndex;
        var lastIndex = _log.LastIndex;
        var snapshot = Snapshot;

        void Record(WalRecord record)
        {
            if (records.Count == 0)
                steps.Add(records = new List<WalRecord>());
            records.Add(record);
        }

        void Other(object step)
        {
            steps.Add(step);
            records = new List<WalRecord>();
        }

        foreach (var operation in operations)
        {
            switch (operation)
            {
                case TruncateLog truncate:
                    if (truncate.FromIndex <= baseIndex)
                        throw new ArgumentException($"cannot truncate from index {truncate.FromIndex}: the log starts after {baseIndex}");
                    if (truncate.FromIndex <= lastIndex)
                    {
                        Record(WalRecord.Truncate(truncate.FromIndex));
                        lastIndex = truncate.FromIndex - 1;
                    }

                    break;
                case AppendToLog append:
                    foreach (var entry in append.Entries)
                    {
                        ArgumentNullException.ThrowIfNull(entry);
                        if (entry.Index != lastIndex + 1)
                            throw new ArgumentException($"entry {entry.Index} does not follow the last stored entry {lastIndex}");
                        if (WriteAheadLog.RecordSize(WalRecord.Append(entry)) - WriteAheadLog.RecordHeaderSize > WriteAheadLog.MaxRecordLength)
                            throw new ArgumentException($"entry {entry.Index} is larger than a log record holds ({WriteAheadLog.MaxRecordLength} bytes)");
                        Record(WalRecord.Append(entry));
                        lastIndex++;
                    }

                    break;
                case SaveSnapshot save:
                    if (save.Position.Index <= snapshot.Index)
                        throw new ArgumentException($"the snapshot through {save.Position.Index} is not newer than the latest, through {snapshot.Index}");
                    Other(ClaimStaged(save.Position) ?? throw new ArgumentException($"no snapshot through {save.Position.Index} (term {save.Position.Term}) is staged"));
                    snapshot = save.Position;
                    break;
                case CompactLog compact:
                    if (compact.ThroughIndex > snapshot.Index || compact.ThroughIndex > lastIndex)
                        throw new ArgumentException($"cannot compact through {compact.ThroughIndex}: the snapshot covers {snapshot.Index}, the log ends at {lastIndex}");
                    Other(compact);
                    baseIndex = Math.Max(baseIndex, compact.ThroughIndex);
                    break;
                case ResetLog reset:
                    if (reset.AfterIndex > snapshot.Index)
                        throw new ArgumentException($"cannot reset the log to after {reset.AfterIndex}: the snapshot covers only {snapshot.Index}");
                    Record(WalRecord.Reset(reset.AfterIndex));
                    baseIndex = lastIndex = reset.AfterIndex;
                    break;
                default:
                    throw new ArgumentException($"unknown log operation {operation}");
            }
        }

        return steps;
    }

    /// <summary>Runs one step of a write; if it fails, the store takes no more writes (see the remarks).</summary>
    private void RunOrStop(string what, Action run)
    {
        try
        {
            run();
        }
        catch (Exception e)
        {
            _failure = new RaftStorageException($"{what} failed: {e.Message}", e);
            throw _failure;
        }
    }

    private static string Describe(object step) => step switch
    {
        List<WalRecord> => "appending to the write-ahead log",
        FileSnapshotSink staged => $"saving the snapshot through entry {staged.Position.Index}",
        CompactLog compact => $"compacting the log through entry {compact.ThroughIndex}",
        _ => throw new ArgumentException($"unknown step {step}"),
    };

    private void Run(object step)
    {
        switch (step)
        {
            case List<WalRecord> records:
                Step?.Invoke("wal.write");
                _wal.Write(records, _log.LastIndex);
                foreach (var record in records)
                    record.ApplyTo(_log);
                break;
            case FileSnapshotSink staged:
                Save(staged);
                break;
            case CompactLog compact:
                Step?.Invoke("compact.memory");
                _log.CompactThrough(compact.ThroughIndex);
                if (_wal.DeleteSegmentsThrough(compact.ThroughIndex) > 0)
                    Step?.Invoke("compact.segments-deleted");
                break;
        }
    }

    /// <summary>Renames a staged snapshot into place and makes the rename durable; then the older snapshots go.</summary>
    private void Save(FileSnapshotSink staged)
    {
        Step?.Invoke("snapshot.staged");
        var path = Path.Combine(_directory, SnapshotFile.FileName(staged.Position));
        lock (_snapshotLock)
            staged.SaveAs(path);

        Step?.Invoke("snapshot.renamed");
        _sync.Directory(_directory);
        lock (_snapshotLock)
        {
            _snapshot = staged.Position;
            _snapshotConfiguration = staged.Configuration;
        }

        Step?.Invoke("snapshot.saved");
        foreach (var (_, older) in SnapshotFile.List(_directory).Where(f => f.Position.Index < staged.Position.Index))
            File.Delete(older);
    }

    private void Write(HardState state)
    {
        var temporary = _path + ".tmp";
        using (var file = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            _sync.Write(file, Encode(state));
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
        FileFormat.RefuseNewer(path, span, Magic, "hard state file");
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
