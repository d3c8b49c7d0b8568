using System.Runtime.InteropServices;

namespace RaftActors.Core;

/// <summary>
/// The replicated log in memory: the entries after a base position, contiguous. A log never
/// compacted has the base (0, 0), the empty log's sentinel, so "the entry before the first"
/// always matches. Once a snapshot covers a prefix (§7), that prefix is dropped: the base is the
/// last dropped entry, whose term is still known, and nothing before it is (see
/// <see cref="IsCompacted"/>). Every dropped entry is committed, so it is the same in the log of
/// every current leader.
/// </summary>
internal sealed class RaftLog
{
    private readonly List<LogEntry> _entries = new();

    public RaftLog(IEnumerable<LogEntry>? entries = null)
        : this(LogPosition.Empty, entries)
    {
    }

    /// <summary>A log that continues after <paramref name="base"/> with <paramref name="entries"/>.</summary>
    public RaftLog(LogPosition @base, IEnumerable<LogEntry>? entries)
    {
        if (@base.Index < 0 || @base.Term < 0)
            throw new ArgumentOutOfRangeException(nameof(@base), @base, "a log's base has no negative index or term");
        Base = @base;
        foreach (var entry in entries ?? [])
            Append(entry);
    }

    /// <summary>
    /// The log a node restarts with: what its storage holds after its latest snapshot. Stored
    /// entries at or before the snapshot's index (kept for followers that lag a little) stay,
    /// the first of them becoming the base, since its term is known.
    /// </summary>
    /// <exception cref="ArgumentException">The stored entries begin after the snapshot's next index: the log has a hole.</exception>
    public static RaftLog AfterSnapshot(LogPosition snapshot, IReadOnlyList<LogEntry> stored)
    {
        if (stored.Count == 0)
            return new RaftLog(snapshot, null);
        var first = stored[0];
        if (first.Index > snapshot.Index + 1)
            throw new ArgumentException($"the stored log starts at entry {first.Index}, but the snapshot covers only entries through {snapshot.Index}");
        return first.Index <= snapshot.Index
            ? new RaftLog(first.Position, stored.Skip(1))
            : new RaftLog(snapshot, stored);
    }

    /// <summary>The position before the first entry: (0, 0), or the last entry dropped by compaction.</summary>
    public LogPosition Base { get; private set; }

    public long FirstIndex => Base.Index + 1;

    public long LastIndex => Base.Index + _entries.Count;

    public LogPosition Last => _entries.Count == 0 ? Base : _entries[^1].Position;

    public LogEntry this[long index] =>
        index > Base.Index && index <= LastIndex
            ? _entries[(int)(index - FirstIndex)]
            : throw new ArgumentOutOfRangeException(nameof(index), $"no entry {index} in a log of {FirstIndex}..{LastIndex}");

    /// <summary>The term of the entry at <paramref name="index"/>; the base's term at the base; null past the end and before the base.</summary>
    public long? TermAt(long index) =>
        index == Base.Index ? Base.Term : index > Base.Index && index <= LastIndex ? _entries[(int)(index - FirstIndex)].Term : null;

    /// <summary>Whether <paramref name="index"/> lies before the base: a snapshot covers it, and its term is no longer known.</summary>
    public bool IsCompacted(long index) => index < Base.Index;

    /// <summary>Whether this log holds an entry at <paramref name="index"/> with <paramref name="term"/> (§5.3 consistency check).</summary>
    public bool Matches(long index, long term) => TermAt(index) == term;

    public bool Matches(LogPosition position) => Matches(position.Index, position.Term);

    /// <summary>Appends an entry that directly follows the last one.</summary>
    public void Append(LogEntry entry)
    {
        if (entry.Index != LastIndex + 1)
            throw new ArgumentException($"entry {entry.Index} does not follow the last entry {LastIndex}");
        if (entry.Term < Last.Term)
            throw new ArgumentException($"entry {entry.Index} of term {entry.Term} follows an entry of term {Last.Term}");
        _entries.Add(entry);
    }

    /// <summary>Deletes the entry at <paramref name="fromIndex"/> and all that follow it.</summary>
    public void TruncateFrom(long fromIndex)
    {
        if (fromIndex <= Base.Index)
            throw new ArgumentOutOfRangeException(nameof(fromIndex), fromIndex, $"entries through {Base.Index} are compacted and cannot be truncated");
        if (fromIndex <= LastIndex)
            _entries.RemoveRange((int)(fromIndex - FirstIndex), (int)(LastIndex - fromIndex + 1));
    }

    /// <summary>Drops the entries through <paramref name="index"/>, which a snapshot covers; that entry becomes the base.</summary>
    public void CompactThrough(long index)
    {
        if (index < Base.Index || index > LastIndex)
            throw new ArgumentOutOfRangeException(nameof(index), index, $"the log holds {FirstIndex}..{LastIndex}");
        if (index == Base.Index)
            return;
        var newBase = this[index].Position;
        _entries.RemoveRange(0, (int)(index - Base.Index));
        Base = newBase;
    }

    /// <summary>Discards every entry: the log continues after <paramref name="snapshot"/> (Figure 13, rule 7).</summary>
    public void ResetTo(LogPosition snapshot)
    {
        _entries.Clear();
        Base = snapshot;
    }

    /// <summary>
    /// How many entries from <paramref name="fromIndex"/> on one message carries: at most
    /// <paramref name="maxEntries"/> and (but for the first) <paramref name="maxBytes"/>.
    /// </summary>
    public int CountForMessage(long fromIndex, int maxEntries, int maxBytes)
    {
        var first = Math.Max(fromIndex, FirstIndex);
        var count = 0;
        var bytes = 0;
        for (var index = first; index <= LastIndex && count < maxEntries; index++)
        {
            bytes += this[index].ApproximateSize;
            if (count > 0 && bytes > maxBytes)
                break;
            count++;
        }

        return count;
    }

    /// <summary>Entries <paramref name="fromIndex"/>..<paramref name="toIndex"/>, inclusive.</summary>
    public IReadOnlyList<LogEntry> Range(long fromIndex, long toIndex) =>
        toIndex < fromIndex ? [] : CollectionsMarshal.AsSpan(_entries).Slice((int)(fromIndex - FirstIndex), (int)(toIndex - fromIndex + 1)).ToArray();

    /// <summary>The first index holding an entry of <paramref name="term"/>, scanning back from <paramref name="index"/> (not past the first entry).</summary>
    public long FirstIndexOfTermAtOrBefore(long index, long term)
    {
        while (index > FirstIndex && TermAt(index - 1) == term)
            index--;
        return index;
    }

    /// <summary>The last index holding an entry of <paramref name="term"/> (the base included), or null when the log has none.</summary>
    public long? LastIndexOfTerm(long term)
    {
        for (var index = LastIndex; index >= FirstIndex; index--)
        {
            var entryTerm = this[index].Term;
            if (entryTerm == term)
                return index;
            if (entryTerm < term)
                return null;
        }

        return Base.Index > 0 && Base.Term == term ? Base.Index : null;
    }
}
