namespace RaftActors.Simulation;

/// <summary>
/// One client operation as its client saw it, in virtual microseconds: the shape of the
/// linearizability checker's <c>KvOperation</c>. <see cref="Return"/> is null when the outcome is
/// unknown (the operation may take effect at any point after <see cref="Call"/>, or never), unless
/// <see cref="NotApplied"/> says it certainly never did.
/// </summary>
public sealed record ClientOperation(int Process, KvCommand Command, long Call, long? Return, KvResult? Result)
{
    /// <summary>Given up on with a definite "not applied" (the cluster refused it): it took no effect, ever.</summary>
    public bool NotApplied { get; init; }
}

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

    /// <summary>The operation certainly took no effect: the linearizability checker leaves it out.</summary>
    public void NotApplied(int handle) => _operations[handle] = _operations[handle] with { NotApplied = true };
}
