using System.Buffers.Binary;
using RaftActors.StateMachine;

namespace RaftActors.Benchmarks;

/// <summary>
/// The compaction benchmark's state machine: a store of byte values by key. A command is the
/// payload's bytes, its first four the key (little-endian) and the whole command the value, so
/// writes spread over a fixed set of keys overwrite each other and the state stays that size
/// however many writes come. It snapshots itself as a stream: the count, then each key and value.
/// </summary>
internal sealed class KeyedBytesStore : ISnapshotStateMachine
{
    private Dictionary<int, byte[]> _values = new();

    public object? Apply(long index, object command)
    {
        var bytes = (byte[])command;
        _values[BinaryPrimitives.ReadInt32LittleEndian(bytes)] = bytes;
        return null;
    }

    public object? Query(object query) => _values.Count;

    public async Task WriteSnapshotAsync(Stream destination, CancellationToken cancellationToken)
    {
        var buffer = new BufferedStream(destination, 64 * 1024);
        var header = new byte[8];
        await buffer.WriteAsync(BitConverter.GetBytes(_values.Count), cancellationToken);
        foreach (var (key, value) in _values)
        {
            BinaryPrimitives.WriteInt32LittleEndian(header, key);
            BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(4), value.Length);
            await buffer.WriteAsync(header, cancellationToken);
            await buffer.WriteAsync(value, cancellationToken);
        }

        await buffer.FlushAsync(cancellationToken);
    }

    public async Task RestoreAsync(Stream source, CancellationToken cancellationToken)
    {
        var buffer = new BufferedStream(source, 64 * 1024);
        var header = new byte[8];
        await buffer.ReadExactlyAsync(header.AsMemory(0, 4), cancellationToken);
        var count = BinaryPrimitives.ReadInt32LittleEndian(header);
        var values = new Dictionary<int, byte[]>(count);
        for (var i = 0; i < count; i++)
        {
            await buffer.ReadExactlyAsync(header, cancellationToken);
            var value = new byte[BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(4))];
            await buffer.ReadExactlyAsync(value, cancellationToken);
            values[BinaryPrimitives.ReadInt32LittleEndian(header)] = value;
        }

        _values = values;
    }
}
