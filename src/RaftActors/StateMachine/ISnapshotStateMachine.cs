namespace RaftActors.StateMachine;

/// <summary>
/// A state machine that can write its state to a snapshot and take it back, so a node can compact
/// its log (Raft §7): once enough entries were applied (<c>raft.snapshot</c>), the node snapshots
/// the state machine and drops the log the snapshot covers; a restarted node restores its latest
/// snapshot and applies only the entries after it; a follower that lags far behind (or lost its
/// disk) gets the leader's snapshot. A state machine that implements only
/// <see cref="IRaftStateMachine"/> works as before: its node never compacts its log, and replays
/// all of it at every restart.
/// </summary>
/// <remarks>
/// Both methods run on the node's applier, never on the Raft actor's thread, and never at the same
/// time as <see cref="IRaftStateMachine.Apply"/> or <see cref="IRaftStateMachine.Query"/>: the
/// applier applies nothing while a snapshot is written or restored. The stream is the state, a
/// piece at a time: a large state never has to sit in memory as one byte array. Client sessions
/// (at-most-once results) are snapshotted by the node itself, beside the state machine's bytes.
/// </remarks>
public interface ISnapshotStateMachine : IRaftStateMachine
{
    /// <summary>
    /// Writes the whole current state — the state after the last command applied — to
    /// <paramref name="destination"/>, front to back. Do not dispose the stream. An exception
    /// abandons this snapshot (the node logs it and tries again later).
    /// </summary>
    Task WriteSnapshotAsync(Stream destination, CancellationToken cancellationToken);

    /// <summary>
    /// Replaces the whole state with the one <see cref="WriteSnapshotAsync"/> wrote to
    /// <paramref name="source"/> (on this node or another): read it to its end. After it, the
    /// state machine applies the commands that follow the snapshot.
    /// </summary>
    Task RestoreAsync(Stream source, CancellationToken cancellationToken);
}
