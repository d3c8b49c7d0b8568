namespace RaftActors.Core;

/// <summary>The index and term of a log entry; (0, 0) stands for the empty log.</summary>
public readonly record struct LogPosition(long Index, long Term)
{
    public static readonly LogPosition Empty = new(0, 0);

    /// <summary>
    /// The "at least as up to date" comparison of §5.4.1: the later last term wins; with equal
    /// last terms the longer log wins.
    /// </summary>
    public bool IsAtLeastAsUpToDateAs(LogPosition other) =>
        Term != other.Term ? Term > other.Term : Index >= other.Index;
}
