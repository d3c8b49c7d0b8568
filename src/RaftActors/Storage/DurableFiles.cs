using System.Runtime.InteropServices;

namespace RaftActors.Storage;

/// <summary>
/// How a store makes its writes durable, shared by the hard-state file and the write-ahead log:
/// fsync (counted, so tests can check group commit), or — with <see cref="FileRaftStorageOptions.Fsync"/>
/// off — hand the bytes to the operating system and no further.
/// </summary>
internal sealed class DiskSync(bool fsync)
{
    private long _count;

    /// <summary>fsync calls made (files and directories).</summary>
    public long Count => Interlocked.Read(ref _count);

    /// <summary>Writes <paramref name="file"/>'s buffered bytes and, when fsync is on, forces them to disk.</summary>
    public void File(FileStream file)
    {
        file.Flush(flushToDisk: fsync);
        if (fsync)
            Interlocked.Increment(ref _count);
    }

    /// <summary>Makes a created or renamed file's directory entry durable, when fsync is on.</summary>
    public void Directory(string directory)
    {
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
