namespace RaftActors.Linearizability;

/// <summary>
/// The sequential specification of one key of a key-value store, over values interned as small
/// integers (0 is "absent"). An operation whose outcome is unknown is given the effect it would
/// have had; when it could have had none (a compare-and-set whose expected value is not there)
/// it does not apply, which is the same as leaving it out of the linearization.
/// </summary>
internal readonly record struct KvModelOperation(KvOperationKind Kind, bool Known, int Value, int Expected, bool Ok, int Output)
{
    public const int Absent = 0;

    /// <summary>Whether the operation can take effect in <paramref name="state"/>, and the state after it.</summary>
    public bool Step(int state, out int next)
    {
        next = state;
        switch (Kind)
        {
            case KvOperationKind.Get:
                return Output == state;
            case KvOperationKind.Put:
                next = Value;
                return true;
            case KvOperationKind.Delete:
                next = Absent;
                return true;
            default:
                if (Known && !Ok)
                    return state != Expected && state == Output;
                if (state != Expected)
                    return false;
                next = Value;
                return true;
        }
    }

    /// <summary>Whether it changes nothing, whatever the state: a read, or a compare-and-set known to have failed.</summary>
    public bool IsReadOnly => Kind == KvOperationKind.Get || (Kind == KvOperationKind.CompareAndSet && Known && !Ok);

    /// <summary>The value this operation writes when it takes effect, or null for a read-only one.</summary>
    public int? Writes => IsReadOnly ? null : Kind == KvOperationKind.Delete ? Absent : Value;

    /// <summary>Calls <paramref name="observe"/> with every value whose presence this operation depends on or reports.</summary>
    public void ForEachObserved(Action<int> observe)
    {
        switch (Kind)
        {
            case KvOperationKind.Get when Known:
                observe(Output);
                break;
            case KvOperationKind.CompareAndSet when Known && !Ok:
                observe(Output);
                break;
            case KvOperationKind.CompareAndSet:
                observe(Expected);
                break;
        }
    }
}

/// <summary>Interns one key's values: null is <see cref="KvModelOperation.Absent"/>, each distinct string a number from 1.</summary>
internal sealed class ValueTable
{
    private readonly Dictionary<string, int> _ids = new(StringComparer.Ordinal);
    private readonly List<string> _values = [];

    public int Id(string? value)
    {
        if (value is null)
            return KvModelOperation.Absent;
        if (!_ids.TryGetValue(value, out var id))
        {
            _values.Add(value);
            id = _values.Count;
            _ids[value] = id;
        }

        return id;
    }

    public string? Value(int id) => id == KvModelOperation.Absent ? null : _values[id - 1];

    public KvModelOperation Encode(KvOperation operation) => new(
        operation.Kind,
        Known: operation.Output is not null,
        Value: Id(operation.Value),
        Expected: Id(operation.Expected),
        Ok: operation.Output?.Ok ?? false,
        Output: Id(operation.Output?.Value));
}
