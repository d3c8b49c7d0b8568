namespace RaftActors.StateMachine;

/// <summary>
/// A state machine whose commands depend on time, such as leases that expire. It must not read a
/// clock of its own: replicas apply an entry at different moments, and a replica's clock would
/// make them disagree. It gets the cluster's time at each entry instead, which every replica
/// sees the same at the same index: the highest time stamp a leader wrote into the entries
/// applied so far (<see cref="Core.LogEntry.Timestamp"/>, cluster time when the leader appended
/// the entry: it starts at a leader's wall clock and advances by the leaders' monotonic clocks,
/// each new leader continuing from the last stamp, so no wall clock moves it and it may lag wall
/// time by the time between terms). It never goes backwards; it stands still between entries,
/// and moves with every entry a leader appends, the no-op of a new term included.
/// </summary>
public interface ITimedStateMachine : IRaftStateMachine
{
    /// <summary>
    /// Applies the committed command at <paramref name="index"/>, as <see cref="IRaftStateMachine.Apply"/>,
    /// at the cluster's <paramref name="time"/>; null while the log holds no time stamp yet (a log
    /// written by a release without them, or during a rolling upgrade from one).
    /// </summary>
    object? Apply(long index, object command, DateTimeOffset? time);

    /// <summary>Not called by a node for a timed state machine: it calls the overload with the time.</summary>
    object? IRaftStateMachine.Apply(long index, object command) => Apply(index, command, time: null);
}
