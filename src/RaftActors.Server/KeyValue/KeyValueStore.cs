using System.Text;
using RaftActors.StateMachine;

namespace RaftActors.Server.KeyValue;

/// <summary>
/// The replicated key-value state machine. The node's applier calls <see cref="Apply"/>,
/// <see cref="Query"/> and the snapshot methods one at a time; <see cref="ReadLocal"/> (stale
/// reads) may run on any thread at the same time, so changes to the map are guarded by a lock.
/// </summary>
/// <remarks>
/// A snapshot is the applied index, the number of keys, then each key and value (UTF-8, with a
/// 7-bit encoded length), streamed through a 64 KiB buffer. It is written without the lock: no
/// command is applied meanwhile, and stale reads only read.
/// </remarks>
public sealed class KeyValueStore : ISnapshotStateMachine
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private Dictionary<string, string> _values = new(StringComparer.Ordinal);
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

    public async Task WriteSnapshotAsync(Stream destination, CancellationToken cancellationToken)
    {
        // Not disposed: that would close the node's stream; flushed instead.
        var buffered = new BufferedStream(destination, 64 * 1024);
        using (var writer = new BinaryWriter(buffered, StrictUtf8, leaveOpen: true))
        {
            writer.Write(AppliedIndex);
            writer.Write(_values.Count);
            foreach (var (key, value) in _values)
            {
                writer.Write(key);
                writer.Write(value);
            }
        }

        await buffered.FlushAsync(cancellationToken);
    }

    public async Task RestoreAsync(Stream source, CancellationToken cancellationToken)
    {
        var buffered = new BufferedStream(source, 64 * 1024);
        using var reader = new BinaryReader(buffered, StrictUtf8, leaveOpen: true);
        var appliedIndex = reader.ReadInt64();
        var count = reader.ReadInt32();
        var values = new Dictionary<string, string>(count, StringComparer.Ordinal);
        for (var i = 0; i < count; i++)
            values.Add(reader.ReadString(), reader.ReadString());
        lock (_lock)
        {
            _values = values;
            _appliedIndex = appliedIndex;
        }
    }

    /// <summary>The key's value as applied on this node so far (null: absent); may lag the leader.</summary>
    public string? ReadLocal(string key)
    {
        lock (_lock)
            return _values.GetValueOrDefault(key);
    }
}
