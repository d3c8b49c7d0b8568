using System.Runtime.InteropServices;

namespace RaftActors.Storage;

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
