using RaftActors.Messages;

namespace RaftActors.Core;

/// <summary>
/// What <see cref="RaftProtocol"/> asks its host to do. The host carries effects out in order;
/// a message that follows a persist effect must not leave before that write is durable.
/// </summary>
public abstract record RaftEffect;

/// <summary>Make this hard state durable; later sends depend on it.</summary>
public sealed record PersistHardState(HardState State) : RaftEffect;

/// <summary>
/// Make a log change durable: delete from <see cref="TruncateFrom"/> on (0: nothing), then append
/// <see cref="Entries"/>. Once durable, report <see cref="LastAfter"/> back through
/// <see cref="RaftProtocol.Persisted"/>; later sends depend on the change.
/// </summary>
public sealed record PersistEntries(long TruncateFrom, IReadOnlyList<LogEntry> Entries, LogPosition LastAfter) : RaftEffect;

/// <summary>
/// Send a protocol message to a peer once the hard state decided before it is durable — and,
/// with <see cref="AfterLogDurable"/>, the log changes decided before it too (a follower's
/// acknowledgement of entries). A leader's AppendEntries does not wait for its own log write:
/// it replicates while it writes, and counts itself toward a quorum only once durable.
/// </summary>
public sealed record SendMessage(string To, IRaftProtocolMessage Message, bool AfterLogDurable = false) : RaftEffect;

/// <summary>(Re)start the election timer with a freshly drawn timeout.</summary>
public sealed record ResetElectionTimer(TimeSpan Timeout) : RaftEffect;

/// <summary>Stop the election timer: a leader does not time out.</summary>
public sealed record StopElectionTimer : RaftEffect;

/// <summary>Start the leader's periodic heartbeat timer.</summary>
public sealed record StartHeartbeatTimer(TimeSpan Interval) : RaftEffect;

/// <summary>Stop the heartbeat timer: only a leader sends heartbeats.</summary>
public sealed record StopHeartbeatTimer : RaftEffect;

/// <summary>These entries are now committed: apply them, in order, exactly once.</summary>
public sealed record ApplyEntries(IReadOnlyList<LogEntry> Entries) : RaftEffect;

/// <summary>A read may be served once the state machine has applied <see cref="ReadIndex"/> (ReadIndex, thesis §6.4).</summary>
public sealed record ServeRead(long ReadId, long ReadIndex) : RaftEffect;

/// <summary>These reads cannot be served here: leadership was lost before they were confirmed.</summary>
public sealed record FailReads(IReadOnlyList<long> ReadIds) : RaftEffect;
