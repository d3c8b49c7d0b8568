namespace RaftActors.Messages;

/// <summary>
/// Whether a node is ready to serve, as a readiness probe (a load balancer's, an orchestrator's)
/// asks, and why not. One rule for every host, from the node's <see cref="RaftStatus"/>: a node is
/// ready when its stable storage works, it knows a leader, and its state machine has applied every
/// entry it knows committed — so a read it serves locally is not behind what it has heard, and a
/// request it forwards has somewhere to go.
/// </summary>
public sealed record RaftReadiness(bool IsReady, string Reason)
{
    public static RaftReadiness Of(RaftStatus status)
    {
        ArgumentNullException.ThrowIfNull(status);
        if (status.StorageFailure is { } failure)
            return new RaftReadiness(false, $"stable storage failed: {failure}; the node takes part in nothing until it is restarted");
        if (status.LeaderId is null)
            return new RaftReadiness(false, "no leader is known");
        if (status.LastApplied < status.CommitIndex)
            return new RaftReadiness(false, $"applied through entry {status.LastApplied}, behind the commit index {status.CommitIndex}");
        return new RaftReadiness(true, $"leader {status.LeaderId} is known and every committed entry (through {status.CommitIndex}) is applied");
    }
}
