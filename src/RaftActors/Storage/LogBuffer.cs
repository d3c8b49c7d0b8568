using System.Collections;
using RaftActors.Core;

namespace RaftActors.Storage;

/// <summary>
/// A stored log in memory: the entries after <see cref="BaseIndex"/> (0 until compaction),
/// contiguous, handing out immutable snapshots in O(1): a snapshot is the backing array and a
/// count. Appends write past every snapshot's count, and growing moves to a new array, so
/// snapshots never change; a truncation, a compaction or a reset moves what it keeps to a new
/// array for the same reason. Truncations are rare (a follower meeting a conflict) and
/// compactions keep few entries, so the copies cost little, and readers of
/// <see cref="IRaftStorage.Entries"/> never copy. Not thread-safe: one writer mutates;
/// snapshots may be read from any thread.
/// </summary>
internal sealed class LogBuffer
{
    private LogEntry[] _items = [];
    private int _count;

    /// <summary>The index before the first entry: entries through it were compacted away (or never existed).</summary>
    public long BaseIndex { get; private set; }

    public long LastIndex => BaseIndex + _count;

    public int Count => _count;

    public void Append(LogEntry entry)
    {
        if (entry.Index != LastIndex + 1)
            throw new ArgumentException($"entry {entry.Index} does not follow the last stored entry {LastIndex}");
        if (_count == _items.Length)
            Array.Resize(ref _items, Math.Max(16, _items.Length * 2));
        _items[_count++] = entry;
    }

    /// <summary>
    /// Removes the entry at <paramref name="fromIndex"/> and all after it (nothing when there is
    /// none). A truncation reaching into the compacted prefix empties the log and lowers its base:
    /// met only when replaying a write-ahead log whose earlier segments were dropped, where a
    /// snapshot covers whatever came before.
    /// </summary>
    public void TruncateFrom(long fromIndex)
    {
        if (fromIndex < 1)
            throw new ArgumentException($"cannot truncate from index {fromIndex}");
        if (fromIndex > LastIndex)
            return;
        if (fromIndex <= BaseIndex)
        {
            ResetAfter(fromIndex - 1);
            return;
        }

        Keep(0, (int)(fromIndex - 1 - BaseIndex));
    }

    /// <summary>Drops the entries through <paramref name="index"/>, which a snapshot covers.</summary>
    public void CompactThrough(long index)
    {
        if (index > LastIndex)
            throw new ArgumentException($"cannot compact through entry {index}: the log ends at {LastIndex}");
        if (index <= BaseIndex)
            return;
        var dropped = (int)(index - BaseIndex);
        Keep(dropped, _count - dropped);
        BaseIndex = index;
    }

    /// <summary>Discards every entry: the log continues after <paramref name="index"/> (a snapshot's last entry).</summary>
    public void ResetAfter(long index)
    {
        if (index < 0)
            throw new ArgumentException($"cannot reset the log to start after index {index}");
        _items = [];
        _count = 0;
        BaseIndex = index;
    }

    /// <summary>
    /// Carries out one stored log operation, checked first: entries follow on without gaps, and
    /// truncations and compactions stay within the log. Saving a snapshot is no log change.
    /// </summary>
    public void Apply(LogOperation operation)
    {
        switch (operation)
        {
            case TruncateLog truncate:
                if (truncate.FromIndex <= BaseIndex)
                    throw new ArgumentException($"cannot truncate from index {truncate.FromIndex}: entries through {BaseIndex} are compacted");
                TruncateFrom(truncate.FromIndex);
                break;
            case AppendToLog append:
                foreach (var entry in append.Entries)
                    Append(entry);
                break;
            case CompactLog compact:
                CompactThrough(compact.ThroughIndex);
                break;
            case ResetLog reset:
                ResetAfter(reset.AfterIndex);
                break;
            case SaveSnapshot:
                break;
            default:
                throw new ArgumentException($"unknown log operation {operation}");
        }
    }

    public IReadOnlyList<LogEntry> Snapshot() => new View(_items, _count);

    private void Keep(int from, int count)
    {
        var items = new LogEntry[Math.Max(16, count * 2)];
        Array.Copy(_items, from, items, 0, count);
        _items = items;
        _count = count;
    }

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
