namespace RaftActors.StateMachine;

/// <summary>
/// The state machine of a node used only to elect leaders: it holds nothing and answers null. Its
/// snapshots are empty, so such a node's log is compacted like any other.
/// </summary>
public sealed class EmptyStateMachine : ISnapshotStateMachine
{
    public object? Apply(long index, object command) => null;

    public object? Query(object query) => null;

    public Task WriteSnapshotAsync(Stream destination, CancellationToken cancellationToken) => Task.CompletedTask;

    public Task RestoreAsync(Stream source, CancellationToken cancellationToken) => Task.CompletedTask;
}
