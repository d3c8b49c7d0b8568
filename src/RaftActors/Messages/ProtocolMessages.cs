namespace RaftActors.Messages;

/// <summary>
/// A Raft RPC or reply exchanged between nodes. Every one carries the sender's term: the
/// "adopt any higher term" rule of Figure 2 is applied to all of them in one place.
/// Senders are identified by id inside the message, never by the Akka sender, so the
/// protocol does not care how a message travelled.
/// </summary>
public interface IRaftProtocolMessage
{
    long Term { get; }

    /// <summary>The id of the node that sent this message.</summary>
    string From { get; }
}

/// <summary>RequestVote RPC (Figure 2): sent by a candidate to every peer.</summary>
public sealed record RequestVote(long Term, string CandidateId, long LastLogIndex, long LastLogTerm)
    : IRaftProtocolMessage
{
    public string From => CandidateId;
}

/// <summary>The reply to <see cref="RequestVote"/>; <see cref="Term"/> lets a stale candidate update itself.</summary>
public sealed record RequestVoteResult(long Term, string VoterId, bool VoteGranted) : IRaftProtocolMessage
{
    public string From => VoterId;
}

/// <summary>
/// AppendEntries RPC (Figure 2). Without entries it is the leader's heartbeat; log entries
/// join it with log replication.
/// </summary>
public sealed record AppendEntries(long Term, string LeaderId, long PrevLogIndex, long PrevLogTerm, long LeaderCommit)
    : IRaftProtocolMessage
{
    public string From => LeaderId;
}

/// <summary>The reply to <see cref="AppendEntries"/>.</summary>
public sealed record AppendEntriesResult(long Term, string FollowerId, bool Success) : IRaftProtocolMessage
{
    public string From => FollowerId;
}
