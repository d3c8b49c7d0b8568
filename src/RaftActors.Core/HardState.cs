namespace RaftActors.Core;

/// <summary>
/// The persistent state of Figure 2 that is not the log: the latest term the node has seen
/// and whom it voted for in that term. It must be durable before any message that depends
/// on it leaves the node.
/// </summary>
public sealed record HardState(long Term, string? VotedFor)
{
    public static readonly HardState Initial = new(0, null);
}
