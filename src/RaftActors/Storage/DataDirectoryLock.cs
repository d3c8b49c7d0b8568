namespace RaftActors.Storage;

/// <summary>
/// The exclusive claim of one process, one store, on a data directory, as etcd, bbolt and LevelDB
/// take theirs: an operating-system lock on the file <c>LOCK</c>, held for the store's lifetime.
/// Two live incarnations of one node on one write-ahead log could vote twice in a term and write
/// over each other's log; the second one fails to open instead.
/// </summary>
/// <remarks>
/// <para>The lock is the one .NET takes for <see cref="FileShare.None"/>: <c>flock(LOCK_EX)</c> on
/// Unix, a sharing violation on Windows. It belongs to the open file, so the operating system
/// releases it when the process dies, however it dies: a crashed node never leaves a stale lock.
/// It also holds between two stores of the same process (a test, or an application that opens
/// one directory twice).</para>
/// <para>Nobody else can read a file locked so, so the holder's process id is kept beside it in
/// <c>LOCK.owner</c>, for the error message only: it may name a process that has since died and
/// been replaced, which is why the lock, not that file, decides.</para>
/// </remarks>
internal sealed class DataDirectoryLock : IDisposable
{
    public const string FileName = "LOCK";
    public const string OwnerFileName = "LOCK.owner";

    private readonly FileStream _lock;

    private DataDirectoryLock(FileStream @lock) => _lock = @lock;

    /// <summary>Takes the directory's lock, or fails at once.</summary>
    /// <exception cref="RaftStorageException">Another process or store holds it; the message names the directory and, where known, the holder's process id.</exception>
    public static DataDirectoryLock Acquire(string directory)
    {
        var path = Path.Combine(directory, FileName);
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e) when (e is not FileNotFoundException and not DirectoryNotFoundException)
        {
            throw new RaftStorageException(
                $"{Path.GetFullPath(directory)} is in use by {Holder(directory)}: one data directory serves one node process at a time ({e.Message})", e);
        }

        try
        {
            File.WriteAllText(Path.Combine(directory, OwnerFileName), $"{Environment.ProcessId}\n");
        }
        catch (IOException)
        {
            // Only the error message of a later opener reads it; the lock is taken all the same.
        }

        return new DataDirectoryLock(stream);
    }

    private static string Holder(string directory)
    {
        try
        {
            if (!int.TryParse(File.ReadAllText(Path.Combine(directory, OwnerFileName)).Trim(), out var pid))
                return "another process";
            return pid == Environment.ProcessId ? "another store in this process" : $"another process (pid {pid})";
        }
        catch (IOException)
        {
            return "another process";
        }
    }

    /// <summary>Releases the lock; the files stay (the next holder reuses them).</summary>
    public void Dispose() => _lock.Dispose();
}
