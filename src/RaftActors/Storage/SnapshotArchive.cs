using RaftActors.Core;

namespace RaftActors.Storage;

/// <summary>What a checked snapshot file holds.</summary>
/// <param name="Position">The last entry the snapshot covers: its index and term.</param>
/// <param name="Configuration">The cluster configuration recorded with it (null: none recorded, the cluster's starting one held).</param>
/// <param name="ContentLength">Bytes of content: the client sessions and the state machine's own.</param>
/// <param name="ContentChecksum">The content's CRC32C, as the header records it.</param>
/// <param name="Size">Bytes of the whole file.</param>
public sealed record SnapshotFileInfo(LogPosition Position, ClusterConfiguration? Configuration, long ContentLength, uint ContentChecksum, long Size);

/// <summary>
/// Snapshot files outside a node's store: the backups a leader writes for
/// <see cref="Messages.ExportSnapshot"/>, checked, and restored into a new data directory. They are
/// in the store's own snapshot format (see <see cref="SnapshotFile"/>): a checksummed header, the
/// cluster configuration, then the client sessions and the state machine's state.
/// </summary>
public static class SnapshotArchive
{
    /// <summary>Checks a snapshot file whole (header, configuration and content against their checksums) and says what it holds.</summary>
    /// <exception cref="RaftStorageException">The file is missing, unreadable or damaged; the message names it and what is wrong.</exception>
    public static SnapshotFileInfo Verify(string path)
    {
        try
        {
            return SnapshotFile.Check(path, "the file cannot be used as a snapshot");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new RaftStorageException($"{path}: cannot read the snapshot file: {e.Message}", e);
        }
    }

    /// <summary>
    /// Seeds a new data directory for <see cref="FileRaftStorage"/> from a snapshot file: the
    /// snapshot becomes the store's snapshot, with <paramref name="configuration"/> as the cluster
    /// configuration in force at its last entry (not the one the file recorded, so a cluster can be
    /// rebuilt on new addresses); the log starts right after it; the hard state has the snapshot's
    /// term and no vote. A node started on the directory takes the snapshot's state and sessions,
    /// and campaigns with the other members seeded from the same file.
    /// </summary>
    /// <param name="snapshotPath">The snapshot file, as <see cref="Messages.ExportSnapshot"/> writes it.</param>
    /// <param name="dataDirectory">The new node's data directory: absent or empty.</param>
    /// <param name="configuration">The members of the restored cluster; at least one voter.</param>
    /// <returns>What the file holds, with the configuration the store now records in its place.</returns>
    /// <exception cref="RaftStorageException">The file is damaged, or the directory is not empty; nothing was written.</exception>
    public static async Task<SnapshotFileInfo> RestoreAsync(string snapshotPath, string dataDirectory, ClusterConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        if (configuration.Voters.Count == 0)
            throw new ArgumentException("a restored cluster needs at least one voter", nameof(configuration));
        if (Directory.Exists(dataDirectory) && Directory.EnumerateFileSystemEntries(dataDirectory).Any())
            throw new RaftStorageException(
                $"{dataDirectory}: the data directory is not empty; a snapshot is restored only into a new one (absent or empty): " +
                "move this one aside first");
        var snapshot = Verify(snapshotPath);

        using var store = FileRaftStorage.Open(dataDirectory);
        using var sink = store.CreateSnapshot(snapshot.Position, configuration);
        await using (var content = SnapshotFile.OpenContent(snapshotPath))
            await content.CopyToAsync(sink.AsStream());
        await sink.CompleteAsync();
        await store.WriteAsync(new StorageWrite(
            new HardState(snapshot.Position.Term, null),
            [new SaveSnapshot(snapshot.Position), new ResetLog(snapshot.Position.Index)]));
        return snapshot with { Configuration = configuration };
    }

    /// <summary>
    /// Writes a snapshot file at <paramref name="path"/> whole or not at all: the content goes to a
    /// temporary file beside it (<c>snapshot-*.tmp</c>, which a store deletes when it opens) that
    /// <paramref name="writeContent"/> fills and completes, then it is renamed into place and the
    /// directory fsynced. Returns the file's size.
    /// </summary>
    internal static async Task<long> WriteAsync(string path, LogPosition position, ClusterConfiguration? configuration, Func<SnapshotSink, Task> writeContent)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        var sync = new DiskSync(fsync: true);
        using var sink = new FileSnapshotSink(directory, position, configuration, sync, staged: _ => { }, discarded: _ => { });
        await writeContent(sink);
        if (!sink.Claim())
            throw new InvalidOperationException($"{sink.TemporaryPath}: the snapshot was not completed");
        sink.SaveAs(path);
        sync.Directory(directory);
        return new FileInfo(path).Length;
    }
}
