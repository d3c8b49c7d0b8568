using RaftActors.Messages;

namespace RaftActors.Core;

/// <summary>
/// What <see cref="RaftProtocol"/> asks its host to do. The host carries effects out in order;
/// a message that follows a persist effect must not leave before that write is durable.
/// </summary>
internal abstract record RaftEffect;

/// <summary>Make this hard state durable; later sends depend on it.</summary>
internal sealed record PersistHardState(HardState State) : RaftEffect;

/// <summary>
/// A change to the durable log. The host makes log changes durable in the order they come, group-
/// committed with the hard state; later sends that wait for the log wait for them.
/// </summary>
internal abstract record LogChange : RaftEffect
{
    /// <summary>The log's last position once this change is durable, when the change moves it.</summary>
    public abstract LogPosition? LastAfterChange { get; }
}

/// <summary>
/// Make a log change durable: delete from <see cref="TruncateFrom"/> on (0: nothing), then append
/// <see cref="Entries"/>. Once durable, report <see cref="LastAfter"/> back through
/// <see cref="RaftProtocol.Persisted"/>; later sends depend on the change.
/// </summary>
internal sealed record PersistEntries(long TruncateFrom, IReadOnlyList<LogEntry> Entries, LogPosition LastAfter) : LogChange
{
    public override LogPosition? LastAfterChange => LastAfter;
}

/// <summary>
/// Make <see cref="Snapshot"/> the node's latest snapshot, durably (§7): save the snapshot content
/// the host staged for that position (the applier's, or one received from the leader), then either
/// discard the whole log, which continues after the snapshot (<see cref="DiscardLog"/>, Figure 13
/// rule 7), or drop the entries through <see cref="CompactThrough"/> and keep those after it.
/// </summary>
internal sealed record PersistSnapshot(LogPosition Snapshot, bool DiscardLog, long CompactThrough) : LogChange
{
    public override LogPosition? LastAfterChange => DiscardLog ? Snapshot : null;
}

/// <summary>
/// Send a protocol message to a peer once the hard state decided before it is durable — and,
/// with <see cref="AfterLogDurable"/>, the log changes decided before it too (a follower's
/// acknowledgement of entries). A leader's AppendEntries does not wait for its own log write:
/// it replicates while it writes, and counts itself toward a quorum only once durable.
/// </summary>
internal sealed record SendMessage(string To, IRaftProtocolMessage Message, bool AfterLogDurable = false) : RaftEffect;

/// <summary>
/// A leader's follower needs entries the leader's log no longer holds: send it the latest durable
/// snapshot in chunks (<see cref="InstallSnapshot"/>). The follower's final, done answer goes
/// through <see cref="RaftProtocol.Step"/>; a transfer the host gives up on is reported through
/// <see cref="RaftProtocol.SnapshotTransferFailed"/>.
/// </summary>
internal sealed record SendSnapshot(string To) : RaftEffect;

/// <summary>
/// A chunk of a snapshot from the current leader: the host writes it durably and acknowledges it;
/// once the last chunk is durable it calls <see cref="RaftProtocol.SnapshotReceived"/>.
/// </summary>
internal sealed record AcceptSnapshotChunk(InstallSnapshot Chunk) : RaftEffect;

/// <summary>
/// The state machine takes the state of <see cref="Snapshot"/> (Figure 13 rule 8), once the
/// <see cref="PersistSnapshot"/> before it is durable; the entries after it are applied after it.
/// </summary>
internal sealed record RestoreSnapshot(LogPosition Snapshot) : RaftEffect;

/// <summary>(Re)start the election timer with a freshly drawn timeout.</summary>
internal sealed record ResetElectionTimer(TimeSpan Timeout) : RaftEffect;

/// <summary>Stop the election timer: a leader does not time out.</summary>
internal sealed record StopElectionTimer : RaftEffect;

/// <summary>Start the leader's periodic heartbeat timer.</summary>
internal sealed record StartHeartbeatTimer(TimeSpan Interval) : RaftEffect;

/// <summary>Stop the heartbeat timer: only a leader sends heartbeats.</summary>
internal sealed record StopHeartbeatTimer : RaftEffect;

/// <summary>These entries are now committed: apply them, in order, exactly once.</summary>
internal sealed record ApplyEntries(IReadOnlyList<LogEntry> Entries) : RaftEffect;

/// <summary>A read may be served once the state machine has applied <see cref="ReadIndex"/> (ReadIndex, thesis §6.4).</summary>
internal sealed record ServeRead(long ReadId, long ReadIndex) : RaftEffect;

/// <summary>These reads cannot be served here: leadership was lost before they were confirmed.</summary>
internal sealed record FailReads(IReadOnlyList<long> ReadIds) : RaftEffect;

/// <summary>
/// The node's configuration (the latest in its log, committed or not) is now
/// <see cref="Configuration"/>, held by entry <see cref="Index"/> (0: the bootstrap configuration);
/// <see cref="Committed"/> once that entry is known committed. The host reaches new members and
/// lets go of removed ones.
/// </summary>
internal sealed record ConfigurationChanged(ClusterConfiguration Configuration, long Index, bool Committed) : RaftEffect;

/// <summary>The membership request <see cref="RequestId"/> is done: <see cref="Configuration"/>, at entry <see cref="Index"/>, is committed.</summary>
internal sealed record MembershipRequestDone(long RequestId, ClusterConfiguration Configuration, long Index) : RaftEffect;

/// <summary>The membership request or leadership transfer <see cref="RequestId"/> is refused: it did not take effect.</summary>
internal sealed record MembershipRequestRefused(long RequestId, MembershipRefusal Refusal) : RaftEffect;

/// <summary>The leadership transfers <see cref="RequestIds"/> are done: <see cref="LeaderId"/> leads term <see cref="Term"/>.</summary>
internal sealed record LeadershipTransferDone(IReadOnlyList<long> RequestIds, string LeaderId, long Term) : RaftEffect;

/// <summary>
/// Membership requests or leadership transfers whose outcome this node cannot tell (it lost its
/// leadership midway): they may or may not take effect.
/// </summary>
internal sealed record MembershipOutcomeUnknown(IReadOnlyList<long> RequestIds, string Reason) : RaftEffect;
