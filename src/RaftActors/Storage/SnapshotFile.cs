using System.Buffers.Binary;
using System.Globalization;
using System.Text.RegularExpressions;
using RaftActors.Core;
using RaftActors.Serialization;

namespace RaftActors.Storage;

/// <summary>
/// Snapshot files of a <see cref="FileRaftStorage"/>: <c>snapshot-&lt;index&gt;-&lt;term&gt;.snap</c>
/// in the store's directory, a header and then the content.
/// </summary>
/// <remarks>
/// <code>
/// header   magic "RAFTSNP\x01" (8) | last included index i64 (8) | last included term i64 (8)
///          | content length i64 (8) | content crc32c u32 (4) | configuration length u32 (4)
///          | configuration crc32c u32 (4) | crc32c of the previous 44 bytes u32 (4)
/// config   the cluster configuration in force at the last included entry (LogEntryFormat's
///          configuration layout); none when its length is 0 (the cluster's starting one holds)
/// content  the bytes the state machine's applier wrote (client sessions, then the state machine's own)
/// </code>
/// <para>A snapshot is written to a temporary file (<c>.tmp</c>, named uniquely), the header last,
/// then fsynced; saving it renames it to its final name and fsyncs the directory, after which older
/// snapshots are deleted. At open, leftover temporary files are deleted and the latest snapshot (the
/// highest index) is checked whole — header, name, length and the content's checksum. A damaged
/// latest snapshot refuses the open, naming the file: it is never passed over for an older one, as
/// the log it replaced is gone.</para>
/// </remarks>
internal static partial class SnapshotFile
{
    public const int HeaderSize = 48;

    private static ReadOnlySpan<byte> Magic => "RAFTSNP\u0001"u8;

    public static string FileName(LogPosition position) =>
        $"snapshot-{position.Index.ToString("D20", CultureInfo.InvariantCulture)}-{position.Term.ToString("D20", CultureInfo.InvariantCulture)}.snap";

    [GeneratedRegex(@"^snapshot-(\d{20})-(\d{20})\.snap$")]
    private static partial Regex NamePattern();

    /// <summary>The snapshot files in <paramref name="directory"/>, newest (highest index) first.</summary>
    public static IReadOnlyList<(LogPosition Position, string Path)> List(string directory) =>
        Directory.EnumerateFiles(directory, "snapshot-*.snap")
            .Select(path => (Match: NamePattern().Match(Path.GetFileName(path)), Path: path))
            .Where(f => f.Match.Success)
            .Select(f => (new LogPosition(
                long.Parse(f.Match.Groups[1].Value, CultureInfo.InvariantCulture),
                long.Parse(f.Match.Groups[2].Value, CultureInfo.InvariantCulture)), f.Path))
            .OrderByDescending(f => f.Item1.Index).ThenByDescending(f => f.Item1.Term)
            .ToList();

    /// <summary>
    /// Finds, checks and returns the latest snapshot in <paramref name="directory"/> (Empty when
    /// there is none) and the configuration it holds, deleting leftover temporary files and older snapshots.
    /// </summary>
    /// <exception cref="RaftStorageException">The latest snapshot is damaged; the message names the file.</exception>
    public static (LogPosition Position, ClusterConfiguration? Configuration) OpenLatest(string directory)
    {
        foreach (var leftover in Directory.EnumerateFiles(directory, "snapshot-*.tmp"))
            File.Delete(leftover); // a snapshot never saved: written, received, or cut short by a crash
        var snapshots = List(directory);
        if (snapshots.Count == 0)
            return (LogPosition.Empty, null);
        var (position, path) = snapshots[0];
        var configuration = CheckLatest(path, position);
        foreach (var (_, older) in snapshots.Skip(1))
            File.Delete(older); // a crash came between saving the latest and deleting these
        return (position, configuration);
    }

    /// <summary>The encoded configuration that follows the header (empty for none).</summary>
    public static byte[] ConfigurationBytes(ClusterConfiguration? configuration) =>
        configuration is null ? [] : LogEntryFormat.ConfigurationToArray(configuration);

