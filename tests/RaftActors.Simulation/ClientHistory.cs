namespace RaftActors.Simulation;

/// <summary>
/// One client operation as its client saw it, in virtual microseconds: the shape of the
/// linearizability checker's <c>KvOperation</c>. <see cref="Return"/> is null when the outcome is
/// unknown (the operation may take effect at any point after <see cref="Call"/>, or never).
/// </summary>
public sealed record ClientOperation(int Process, KvCommand Command, long Call, long? Return, KvResult? Result);

/// <summary>The clients' history: operations in the order they were invoked.</summary>
public sealed class ClientHistory
{
    private readonly List<ClientOperation> _operations = new();

    public IReadOnlyList<ClientOperation> Operations => _operations;

    public int Invoke(int process, KvCommand command, long now)
    {
        _operations.Add(new ClientOperation(process, command, now, null, null));
        return _operations.Count - 1;
    }

    public void Complete(int handle, KvResult result, long now) => _operations[handle] = _operations[handle] with { Return = now, Result = result };
}
