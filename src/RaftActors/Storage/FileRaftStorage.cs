using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using RaftActors.Core;

namespace RaftActors.Storage;

/// <summary>
/// Durable storage in a directory. The hard state is one small file replaced atomically:
/// write a temporary file, fsync it, rename it over the old one, fsync the directory. A
/// checksum guards the content; a damaged file is refused at open, never used.
/// </summary>
public sealed class FileRaftStorage : IRaftStorage
{
    public const string HardStateFileName = "hardstate";

    // "RAFTHS" + format version 1. Layout: magic(8) term(8) voteLength(4) vote(utf8) crc32c(4).
    private static readonly byte[] Magic = "RAFTHS\0\u0001"u8.ToArray();

    private readonly string _directory;
    private readonly string _path;

    // Writes share one temporary file; a restarted node may start a write while its previous
    // incarnation's is still running, so writes take turns.
    private readonly object _writeLock = new();
    private volatile HardState _hardState;

    private FileRaftStorage(string directory, HardState hardState)
    {
        _directory = directory;
        _path = Path.Combine(directory, HardStateFileName);
        _hardState = hardState;
    }

    public HardState HardState => _hardState;

    /// <summary>Opens (creating if needed) the store in <paramref name="directory"/> and checks what it holds.</summary>
    /// <exception cref="RaftStorageException">The stored state is damaged; the message names the file.</exception>
    public static FileRaftStorage Open(string directory)
    {
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, HardStateFileName);
        File.Delete(path + ".tmp"); // a crash between write and rename leaves only this behind
        var state = File.Exists(path) ? Decode(path, File.ReadAllBytes(path)) : HardState.Initial;
        return new FileRaftStorage(directory, state);
    }

    public IReadOnlyList<LogEntry> Entries => [];

    public Task WriteAsync(StorageWrite write) => Task.Run(() =>
    {
        if (write.LogOperations.Count > 0)
            throw new NotSupportedException("log persistence arrives with the write-ahead log");
        lock (_writeLock)
            Write(write.HardState!);
    });

    private void Write(HardState state)
    {
        var temporary = _path + ".tmp";
        using (var file = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            file.Write(Encode(state));
            file.Flush(flushToDisk: true);
        }

        File.Move(temporary, _path, overwrite: true);
        FsyncDirectory(_directory);
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

    /// <summary>
    /// A rename is durable only once the directory entry is: fsync the directory. .NET has no
    /// API for that, so on Unix call open/fsync directly; Windows commits renames itself.
    /// </summary>
    private static void FsyncDirectory(string directory)
    {
        if (OperatingSystem.IsWindows())
            return;
        var fd = NativeMethods.open(directory, 0 /* O_RDONLY */);
        if (fd < 0)
            throw new IOException($"cannot open directory {directory} to fsync it (errno {Marshal.GetLastPInvokeError()})");
        try
        {
            if (NativeMethods.fsync(fd) != 0)
                throw new IOException($"fsync of directory {directory} failed (errno {Marshal.GetLastPInvokeError()})");
        }
        finally
        {
            NativeMethods.close(fd);
        }
    }

    private static class NativeMethods
    {
        [DllImport("libc", SetLastError = true)]
        public static extern int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

        [DllImport("libc", SetLastError = true)]
        public static extern int fsync(int fd);

        [DllImport("libc", SetLastError = true)]
        public static extern int close(int fd);
    }
}