    /// <summary>The header of a snapshot through <paramref name="position"/> with this configuration and content.</summary>
    public static byte[] Header(LogPosition position, ReadOnlySpan<byte> configuration, long contentLength, uint contentCrc)
    {
        var header = new byte[HeaderSize];
        Magic.CopyTo(header);
        BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(8), position.Index);
        BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(16), position.Term);
        BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(24), contentLength);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(32), contentCrc);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(36), (uint)configuration.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(40), Crc32C.Compute(configuration));
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(44), Crc32C.Compute(header.AsSpan(0, 44)));
        return header;
    }

    /// <summary>Opens a checked snapshot file's content: a read-only, seekable window past the header and the configuration.</summary>
    public static Stream OpenContent(string path)
    {
        var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, bufferSize: 64 * 1024);
        var header = new byte[HeaderSize];
        file.ReadExactly(header);
        var start = HeaderSize + BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(36));
        return new ContentWindow(file, start, file.Length - start);
    }

    /// <summary>
    /// Checks a snapshot file whole — header, lengths, the configuration and the content against
    /// their checksums — and says what it holds. Every problem is a <see cref="RaftStorageException"/>
    /// that names the file and what is wrong with it, followed by <paramref name="consequence"/>.
    /// </summary>
    public static SnapshotFileInfo Check(string path, string consequence)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1);
        var header = new byte[HeaderSize];
        var headerRead = file.ReadAtLeast(header, HeaderSize, throwOnEndOfStream: false);
        FileFormat.RefuseNewer(path, header.AsSpan(0, headerRead), Magic, "snapshot");
        if (headerRead < HeaderSize)
            throw new RaftStorageException($"{path}: the header is cut short ({file.Length} bytes); {consequence}");
        if (!header.AsSpan(0, 8).SequenceEqual(Magic))
            throw new RaftStorageException($"{path}: not a RaftActors snapshot (bad magic at byte offset 0); {consequence}");
        if (Crc32C.Compute(header.AsSpan(0, 44)) != BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(44)))
            throw new RaftStorageException($"{path}: header checksum mismatch at byte offset 44; {consequence}");
        var position = new LogPosition(BinaryPrimitives.ReadInt64LittleEndian(header.AsSpan(8)), BinaryPrimitives.ReadInt64LittleEndian(header.AsSpan(16)));
        var configurationLength = BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(36));
        var length = BinaryPrimitives.ReadInt64LittleEndian(header.AsSpan(24));
        if (length < 0 || HeaderSize + configurationLength + length != file.Length)
            throw new RaftStorageException(
                $"{path}: the header says {configurationLength} bytes of configuration and {length} of content, the file holds {file.Length - HeaderSize} after the header; {consequence}");
        ClusterConfiguration? configuration = null;
        if (configurationLength > 0)
        {
            var bytes = new byte[configurationLength];
            file.ReadExactly(bytes);
            if (Crc32C.Compute(bytes) != BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(40)))
                throw new RaftStorageException($"{path}: configuration checksum mismatch (the header's at byte offset 40); {consequence}");
            try
            {
                configuration = LogEntryFormat.ReadConfiguration(bytes);
            }
            catch (FormatException e)
            {
                throw new RaftStorageException($"{path}: the configuration at byte offset {HeaderSize} cannot be read ({e.Message}); {consequence}", e);
            }
        }

        var crc = 0u;
        var buffer = new byte[1 << 20];
        int read;
        while ((read = file.Read(buffer)) > 0)
            crc = Crc32C.Append(crc, buffer.AsSpan(0, read));
        var expected = BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(32));
        if (crc != expected)
            throw new RaftStorageException($"{path}: content checksum mismatch (the header's at byte offset 32); {consequence}");
        return new SnapshotFileInfo(position, configuration, length, expected, file.Length);
    }

    /// <summary>Checks the store's latest snapshot whole, and that it is the one its name says, and returns the configuration it holds.</summary>
    private static ClusterConfiguration? CheckLatest(string path, LogPosition named)
    {
        const string refused = "the snapshot is damaged and is not used, and the store will not open (the log it replaced is gone). " +
                               "Move the data directory aside and restart the node: it catches up from the leader, which sends it a snapshot";
        var snapshot = Check(path, refused);
        if (snapshot.Position != named)
            throw new RaftStorageException(
                $"{path}: the header says it covers entries through {snapshot.Position.Index} (term {snapshot.Position.Term}), the name says {named.Index} (term {named.Term}); {refused}");
        return snapshot.Configuration;
    }

    /// <summary>A read-only, seekable window of a file: a snapshot's content without its header.</summary>
    private sealed class ContentWindow(FileStream file, long start, long length) : Stream
    {
        private long _position;

        public override bool CanRead => true;

        public override bool CanSeek => true;

        public override bool CanWrite => false;

        public override long Length => length;

        public override long Position
        {
            get => _position;
            set => _position = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(value));
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var count = (int)Math.Clamp(length - _position, 0, buffer.Length);
            if (count == 0)
                return 0;
            file.Position = start + _position;
            var read = file.Read(buffer[..count]);
            _position += read;
            return read;
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var count = (int)Math.Clamp(length - _position, 0, buffer.Length);
            if (count == 0)
                return 0;
            file.Position = start + _position;
            var read = await file.ReadAsync(buffer[..count], cancellationToken).ConfigureAwait(false);
            _position += read;
            return read;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override long Seek(long offset, SeekOrigin origin) => Position = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => _position + offset,
            _ => length + offset,
        };

        public override void Flush()
        {
        }

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
                file.Dispose();
            base.Dispose(disposing);
        }
    }
}

