using RaftActors.Core;

namespace RaftActors.Storage;

/// <summary>
/// A node's stable storage: the hard state (term, vote), the latest snapshot and the log after it.
/// A store is opened, and its contents checked, before the node starts, so the node reads its
/// durable state without touching the disk. Writes are asynchronous and issued one at a time, in
/// order; the node waits for a write's completion before it sends anything that depends on it.
/// </summary>
public interface IRaftStorage
{
    /// <summary>The hard state as of the last completed write (or as loaded when opened).</summary>
    HardState HardState { get; }

    /// <summary>The last entry the latest durable snapshot covers; <see cref="LogPosition.Empty"/> before the first.</summary>
    LogPosition Snapshot { get; }

    /// <summary>
    /// The cluster configuration the latest durable snapshot holds (the configuration in force at its
    /// last entry, whose log entries it replaced); null without a snapshot, or for a snapshot that
    /// recorded none (the cluster's starting configuration is then the one in force).
    /// </summary>
    ClusterConfiguration? SnapshotConfiguration { get; }

    /// <summary>
    /// The durable log as of the last completed write: contiguous entries, from 1 until a snapshot
    /// lets the log drop a prefix. The first entry is then at most one past <see cref="Snapshot"/>'s
    /// index; entries at or before it may stay (kept for followers that lag a little).
    /// </summary>
    IReadOnlyList<LogEntry> Entries { get; }

    /// <summary>
    /// Makes a batch durable: the log operations in order, then the hard state if any. The task
    /// completes once all of it is on stable storage (one fsync for the whole batch).
    /// </summary>
    Task WriteAsync(StorageWrite write);

    /// <summary>
    /// Starts a snapshot that covers the log through <paramref name="position"/>, with the cluster
    /// <paramref name="configuration"/> in force there: its content is written to the sink,
    /// <see cref="SnapshotSink.CompleteAsync"/> makes it durable and stages it, and a later write
    /// with <see cref="SaveSnapshot"/> makes it the latest. Nothing touches the disk before the
    /// first write to the sink; a sink disposed before it is saved leaves nothing.
    /// </summary>
    SnapshotSink CreateSnapshot(LogPosition position, ClusterConfiguration? configuration = null);

    /// <summary>
    /// Opens the latest durable snapshot's content for reading (a seekable stream the caller
    /// disposes), and says which snapshot it is. A snapshot saved later does not disturb it.
    /// </summary>
    /// <exception cref="RaftStorageException">There is no snapshot, or it cannot be read.</exception>
    OpenedSnapshot OpenSnapshot();
}

/// <summary>A durable snapshot opened for reading: which it is, the configuration it holds, and its content (the caller disposes it).</summary>
public sealed record OpenedSnapshot(LogPosition Position, ClusterConfiguration? Configuration, Stream Content)
{
    public void Deconstruct(out LogPosition position, out Stream content)
    {
        position = Position;
        content = Content;
    }
}

/// <summary>One group-committed batch of changes to stable storage.</summary>
public sealed record StorageWrite(HardState? HardState, IReadOnlyList<LogOperation> LogOperations)
{
    public static StorageWrite OfHardState(HardState state) => new(state, []);
}

/// <summary>A change to the stored log (or to the snapshot that comes before it).</summary>
public abstract record LogOperation;

/// <summary>Deletes the entry at <paramref name="FromIndex"/> and every entry after it.</summary>
public sealed record TruncateLog(long FromIndex) : LogOperation;

/// <summary>Appends entries that follow the current last entry, without gaps.</summary>
public sealed record AppendToLog(IReadOnlyList<LogEntry> Entries) : LogOperation;

/// <summary>Makes the snapshot staged for <paramref name="Position"/> the latest; older snapshots are deleted.</summary>
public sealed record SaveSnapshot(LogPosition Position) : LogOperation;

/// <summary>Deletes the entries through <paramref name="ThroughIndex"/>, which a saved snapshot covers; those after it stay.</summary>
public sealed record CompactLog(long ThroughIndex) : LogOperation;

/// <summary>Deletes every entry: the log continues after <paramref name="AfterIndex"/>, a saved snapshot's last entry.</summary>
public sealed record ResetLog(long AfterIndex) : LogOperation;

/// <summary>The mapping of the protocol's log changes to stored log operations.</summary>
public static class LogOperations
{
    /// <summary>The storage operations that make a write's log changes durable, in order.</summary>
    internal static IReadOnlyList<LogOperation> Of(IEnumerable<LogChange> changes)
    {
        var operations = new List<LogOperation>();
        foreach (var change in changes)
        {
            switch (change)
            {
                case PersistEntries persist:
                    if (persist.TruncateFrom != AppendDecision.NoTruncation)
                        operations.Add(new TruncateLog(persist.TruncateFrom));
                    if (persist.Entries.Count > 0)
                        operations.Add(new AppendToLog(persist.Entries));
                    break;
                case PersistSnapshot snapshot:
                    operations.Add(new SaveSnapshot(snapshot.Snapshot));
                    operations.Add(snapshot.DiscardLog ? new ResetLog(snapshot.Snapshot.Index) : new CompactLog(snapshot.CompactThrough));
                    break;
                default:
                    throw new ArgumentException($"unknown log change {change}");
            }
        }

        return operations;
    }

    /// <summary>Applies log operations to an in-memory copy of a log of entries 1..n, checking that it stays contiguous (no compaction).</summary>
    public static void ApplyTo(List<LogEntry> entries, IEnumerable<LogOperation> operations)
    {
        var log = new LogBuffer();
        foreach (var entry in entries)
            log.Append(entry);
        foreach (var operation in operations)
        {
            if (operation is CompactLog or ResetLog or SaveSnapshot)
                throw new ArgumentException($"a list of entries 1..n cannot hold a compacted log ({operation}); use a {nameof(LogBuffer)}");
            log.Apply(operation);
        }

        entries.Clear();
        entries.AddRange(log.Snapshot());
    }
}

public static class RaftStorageExtensions
{
    /// <summary>Makes a new hard state durable, with no change to the log.</summary>
    public static Task SaveHardStateAsync(this IRaftStorage storage, HardState state) =>
        storage.WriteAsync(StorageWrite.OfHardState(state));
}
