using RaftActors.StateMachine;

namespace RaftActors.Server.KeyValue;

/// <summary>
/// The replicated key-value state machine. The node's applier calls <see cref="Apply"/> and
/// <see cref="Query"/> one at a time; <see cref="ReadLocal"/> (stale reads) may run on any
/// thread at the same time, so the map is guarded by a lock.
/// </summary>
public sealed class KeyValueStore : IRaftStateMachine
{
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private long _appliedIndex;

    /// <summary>The index of the last command applied to this store.</summary>
    public long AppliedIndex
    {
        get
        {
            lock (_lock)
                return _appliedIndex;
        }
    }

    public int Count
    {
        get
        {
            lock (_lock)
                return _values.Count;
        }
    }

    public object? Apply(long index, object command)
    {
        lock (_lock)
        {
            _appliedIndex = index;
            switch (command)
            {
                case Put put:
                    _values[put.Key] = put.Value;
                    return null;
                case Delete delete:
                    return new DeleteResult(_values.Remove(delete.Key));
                case Cas cas:
                    var current = _values.GetValueOrDefault(cas.Key);
                    if (!string.Equals(current, cas.Expected, StringComparison.Ordinal))
                        return new CasResult(false, current);
                    _values[cas.Key] = cas.Value;
                    return new CasResult(true, cas.Value);
                default:
                    // Deterministic: every node fails the same entry the same way.
                    throw new ArgumentException($"not a key-value command: {command.GetType().FullName}");
            }
        }
    }

    public object? Query(object query) => query switch
    {
        Get get => new GetResult(ReadLocal(get.Key)),
        _ => throw new ArgumentException($"not a key-value query: {query.GetType().FullName}"),
    };

    /// <summary>The key's value as applied on this node so far (null: absent); may lag the leader.</summary>
    public string? ReadLocal(string key)
    {
        lock (_lock)
            return _values.GetValueOrDefault(key);
    }
}
