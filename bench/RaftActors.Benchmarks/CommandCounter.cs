using RaftActors.StateMachine;

namespace RaftActors.Benchmarks;

/// <summary>
/// The benchmark's state machine: it takes each command (the payload's bytes, which Akka's
/// byte-array serializer carries as they are) and counts it. As little work as a state machine
/// can do, so the figures are the cost of Raft and of the library, not of an application.
/// </summary>
internal sealed class CommandCounter : IRaftStateMachine
{
    private long _commands;
    private long _bytes;

    public object? Apply(long index, object command)
    {
        _commands++;
        _bytes += command is byte[] bytes ? bytes.Length : 0;
        return null;
    }

    public object? Query(object query) => (_commands, _bytes);
}
