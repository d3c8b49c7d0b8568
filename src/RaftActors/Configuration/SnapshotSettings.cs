using Akka.Configuration;

namespace RaftActors.Configuration;

/// <summary>
/// When a node snapshots its state machine and compacts its log, and how a leader sends a snapshot
/// (the <c>raft.snapshot</c> section; §7 of the Raft paper). A node takes a snapshot once
/// <see cref="EntriesThreshold"/> entries, or <see cref="BytesThreshold"/> bytes of entries, were
/// applied since its last one (0 turns that limit off; both 0 turn snapshots off). Snapshots need a
/// state machine that implements <c>ISnapshotStateMachine</c>; with any other the log is never
/// compacted.
/// </summary>
public sealed record SnapshotSettings
{
    public static readonly SnapshotSettings Default = new(100_000, 64L << 20, 5_000, 64 << 10, 8);

    /// <summary>Snapshots never taken: the log grows forever (a state machine without snapshot support gets this).</summary>
    public static readonly SnapshotSettings Never = Default with { EntriesThreshold = 0, BytesThreshold = 0 };

    public SnapshotSettings(long entriesThreshold, long bytesThreshold, int trailingEntries, int chunkSize, int chunksInFlight)
    {
        if (entriesThreshold < 0)
            throw new RaftConfigurationException("raft.snapshot.entries-threshold", $"must be 0 (no limit) or positive, got {entriesThreshold}");
        if (bytesThreshold < 0)
            throw new RaftConfigurationException("raft.snapshot.bytes-threshold", $"must be 0 (no limit) or positive, got {bytesThreshold}");
        if (trailingEntries < 0)
            throw new RaftConfigurationException("raft.snapshot.trailing-entries", $"must be 0 or positive, got {trailingEntries}");
        if (chunkSize < 1)
            throw new RaftConfigurationException("raft.snapshot.chunk-size", $"must be at least 1 byte, got {chunkSize}");
        if (chunkSize > MaxChunkSize)
            throw new RaftConfigurationException("raft.snapshot.chunk-size", $"must be at most {MaxChunkSize / (1 << 20)} MiB (one remote message carries a chunk), got {chunkSize} bytes");
        if (chunksInFlight < 1)
            throw new RaftConfigurationException("raft.snapshot.chunks-in-flight", $"must be at least 1, got {chunksInFlight}");
        EntriesThreshold = entriesThreshold;
        BytesThreshold = bytesThreshold;
        TrailingEntries = trailingEntries;
        ChunkSize = chunkSize;
        ChunksInFlight = chunksInFlight;
    }

    /// <summary>The largest chunk accepted: a chunk is one remote message, held in memory whole on both sides.</summary>
    public const int MaxChunkSize = 16 << 20;

    /// <summary>Entries applied since the last snapshot that make the next one due; 0: no limit.</summary>
    public long EntriesThreshold { get; init; }

    /// <summary>Bytes of entries applied since the last snapshot that make the next one due; 0: no limit.</summary>
    public long BytesThreshold { get; init; }

    /// <summary>Entries kept behind a snapshot, so a follower that lags a little gets AppendEntries, not the snapshot.</summary>
    public int TrailingEntries { get; init; }

    /// <summary>Bytes of snapshot per InstallSnapshot message, at most.</summary>
    public int ChunkSize { get; init; }

    /// <summary>InstallSnapshot chunks a leader sends ahead of the follower's acknowledgements.</summary>
    public int ChunksInFlight { get; init; }

    /// <summary>Whether snapshots are taken at all.</summary>
    public bool Enabled => EntriesThreshold > 0 || BytesThreshold > 0;

    /// <summary>Whether a snapshot is due after <paramref name="entries"/> entries of <paramref name="bytes"/> bytes were applied since the last.</summary>
    public bool IsDue(long entries, long bytes) =>
        (EntriesThreshold > 0 && entries >= EntriesThreshold) || (BytesThreshold > 0 && bytes >= BytesThreshold);

    /// <summary>Reads <c>raft.snapshot</c> from <paramref name="raft"/> (which has the defaults beneath it).</summary>
    internal static SnapshotSettings FromConfig(Config raft) => new(
        HoconReader.Read(raft, "raft.snapshot.entries-threshold", c => c.GetLong("raft.snapshot.entries-threshold")),
        HoconReader.Read(raft, "raft.snapshot.bytes-threshold", c => c.GetByteSize("raft.snapshot.bytes-threshold") ?? 0),
        HoconReader.Read(raft, "raft.snapshot.trailing-entries", c => c.GetInt("raft.snapshot.trailing-entries")),
        HoconReader.Read(raft, "raft.snapshot.chunk-size", c => checked((int)(c.GetByteSize("raft.snapshot.chunk-size") ?? 0))),
        HoconReader.Read(raft, "raft.snapshot.chunks-in-flight", c => c.GetInt("raft.snapshot.chunks-in-flight")));
}
