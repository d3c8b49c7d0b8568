using Akka.Actor;
using RaftActors.Core;
using RaftActors.StateMachine;

namespace RaftActors.Messages;

/// <summary>
/// A command for the replicated state machine. Send it to any node: the leader answers once it
/// is committed and applied. With a <see cref="ClientId"/> and a per-client increasing
/// <see cref="Sequence"/> (a client session, thesis §6.3), a retried command applies at most once.
/// </summary>
public sealed record ClientCommand(object Command, string? ClientId = null, long Sequence = 0);

/// <summary>A read-only query, answered linearizably by the leader (ReadIndex) without a log write.</summary>
public sealed record ClientQuery(object Query);

/// <summary>Every answer a client can get from a node.</summary>
public interface IClientReply;

/// <summary>The command was committed at <see cref="Index"/> and applied; <see cref="Result"/> is the state machine's.</summary>
public sealed record CommandApplied(long Index, object? Result) : IClientReply;

/// <summary>The command was committed at <see cref="Index"/> but the state machine failed on it (as it does on every node).</summary>
public sealed record CommandFailed(long Index, string Reason) : IClientReply;

/// <summary>The query's answer, consistent with every command acknowledged before the query was sent.</summary>
public sealed record QueryResult(object? Result) : IClientReply;

/// <summary>
/// This node is not the leader, and nothing was done: try <see cref="LeaderId"/> at
/// <see cref="LeaderPath"/> when known, or retry later.
/// </summary>
public sealed record NotLeader(string? LeaderId, ActorPath? LeaderPath) : IClientReply;

/// <summary>The request was refused and certainly had no effect, for <see cref="Reason"/>.</summary>
public sealed record RequestRejected(string Reason) : IClientReply;

/// <summary>
/// The node lost leadership (or the request timed out) after the command entered its log: it
/// may or may not be committed later. Retry with the same session to make sure it applies once.
/// </summary>
public sealed record CommandOutcomeUnknown(string Reason) : IClientReply;

/// <summary>
/// Asks the leader for a backup: a consistent snapshot of the replicated state — the client
/// sessions and the state machine's state (it must implement
/// <see cref="ISnapshotStateMachine"/>) with the index and term they are as of — written to
/// <see cref="Path"/> in the snapshot file format, whole or not at all. The leader first confirms
/// its leadership (ReadIndex), so the snapshot holds every command acknowledged before the request
/// was sent; its applier writes it (applying nothing meanwhile), never the node's own thread.
/// Answered with <see cref="SnapshotExported"/>, or <see cref="RequestRejected"/> when it cannot be
/// written. A follower answers <see cref="NotLeader"/> and does not forward the request: the file is
/// written on the machine of the node that takes it.
/// </summary>
public sealed record ExportSnapshot(string Path);

/// <summary>The snapshot is at <see cref="Path"/>, durable: it covers the log through <see cref="Position"/> and is <see cref="Size"/> bytes.</summary>
public sealed record SnapshotExported(string Path, LogPosition Position, long Size) : IClientReply;

/// <summary>
/// The command's client session is unknown to the cluster — it expired, was evicted, or its first
/// command never committed — so the command was refused at <see cref="Index"/>, certainly not
/// applied there. Sending it again in the same session is refused the same way: open a new session
/// (a new client id, numbering from 1) and send it there, if no earlier attempt of it may have
/// been applied.
/// </summary>
public sealed record SessionExpired(long Index, string Reason) : IClientReply;

/// <summary>
/// The command would open a client session (it is numbered 1 on a session the cluster does not
/// know), but the cluster holds <c>raft.sessions.max</c> sessions and none has been idle for
/// <c>raft.sessions.min-idle</c>, the least the cluster keeps a session a client may still be
/// retrying into. So it was refused at <see cref="Index"/>, certainly not applied. Send it again,
/// in the same session, after a backoff: a session will become old enough to make room.
/// </summary>
public sealed record TooManySessions(long Index, string Reason) : IClientReply;
