namespace RaftActors.Core;

/// <summary>
/// How a leader batches and pipelines AppendEntries: at most <see cref="MaxEntriesPerAppend"/>
/// entries and about <see cref="MaxBytesPerAppend"/> bytes per message, and at most
/// <see cref="MaxAppendsInFlight"/> unacknowledged messages with entries per follower.
/// </summary>
public sealed record ReplicationLimits(int MaxEntriesPerAppend, int MaxBytesPerAppend, int MaxAppendsInFlight)
{
    public static readonly ReplicationLimits Default = new(512, 1 << 20, 8);

    /// <summary>
    /// Whether messages that do not fill the limits are pipelined too. Off (the default), only full
    /// messages are: with one unanswered, fewer entries wait for its answer and travel together
    /// (Nagle's rule), which saves messages and syncs and costs a command up to one round trip of
    /// waiting. On, every flush sends what is new, up to <see cref="MaxAppendsInFlight"/>
    /// messages: for links whose round trip is long beside a sync.
    /// </summary>
    public bool PipelinePartialAppends { get; init; }
}
