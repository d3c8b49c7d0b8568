using RaftActors.Configuration;
using RaftActors.Storage;

namespace RaftActors.Server.Hosting;

/// <summary>
/// <c>restore --snapshot FILE --config node.conf</c>: seeds the node's new data directory
/// (<c>raft.data-dir</c>, absent or empty) from a backup that <c>raftctl snapshot save</c> wrote, as
/// <c>etcdutl snapshot restore</c> does. The cluster configuration is the node config's
/// <c>raft.members</c>, all voters, not the one in the file, so a cluster can be rebuilt on new
/// addresses: restore every member from the same file, then start them. Exit codes: 0 restored,
/// 1 the file is damaged or the directory not empty (nothing written), 2 a usage or configuration error.
/// </summary>
public static class RestoreCommand
{
    public static async Task<int> RunAsync(string snapshot, string configFile)
    {
        if (ServerSettings.LoadOrReport(configFile) is not { } settings)
            return 2;

        if (settings.Membership.Join)
        {
            Console.Error.WriteLine($"{Path.GetFullPath(configFile)}: raft.join: is on, but a restored node starts a cluster of raft.members' voters; set raft.join = off");
            return 2;
        }

        var configuration = settings.Membership.Bootstrap;
        SnapshotFileInfo restored;
        try
        {
            restored = await SnapshotArchive.RestoreAsync(Path.GetFullPath(snapshot), settings.DataDirectory, configuration);
        }
        catch (RaftStorageException e)
        {
            Console.Error.WriteLine($"restore: {e.Message}");
            return 1;
        }

        Console.WriteLine(
            $"restored {settings.NodeId}: {settings.DataDirectory} holds the snapshot through index {restored.Position.Index} " +
            $"(term {restored.Position.Term}, {restored.ContentLength} bytes of state) from {Path.GetFullPath(snapshot)}; " +
            $"members {string.Join(", ", configuration.Voters)} (raft.members of {Path.GetFullPath(configFile)})");
        return 0;
    }
}
