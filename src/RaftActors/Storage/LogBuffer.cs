using System.Collections;
using RaftActors.Core;

namespace RaftActors.Storage;

/// <summary>
/// An in-memory log (entries 1..n) that hands out immutable snapshots in O(1): a snapshot is
/// the backing array and a count. Appends write past every snapshot's count, and growing
/// moves to a new array, so snapshots never change; a truncation copies the kept prefix to
/// a new array for the same reason. Truncations are rare (a follower meeting a conflict), so
/// the copy costs little, and readers of <see cref="IRaftStorage.Entries"/> never copy.
/// Not thread-safe: one writer mutates; snapshots may be read from any thread.
/// </summary>
internal sealed class LogBuffer
{
    private LogEntry[] _items = [];
    private int _count;

    public int Count => _count;

    public void Append(LogEntry entry)
    {
        if (entry.Index != _count + 1L)
            throw new ArgumentException($"entry {entry.Index} does not follow the last stored entry {_count}");
        if (_count == _items.Length)
            Array.Resize(ref _items, Math.Max(16, _items.Length * 2));
        _items[_count++] = entry;
    }

    /// <summary>Removes the entry at <paramref name="fromIndex"/> and all after it (nothing when there is none).</summary>
    public void TruncateFrom(long fromIndex)
    {
        if (fromIndex < 1)
            throw new ArgumentException($"cannot truncate from index {fromIndex}");
        if (fromIndex > _count)
            return;
        var keep = (int)(fromIndex - 1);
        var items = new LogEntry[Math.Max(16, keep * 2)];
        Array.Copy(_items, items, keep);
        _items = items;
        _count = keep;
    }

    public IReadOnlyList<LogEntry> Snapshot() => new View(_items, _count);

    private sealed class View(LogEntry[] items, int count) : IReadOnlyList<LogEntry>
    {
        public int Count => count;

        public LogEntry this[int index] =>
            (uint)index < (uint)count ? items[index] : throw new ArgumentOutOfRangeException(nameof(index), index, $"the log holds {count} entries");

        public IEnumerator<LogEntry> GetEnumerator()
        {
            for (var i = 0; i < count; i++)
                yield return items[i];
        }

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

        public override string ToString() => $"Log({count} entries)";
    }
}