/// <summary>
/// A snapshot written to a temporary file of a <see cref="FileRaftStorage"/>, created at the first
/// write (so creating a sink touches no disk). Its checksum is computed as it is written; the
/// header goes in last, at <see cref="CompleteAsync"/>.
/// </summary>
internal sealed class FileSnapshotSink : SnapshotSink
{
    private readonly object _lock = new();
    private readonly DiskSync _sync;
    private readonly Action<FileSnapshotSink> _staged;
    private readonly Action<FileSnapshotSink> _discarded;
    private FileStream? _file;
    private uint _crc;
    private long _length;
    private State _state;

    private readonly byte[] _configuration;

    public FileSnapshotSink(
        string directory, LogPosition position, ClusterConfiguration? configuration, DiskSync sync, Action<FileSnapshotSink> staged, Action<FileSnapshotSink> discarded)
        : base(position, configuration)
    {
        _configuration = SnapshotFile.ConfigurationBytes(configuration);
        _sync = sync;
        TemporaryPath = Path.Combine(directory, $"{Path.GetFileNameWithoutExtension(SnapshotFile.FileName(position))}.{Guid.NewGuid():N}.tmp");
        _staged = staged;
        _discarded = discarded;
    }

    private enum State
    {
        Writing,
        Complete,

        /// <summary>Complete, and taken by a write that saves it: the store owns it now.</summary>
        Claimed,
        Saved,
        Discarded,
    }

    public string TemporaryPath { get; }

    public override long Length => Interlocked.Read(ref _length);

    public override async Task WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        var file = Writable();
        await _sync.WriteAsync(file, data, cancellationToken).ConfigureAwait(false);
        _crc = Crc32C.Append(_crc, data.Span);
        Interlocked.Add(ref _length, data.Length);
    }

    public override Task FlushAsync(CancellationToken cancellationToken = default)
    {
        var file = Writable();
        return Task.Run(() => _sync.File(file), cancellationToken);
    }

    public override Task CompleteAsync(CancellationToken cancellationToken = default)
    {
        var file = Writable();
        return Task.Run(
            () =>
            {
                file.Position = 0;
                _sync.Write(file, SnapshotFile.Header(Position, _configuration, _length, _crc));
                _sync.File(file);
                lock (_lock)
                {
                    file.Dispose();
                    _file = null;
                    if (_state != State.Writing)
                        throw new ObjectDisposedException(ToString(), "the snapshot was discarded while it was completed");
                    _state = State.Complete;
                }

                _staged(this);
            },
            cancellationToken);
    }

    /// <summary>
    /// Takes a completed snapshot for a write that saves it: from now on the store owns it, and the
    /// writer's <see cref="Dispose"/> leaves it be. False when it was discarded meanwhile.
    /// </summary>
    public bool Claim()
    {
        lock (_lock)
        {
            if (_state != State.Complete)
                return false;
            _state = State.Claimed;
            return true;
        }
    }

    /// <summary>Moves the claimed snapshot to <paramref name="path"/>, where the store owns it (the caller fsyncs the directory).</summary>
    public void SaveAs(string path)
    {
        lock (_lock)
        {
            if (_state != State.Claimed)
                throw new InvalidOperationException($"{TemporaryPath}: only a completed snapshot, claimed by the write that saves it, can be saved (it is {_state})");
            File.Move(TemporaryPath, path, overwrite: true);
            _state = State.Saved;
        }
    }

    public override void Dispose()
    {
        lock (_lock)
        {
            if (_state is State.Claimed or State.Saved or State.Discarded)
                return; // a claimed one is the store's: saved, or deleted at the next open if the save fails
            var wasStaged = _state == State.Complete;
            _state = State.Discarded;
            DeleteTemporaryFile();
            if (wasStaged)
                _discarded(this);
        }
    }

    /// <summary>
    /// A discarded snapshot's bytes matter to no one: closing it may fail to write what is buffered
    /// (the disk is full: the very failure that discards it), and a file that cannot be deleted now
    /// is a leftover the next open deletes. Neither may fail the discard, which runs in error paths.
    /// </summary>
    private void DeleteTemporaryFile()
    {
        try
        {
            _file?.Dispose();
        }
        catch (IOException)
        {
            // the handle is closed all the same; the unwritten bytes were to be thrown away
        }

        _file = null;
        try
        {
            File.Delete(TemporaryPath);
        }
        catch (IOException)
        {
            // deleted at the next open, with every leftover temporary snapshot
        }
    }

    private FileStream Writable()
    {
        lock (_lock)
        {
            if (_state != State.Writing)
                throw new InvalidOperationException($"{TemporaryPath}: the snapshot is {_state}; nothing more can be written to it");
            if (_file is null)
            {
                _file = new FileStream(TemporaryPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 64 * 1024);
                _file.Write(new byte[SnapshotFile.HeaderSize]); // the header goes in last
                _file.Write(_configuration);
            }

            return _file;
        }
    }
}
