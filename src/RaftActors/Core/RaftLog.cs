namespace RaftActors.Core;

/// <summary>
/// The replicated log in memory: entries 1..LastIndex, contiguous. Index 0 is the empty
/// log's sentinel with term 0, so "the entry before the first" always matches.
/// </summary>
public sealed class RaftLog
{
    private readonly List<LogEntry> _entries = new();

    public RaftLog(IEnumerable<LogEntry>? entries = null)
    {
        foreach (var entry in entries ?? [])
            Append(entry);
    }

    public long LastIndex => _entries.Count;

    public LogPosition Last => _entries.Count == 0 ? LogPosition.Empty : _entries[^1].Position;

    public LogEntry this[long index] =>
        index >= 1 && index <= LastIndex
            ? _entries[(int)(index - 1)]
            : throw new ArgumentOutOfRangeException(nameof(index), $"no entry {index} in a log of {LastIndex}");

    /// <summary>The term of the entry at <paramref name="index"/>; 0 for index 0; null past the end.</summary>
    public long? TermAt(long index) => index == 0 ? 0 : index >= 1 && index <= LastIndex ? _entries[(int)(index - 1)].Term : null;

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
        if (fromIndex < 1)
            throw new ArgumentOutOfRangeException(nameof(fromIndex));
        if (fromIndex <= LastIndex)
            _entries.RemoveRange((int)(fromIndex - 1), (int)(LastIndex - fromIndex + 1));
    }

    /// <summary>Entries from <paramref name="fromIndex"/> on, at most <paramref name="maxEntries"/> and (but for the first) <paramref name="maxBytes"/>.</summary>
    public IReadOnlyList<LogEntry> Slice(long fromIndex, int maxEntries, int maxBytes)
    {
        var slice = new List<LogEntry>();
        var bytes = 0;
        for (var index = Math.Max(fromIndex, 1); index <= LastIndex && slice.Count < maxEntries; index++)
        {
            var entry = this[index];
            bytes += entry.ApproximateSize;
            if (slice.Count > 0 && bytes > maxBytes)
                break;
            slice.Add(entry);
        }

        return slice;
    }

    /// <summary>Entries <paramref name="fromIndex"/>..<paramref name="toIndex"/>, inclusive.</summary>
    public IReadOnlyList<LogEntry> Range(long fromIndex, long toIndex)
    {
        var range = new List<LogEntry>();
        for (var index = fromIndex; index <= toIndex; index++)
            range.Add(this[index]);
        return range;
    }

    /// <summary>The first index holding an entry of <paramref name="term"/>, scanning back from <paramref name="index"/>.</summary>
    public long FirstIndexOfTermAtOrBefore(long index, long term)
    {
        while (index > 1 && TermAt(index - 1) == term)
            index--;
        return index;
    }

    /// <summary>The last index holding an entry of <paramref name="term"/>, or null when the log has none.</summary>
    public long? LastIndexOfTerm(long term)
    {
        for (var index = LastIndex; index >= 1; index--)
        {
            var entryTerm = _entries[(int)(index - 1)].Term;
            if (entryTerm == term)
                return index;
            if (entryTerm < term)
                return null;
        }

        return null;
    }
}
