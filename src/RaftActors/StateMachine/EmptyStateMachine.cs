namespace RaftActors.StateMachine;

/// <summary>The state machine of a node used only to elect leaders: it holds nothing and answers null.</summary>
public sealed class EmptyStateMachine : IRaftStateMachine
{
    public object? Apply(long index, object command) => null;

    public object? Query(object query) => null;
}
