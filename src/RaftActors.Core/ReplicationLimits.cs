namespace RaftActors.Core;

/// <summary>
/// How a leader batches and pipelines AppendEntries: at most <see cref="MaxEntriesPerAppend"/>
/// entries and about <see cref="MaxBytesPerAppend"/> bytes per message, and at most
/// <see cref="MaxAppendsInFlight"/> unacknowledged messages with entries per follower.
/// </summary>
public sealed record ReplicationLimits(int MaxEntriesPerAppend, int MaxBytesPerAppend, int MaxAppendsInFlight)
{
    public static readonly ReplicationLimits Default = new(512, 1 << 20, 8);
}
