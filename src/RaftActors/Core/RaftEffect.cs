using RaftActors.Messages;

namespace RaftActors.Core;

/// <summary>
/// What <see cref="RaftProtocol"/> asks its host to do. The host carries effects out in order;
/// a message that follows a <see cref="PersistHardState"/> must not leave before that state
/// is durable.
/// </summary>
public abstract record RaftEffect;

/// <summary>Make this hard state durable; later sends depend on it.</summary>
public sealed record PersistHardState(HardState State) : RaftEffect;

/// <summary>Send a protocol message to a peer, once everything persisted before it is durable.</summary>
public sealed record SendMessage(string To, IRaftProtocolMessage Message) : RaftEffect;

/// <summary>(Re)start the election timer with a freshly drawn timeout.</summary>
public sealed record ResetElectionTimer(TimeSpan Timeout) : RaftEffect;

/// <summary>Stop the election timer: a leader does not time out.</summary>
public sealed record StopElectionTimer : RaftEffect;

/// <summary>Start the leader's periodic heartbeat timer.</summary>
public sealed record StartHeartbeatTimer(TimeSpan Interval) : RaftEffect;

/// <summary>Stop the heartbeat timer: only a leader sends heartbeats.</summary>
public sealed record StopHeartbeatTimer : RaftEffect;
