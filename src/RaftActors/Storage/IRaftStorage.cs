using RaftActors.Core;

namespace RaftActors.Storage;

/// <summary>
/// A node's stable storage: the hard state (term, vote) and the log. A store is opened, and
/// its contents checked, before the node starts, so the node reads its durable state without
/// touching the disk. Writes are asynchronous and issued one at a time, in order; the node
/// waits for a write's completion before it sends anything that depends on it.
/// </summary>
public interface IRaftStorage
{
    /// <summary>The hard state as of the last completed write (or as loaded when opened).</summary>
    HardState HardState { get; }

    /// <summary>The durable log as of the last completed write: entries 1..n, contiguous.</summary>
    IReadOnlyList<LogEntry> Entries { get; }

    /// <summary>
    /// Makes a batch durable: the log operations in order, then the hard state if any. The task
    /// completes once all of it is on stable storage (one fsync for the whole batch).
    /// </summary>
    Task WriteAsync(StorageWrite write);
}

/// <summary>One group-committed batch of changes to stable storage.</summary>
public sealed record StorageWrite(HardState? HardState, IReadOnlyList<LogOperation> LogOperations)
{
    public static StorageWrite OfHardState(HardState state) => new(state, []);
}

/// <summary>A change to the stored log.</summary>
public abstract record LogOperation;

/// <summary>Deletes the entry at <paramref name="FromIndex"/> and every entry after it.</summary>
public sealed record TruncateLog(long FromIndex) : LogOperation;

/// <summary>Appends entries that follow the current last entry, without gaps.</summary>
public sealed record AppendToLog(IReadOnlyList<LogEntry> Entries) : LogOperation;

/// <summary>Applies log operations to an in-memory copy of a log, checking that it stays contiguous.</summary>
public static class LogOperations
{
    /// <summary>The storage operations that make a write's log changes durable, in order.</summary>
    public static IReadOnlyList<LogOperation> Of(IEnumerable<PersistEntries> changes)
    {
        var operations = new List<LogOperation>();
        foreach (var change in changes)
        {
            if (change.TruncateFrom != AppendDecision.NoTruncation)
                operations.Add(new TruncateLog(change.TruncateFrom));
            if (change.Entries.Count > 0)
                operations.Add(new AppendToLog(change.Entries));
        }

        return operations;
    }

    public static void ApplyTo(List<LogEntry> entries, IEnumerable<LogOperation> operations)
    {
        foreach (var operation in operations)
        {
            switch (operation)
            {
                case TruncateLog truncate:
                    if (truncate.FromIndex < 1)
                        throw new ArgumentException($"cannot truncate from index {truncate.FromIndex}");
                    if (truncate.FromIndex <= entries.Count)
                        entries.RemoveRange((int)truncate.FromIndex - 1, entries.Count - (int)truncate.FromIndex + 1);
                    break;
                case AppendToLog append:
                    foreach (var entry in append.Entries)
                    {
                        if (entry.Index != entries.Count + 1)
                            throw new ArgumentException($"entry {entry.Index} does not follow the last stored entry {entries.Count}");
                        entries.Add(entry);
                    }

                    break;
                default:
                    throw new ArgumentException($"unknown log operation {operation}");
            }
        }
    }
}

public static class RaftStorageExtensions
{
    /// <summary>Makes a new hard state durable, with no change to the log.</summary>
    public static Task SaveHardStateAsync(this IRaftStorage storage, HardState state) =>
        storage.WriteAsync(StorageWrite.OfHardState(state));
}
