using RaftActors.Core;

namespace RaftActors.Storage;

/// <summary>
/// Storage that lives as long as the object: for tests and for simulated crash-restarts
/// (hand the same instance to the restarted node).
/// </summary>
public sealed class InMemoryRaftStorage : IRaftStorage
{
    private volatile HardState _hardState;

    public InMemoryRaftStorage(HardState? initial = null) => _hardState = initial ?? HardState.Initial;

    public HardState HardState => _hardState;

    public Task SaveHardStateAsync(HardState state)
    {
        _hardState = state;
        return Task.CompletedTask;
    }
}
