using System.Globalization;
using RaftActors.Storage;

namespace RaftActors.Cli;

/// <summary>
/// <c>raftctl snapshot save</c> and <c>status</c>: backups of the cluster's state, in the snapshot
/// file format the servers use (checked with the library's own reader).
/// </summary>
public static class SnapshotCommands
{
    /// <summary>
    /// Asks the nodes in turn for <c>GET /snapshot</c> — only the leader writes one, a follower's
    /// 503 moves on to the next node — and writes the body to a temporary file beside
    /// <paramref name="file"/>, fsynced and checked whole, then renamed over it: the file is replaced
    /// whole or left as it was. Saved is null when a node gave a final answer other than a snapshot.
    /// </summary>
    public static async Task<(ApiReply Reply, SnapshotFileInfo? Saved)> SaveAsync(KvClient client, string file, CancellationToken cancel)
    {
        var directory = Path.GetDirectoryName(file)!;
        if (!Directory.Exists(directory))
            throw new CliException($"cannot save to {file}: the directory {directory} does not exist");
        var partial = Path.Combine(directory, $".{Path.GetFileName(file)}.{Guid.NewGuid():N}.part");
        try
        {
            var reply = await client.SendAsync(HttpMethod.Get, "/snapshot", () => null, null, 0, cancel, download: async (response, token) =>
            {
                await using var output = new FileStream(partial, FileMode.Create, FileAccess.Write, FileShare.None, 64 * 1024, useAsync: true);
                await response.Content.CopyToAsync(output, token);
                output.Flush(flushToDisk: true);
            });
            if (reply.Status != 200)
                return (reply, null);

            SnapshotFileInfo saved;
            try
            {
                saved = SnapshotArchive.Verify(partial);
            }
            catch (RaftStorageException e)
            {
                throw new CliException($"the snapshot {reply.Node.Name} sent is damaged and was not saved: {e.Message}", ExitCodes.Failed);
            }

            File.Move(partial, file, overwrite: true);
            return (reply, saved);
        }
        catch (IOException e)
        {
            throw new CliException($"cannot save the snapshot to {file}: {e.Message}", ExitCodes.Failed);
        }
        finally
        {
            File.Delete(partial);
        }
    }

    /// <summary>What a snapshot holds, in one line: index, term, size, checksum.</summary>
    public static string Summary(SnapshotFileInfo snapshot) =>
        $"snapshot through index {snapshot.Position.Index} (term {snapshot.Position.Term}), {snapshot.Size} bytes, crc32c {Checksum(snapshot)}";

    /// <summary>Checks <paramref name="file"/> whole and prints its index, term, members and size.</summary>
    public static int Status(string file)
    {
        SnapshotFileInfo snapshot;
        try
        {
            snapshot = SnapshotArchive.Verify(file);
        }
        catch (RaftStorageException e)
        {
            throw new CliException(e.Message, ExitCodes.Failed);
        }

        Console.WriteLine($"snapshot  {file}");
        Console.WriteLine($"index     {snapshot.Position.Index}");
        Console.WriteLine($"term      {snapshot.Position.Term}");
        var members = snapshot.Configuration?.Members
            .Select(m => $"{m.Id} {(m.IsVoter ? "voter" : "learner")}{(m.Address is null ? "" : " " + m.Address)}")
            .ToList() ?? ["none recorded (the cluster's starting members held)"];
        for (var i = 0; i < members.Count; i++)
            Console.WriteLine($"{(i == 0 ? "members" : ""),-10}{members[i]}");
        Console.WriteLine($"size      {snapshot.Size} bytes (content {snapshot.ContentLength} bytes, crc32c {Checksum(snapshot)}): checksums match");
        return ExitCodes.Ok;
    }

    private static string Checksum(SnapshotFileInfo snapshot) => snapshot.ContentChecksum.ToString("x8", CultureInfo.InvariantCulture);
}
