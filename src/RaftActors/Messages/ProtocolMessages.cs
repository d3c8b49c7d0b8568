using RaftActors.Core;

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
/// AppendEntries RPC (Figure 2): entries to replicate, or none as the leader's heartbeat.
/// <see cref="Sequence"/> numbers the leader's messages to one follower within its term, so a
/// reply says which request it answers (for pipelining and for ReadIndex's leadership check).
/// </summary>
public sealed record AppendEntries(
    long Term,
    string LeaderId,
    long PrevLogIndex,
    long PrevLogTerm,
    IReadOnlyList<LogEntry> Entries,
    long LeaderCommit,
    long Sequence = 0)
    : IRaftProtocolMessage
{
    public string From => LeaderId;

    public bool Equals(AppendEntries? other) =>
        other is not null && Term == other.Term && LeaderId == other.LeaderId && PrevLogIndex == other.PrevLogIndex &&
        PrevLogTerm == other.PrevLogTerm && LeaderCommit == other.LeaderCommit && Sequence == other.Sequence &&
        Entries.SequenceEqual(other.Entries);

    public override int GetHashCode() => HashCode.Combine(Term, LeaderId, PrevLogIndex, Entries.Count, Sequence);
}

/// <summary>
/// The reply to <see cref="AppendEntries"/>. On success <see cref="MatchIndex"/> is the last index
/// the request made this follower's log agree on. On refusal the conflict hint lets the leader
/// skip a whole term at a time (§5.3): <see cref="ConflictTerm"/> is the term of the follower's
/// entry at prevLogIndex (0 if its log is shorter) and <see cref="ConflictIndex"/> the first index
/// of that term (or the follower's last index + 1).
/// </summary>
public sealed record AppendEntriesResult(
    long Term,
    string FollowerId,
    bool Success,
    long MatchIndex = 0,
    long ConflictIndex = 0,
    long ConflictTerm = 0,
    long Sequence = 0)
    : IRaftProtocolMessage
{
    public string From => FollowerId;
}
