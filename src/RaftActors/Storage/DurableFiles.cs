using System.Runtime.InteropServices;

namespace RaftActors.Storage;

/// <summary>What a store does to a file: write bytes to it, or fsync it (or its directory).</summary>
internal enum DiskOperation
{
    Write,
    Fsync,
}

/// <summary>
/// How a store writes its files and makes them durable, shared by the hard-state file, the
/// write-ahead log and snapshots: fsync (counted, so tests can check group commit), or — with
/// <see cref="FileRaftStorageOptions.Fsync"/> off — hand the bytes to the operating system and no further.
/// </summary>
internal sealed class DiskSync(bool fsync)
{
    private long _count;

    /// <summary>fsync calls made (files and directories) on the write path.</summary>
    public long Count => Interlocked.Read(ref _count);

    /// <summary>Whether writes are forced to disk.</summary>
    public bool IsOn => fsync;

    /// <summary>
    /// Test seam: asked before every write and fsync with the operation and the file (the
    /// directory, for a directory's fsync); the exception it returns is that operation failing. A
    /// failing write first writes half its bytes, as on a disk that fills midway (a short write,
    /// then ENOSPC), so that recovery meets a torn record.
    /// </summary>
    public Func<DiskOperation, string, Exception?>? Fault { get; set; }

    /// <summary>Writes <paramref name="data"/> at <paramref name="file"/>'s position.</summary>
    public void Write(FileStream file, ReadOnlySpan<byte> data)
    {
        if (Fault?.Invoke(DiskOperation.Write, file.Name) is { } failure)
        {
            file.Write(data[..(data.Length / 2)]);
            file.Flush(flushToDisk: false);
            throw failure;
        }

        file.Write(data);
    }

    /// <summary>Writes <paramref name="data"/> at <paramref name="file"/>'s position, asynchronously.</summary>
    public async Task WriteAsync(FileStream file, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        if (Fault?.Invoke(DiskOperation.Write, file.Name) is { } failure)
        {
            await file.WriteAsync(data[..(data.Length / 2)], cancellationToken).ConfigureAwait(false);
            await file.FlushAsync(cancellationToken).ConfigureAwait(false);
            throw failure;
        }

        await file.WriteAsync(data, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Writes <paramref name="file"/>'s buffered bytes and, when fsync is on, forces them to disk.</summary>
    public void File(FileStream file) => Force(file, dataOnly: false);

    /// <summary>
    /// Like <see cref="File"/>, but forces only the data and what reading it back needs (on Linux
    /// fdatasync): for writes into a file whose size and blocks are already durable, such as a
    /// preallocated log segment, it spares the journal commit of the modification time.
    /// </summary>
    public void Data(FileStream file) => Force(file, dataOnly: true);

    private void Force(FileStream file, bool dataOnly)
    {
        if (Fault?.Invoke(DiskOperation.Fsync, file.Name) is { } failure)
            throw failure;
        if (!fsync)
        {
            file.Flush(flushToDisk: false);
            return;
        }

        if (dataOnly)
            DurableFiles.FlushData(file);
        else
            file.Flush(flushToDisk: true);
        Interlocked.Increment(ref _count);
    }

    /// <summary>Makes a created or renamed file's directory entry durable, when fsync is on.</summary>
    public void Directory(string directory)
    {
        if (Fault?.Invoke(DiskOperation.Fsync, directory) is { } failure)
            throw failure;
        if (!fsync)
            return;
        DurableFiles.FsyncDirectory(directory);
        Interlocked.Increment(ref _count);
    }
}

/// <summary>File-system durability helpers shared by the hard-state file and the write-ahead log.</summary>
internal static class DurableFiles
{
    /// <summary>
    /// A created or renamed file is durable only once its directory entry is: fsync the
    /// directory. .NET has no API for that, so on Unix call open/fsync directly; Windows
    /// commits renames itself.
    /// </summary>
    public static void FsyncDirectory(string directory)
    {
        if (OperatingSystem.IsWindows())
            return;
        var fd = NativeMethods.open(directory, 0 /* O_RDONLY */);
        if (fd < 0)
            throw ErrnoException($"cannot open directory {directory} to fsync it");
        try
        {
            if (NativeMethods.fsync(fd) != 0)
                throw ErrnoException($"fsync of directory {directory} failed");
        }
        finally
        {
            NativeMethods.close(fd);
        }
    }

    /// <summary>
    /// Writes <paramref name="file"/>'s buffered bytes and forces its data to disk: fdatasync on
    /// Linux, which leaves out metadata that reading the data back does not need (the modification
    /// time; a change of size it does commit); elsewhere a full flush.
    /// </summary>
    public static void FlushData(FileStream file)
    {
        if (!OperatingSystem.IsLinux())
        {
            file.Flush(flushToDisk: true);
            return;
        }

        file.Flush(flushToDisk: false);
        var handle = file.SafeFileHandle;
        var referenced = false;
        try
        {
            handle.DangerousAddRef(ref referenced); // the descriptor stays open during the call
            if (NativeMethods.fdatasync((int)handle.DangerousGetHandle()) != 0)
                throw ErrnoException($"fdatasync of {file.Name} failed");
        }
        finally
        {
            if (referenced)
                handle.DangerousRelease();
        }
    }

    /// <summary>The failed call's OS error, by name and number, as .NET reports those of files (the number in HResult).</summary>
    private static IOException ErrnoException(string what)
    {
        var errno = Marshal.GetLastPInvokeError();
        return new IOException($"{what}: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})", errno);
    }

    private static class NativeMethods
    {
        [DllImport("libc", SetLastError = true)]
        public static extern int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

        [DllImport("libc", SetLastError = true)]
        public static extern int fsync(int fd);

        [DllImport("libc", SetLastError = true)]
        public static extern int close(int fd);

        [DllImport("libc", SetLastError = true)]
        public static extern int fdatasync(int fd);
    }
}
