using RaftActors.Storage;

namespace RaftActors.Tests.Storage;

/// <summary>Failures a test injects into a <see cref="FileRaftStorage"/>'s disk operations (<see cref="FileRaftStorage.Fault"/>).</summary>
internal static class DiskFaults
{
    private const int Enospc = 28;

    /// <summary>The error .NET reports for a write or fsync on a full disk (errno 28, in HResult).</summary>
    public static IOException NoSpace(string path) => new($"No space left on device : '{path}'", Enospc);

    /// <summary>
    /// Fails the <paramref name="nth"/> <paramref name="operation"/> (from 1) on a file whose name
    /// contains <paramref name="file"/>, and every such operation after it: a full disk stays full.
    /// </summary>
    public static Func<DiskOperation, string, Exception?> FailFrom(DiskOperation operation, string file, int nth = 1)
    {
        var seen = 0;
        return (op, path) => op == operation && Path.GetFileName(path).Contains(file, StringComparison.Ordinal) && Interlocked.Increment(ref seen) >= nth
            ? NoSpace(path)
            : null;
    }
}
