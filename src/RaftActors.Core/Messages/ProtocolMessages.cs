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

/// <summary>
/// RequestVote RPC (Figure 2): sent by a candidate to every peer. With <see cref="PreVote"/> it is
/// a pre-vote (thesis §9.6): a node about to start an election asks whether it could win one;
/// <see cref="Term"/> is then the term it would campaign in (its own + 1, not adopted by anyone),
/// and the asked node changes nothing — not its term, its vote or its election timer. With
/// <see cref="Transfer"/> the candidate campaigns because its leader handed leadership to it
/// (<see cref="TimeoutNow"/>): voters that still believe in that leader answer it all the same.
/// </summary>
public sealed record RequestVote(long Term, string CandidateId, long LastLogIndex, long LastLogTerm, bool PreVote = false, bool Transfer = false)
    : IRaftProtocolMessage
{
    public string From => CandidateId;
}

/// <summary>
/// The reply to <see cref="RequestVote"/>; <see cref="Term"/> lets a stale candidate update itself.
/// The answer to a pre-vote (<see cref="PreVote"/>) carries, when granted, the term it was asked
/// for (so the pre-candidate matches it to its canvass and adopts nothing), and when refused the
/// asked node's own term (so a pre-candidate behind the cluster learns the current term).
/// </summary>
public sealed record RequestVoteResult(long Term, string VoterId, bool VoteGranted, bool PreVote = false) : IRaftProtocolMessage
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

/// <summary>
/// InstallSnapshot RPC (Figure 13): one chunk of the leader's snapshot, which covers the log through
/// <see cref="LastIncludedIndex"/> (of <see cref="LastIncludedTerm"/>), sent to a follower that
/// needs entries the leader's log no longer holds. <see cref="Data"/> is the snapshot's content from
/// byte <see cref="Offset"/> on; <see cref="Done"/> marks the last chunk. Chunks are bounded
/// (<c>raft.snapshot.chunk-size</c>) and a few travel ahead of the acknowledgements.
/// <see cref="Configuration"/> is the cluster's configuration as of the snapshot's last entry (the
/// entries that held it are gone); the wire always carries it. A message made in process without
/// one leaves the receiver with the configuration it had at that index.
/// </summary>
public sealed record InstallSnapshot(
    long Term,
    string LeaderId,
    long LastIncludedIndex,
    long LastIncludedTerm,
    long Offset,
    byte[] Data,
    bool Done,
    ClusterConfiguration? Configuration = null)
    : IRaftProtocolMessage
{
    public string From => LeaderId;

    public LogPosition Snapshot => new(LastIncludedIndex, LastIncludedTerm);

    public bool Equals(InstallSnapshot? other) =>
        other is not null && Term == other.Term && LeaderId == other.LeaderId && LastIncludedIndex == other.LastIncludedIndex &&
        LastIncludedTerm == other.LastIncludedTerm && Offset == other.Offset && Done == other.Done && Data.AsSpan().SequenceEqual(other.Data) &&
        Equals(Configuration, other.Configuration);

    public override int GetHashCode() => HashCode.Combine(Term, LeaderId, LastIncludedIndex, Offset, Data.Length, Done);

    public override string ToString() =>
        $"InstallSnapshot {{ Term = {Term}, LeaderId = {LeaderId}, Snapshot = {LastIncludedIndex}:{LastIncludedTerm}, Offset = {Offset}, {Data.Length} bytes, Done = {Done} }}";
}

/// <summary>
/// The reply to <see cref="InstallSnapshot"/>. <see cref="Term"/> lets a stale leader update itself
/// (Figure 13). Until the snapshot is installed, <see cref="NextOffset"/> is how many bytes of it
/// the follower holds durably, where the leader continues (0: start over, e.g. after the follower
/// restarted). <see cref="Done"/>: the follower's log and state now include the snapshot (or it had
/// committed past it already), durably.
/// </summary>
public sealed record InstallSnapshotResult(
    long Term,
    string FollowerId,
    long LastIncludedIndex,
    long LastIncludedTerm,
    long NextOffset,
    bool Done)
    : IRaftProtocolMessage
{
    public string From => FollowerId;

    public LogPosition Snapshot => new(LastIncludedIndex, LastIncludedTerm);
}

/// <summary>
/// A leader handing over its leadership (thesis §3.10, etcd's MsgTimeoutNow): the target, brought
/// up to date first, starts an election at once, without waiting for its timer or canvassing
/// pre-votes, and tells the voters so (<see cref="RequestVote.Transfer"/>).
/// </summary>
public sealed record TimeoutNow(long Term, string LeaderId) : IRaftProtocolMessage
{
    public string From => LeaderId;
}

/// <summary>
/// A follower asks its leader for a read index (thesis §6.4, etcd's MsgReadIndex), on behalf of
/// the linearizable reads its clients sent it: one request for every read waiting, one outstanding
/// at a time. <see cref="RequestId"/> matches the answer to the request.
/// </summary>
public sealed record ReadIndexRequest(long Term, string FollowerId, long RequestId) : IRaftProtocolMessage
{
    public string From => FollowerId;
}

/// <summary>
/// The leader's answer to <see cref="ReadIndexRequest"/>: its commit index when the request
/// arrived, sent once a majority confirmed its leadership after that (as for its own reads). The
/// follower serves the reads of the request once it has applied through <see cref="ReadIndex"/>.
/// </summary>
public sealed record ReadIndexResult(long Term, string LeaderId, long RequestId, long ReadIndex) : IRaftProtocolMessage
{
    public string From => LeaderId;
}
