namespace RaftActors.Storage;

/// <summary>Tuning of a <see cref="FileRaftStorage"/>.</summary>
public sealed record FileRaftStorageOptions
{
    /// <summary>
    /// 16 MiB: few files for a long log, yet small enough that compaction, which deletes only
    /// whole segments a snapshot covers, keeps a node's disk bounded tightly (the segment being
    /// written is never deleted).
    /// </summary>
    public const long DefaultSegmentSize = 16L * 1024 * 1024;

    /// <summary>The smallest segment size accepted: a segment header and one small record.</summary>
    public const long MinimumSegmentSize = 64;

    /// <summary>The largest segment size accepted: a segment's header records where the one before it ends, in 32 bits.</summary>
    public const long MaximumSegmentSize = uint.MaxValue;

    public static readonly FileRaftStorageOptions Default = new();

    /// <summary>
    /// The size at which the write-ahead log moves on to a new segment file. A segment is
    /// closed before a record would take it past this size, so segments stay at or below it,
    /// except that a single record larger than the size gets a segment of its own. Each segment
    /// is created full size (written with zeros), so this is also what the segment being written
    /// takes on disk from its start.
    /// </summary>
    public long SegmentSize { get; init; } = DefaultSegmentSize;

    /// <summary>
    /// Whether a write is forced to disk (fsync) before it completes; on by default. Off, a write
    /// completes once the operating system has the bytes: a node then survives its own process
    /// crashing, but a power loss or kernel crash can lose writes it has acknowledged — votes and
    /// log entries a majority counted on — which breaks Raft's safety. For benchmarks and tests,
    /// never for data that matters.
    /// </summary>
    public bool Fsync { get; init; } = true;

    internal void Validate()
    {
        if (SegmentSize is < MinimumSegmentSize or > MaximumSegmentSize)
            throw new ArgumentOutOfRangeException(nameof(SegmentSize), SegmentSize, $"a segment must be {MinimumSegmentSize} to {MaximumSegmentSize} bytes");
    }
}
