using System.Diagnostics;
using RaftActors.Storage;

namespace RaftActors.Tests.Storage;

/// <summary>
/// One store per data directory: a second live store on the same write-ahead log could vote twice
/// in a term and write over the log, so opening a directory in use fails at once, naming it.
/// </summary>
public sealed class DataDirectoryLockTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Open_WhileAnotherStoreHoldsTheDirectory_FailsNamingItAndTheHolder()
    {
        using var first = FileRaftStorage.Open(_dir.Path);

        var refused = Assert.Throws<RaftStorageException>(() => FileRaftStorage.Open(_dir.Path));

        Assert.Contains(Path.GetFullPath(_dir.Path), refused.Message);
        Assert.Contains("another store in this process", refused.Message);
    }

    [Fact]
    public void Open_AfterTheHolderIsDisposed_Succeeds()
    {
        FileRaftStorage.Open(_dir.Path).Dispose();

        using var second = FileRaftStorage.Open(_dir.Path);

        Assert.True(File.Exists(_dir.File(DataDirectoryLock.FileName)));
    }

    [Fact]
    public void Open_ThatFailsOnDamagedState_ReleasesTheLock()
    {
        File.WriteAllBytes(_dir.File(FileRaftStorage.HardStateFileName), [1, 2, 3]);
        Assert.Throws<RaftStorageException>(() => FileRaftStorage.Open(_dir.Path));

        File.Delete(_dir.File(FileRaftStorage.HardStateFileName));
        using var store = FileRaftStorage.Open(_dir.Path); // the failed open let go of the lock
    }

    [Fact]
    public void Open_NamesTheProcessThatHoldsTheDirectory()
    {
        // What another process left: its pid beside the lock. The lock itself is held here, so the
        // message can only come from the owner file.
        using var first = FileRaftStorage.Open(_dir.Path);
        File.WriteAllText(_dir.File(DataDirectoryLock.OwnerFileName), "424242\n");

        var refused = Assert.Throws<RaftStorageException>(() => FileRaftStorage.Open(_dir.Path));

        Assert.Contains("another process (pid 424242)", refused.Message);
    }

    [Fact]
    public void TheLock_IsAnOperatingSystemLockOtherProcessesSee()
    {
        if (OperatingSystem.IsWindows())
            return; // flock(1) is a Unix tool; on Windows the lock is a sharing violation, seen by every opener

        using var store = FileRaftStorage.Open(_dir.Path);
        Assert.Equal(1, Flock(_dir.File(DataDirectoryLock.FileName))); // held: flock -n gives up

        store.Dispose();
        Assert.Equal(0, Flock(_dir.File(DataDirectoryLock.FileName))); // released
    }

    /// <summary>The exit code of <c>flock -n FILE true</c>: 0 when it could take the lock, 1 when another holds it.</summary>
    private static int Flock(string file)
    {
        using var process = Process.Start(new ProcessStartInfo("flock", ["-n", file, "true"]) { RedirectStandardError = true })!;
        Assert.True(process.WaitForExit(10_000), "flock did not finish in 10 s");
        return process.ExitCode;
    }
}
