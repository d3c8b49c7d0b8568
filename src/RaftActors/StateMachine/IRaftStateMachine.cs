namespace RaftActors.StateMachine;

/// <summary>
/// The application's replicated state machine. Every node applies the same committed commands
/// in the same order, so <see cref="Apply"/> must be deterministic: the same state and command
/// give the same new state and result on every node. Both methods run on the node's applier,
/// one call at a time, never on the Raft actor's thread.
/// </summary>
public interface IRaftStateMachine
{
    /// <summary>Applies the committed command at <paramref name="index"/>; the result goes to the client that proposed it.</summary>
    object? Apply(long index, object command);

    /// <summary>Answers a read-only query against the current state; it must not change the state.</summary>
    object? Query(object query);
}
