using RaftActors.StateMachine;

namespace RaftActors.Hosting.Tests;

/// <summary>The commands and queries of the test state machine, bound to raft-hyperion by <see cref="TestHosts.CounterSerialization"/>.</summary>
public interface ICounterMessage;

public sealed record Add(long Amount) : ICounterMessage;

public sealed record GetTotal : ICounterMessage;

/// <summary>A service the state machine takes from the container: proves that it is made through DI.</summary>
public sealed class CounterCreations
{
    private int _count;

    public int Count => Volatile.Read(ref _count);

    public void Created() => Interlocked.Increment(ref _count);
}

public sealed class Counter : IRaftStateMachine
{
    private long _total;

    public Counter(CounterCreations creations) => creations.Created();

    public object? Apply(long index, object command) => _total += ((Add)command).Amount;

    public object? Query(object query) => _total;
}

/// <summary>A state machine the container cannot make: it needs a service nobody registered.</summary>
public sealed class NeedsAnUnregisteredService(Uri unregistered) : IRaftStateMachine
{
    public object? Apply(long index, object command) => unregistered;

    public object? Query(object query) => unregistered;
}
