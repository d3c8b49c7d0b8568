using RaftActors.Core;
using static RaftActors.Tests.Core.ProtocolTestKit;

namespace RaftActors.Tests.Core;

/// <summary>The in-memory log's arithmetic, table-driven; logs are written as the terms of entries 1..n.</summary>
public class RaftLogTests
{
    private const string Figure7Leader = "1 1 1 4 4 5 5 6 6 6";

    // §5.3's consistency check: "contains an entry at prevLogIndex whose term matches
    // prevLogTerm". Index 0 is the empty log's sentinel of term 0: every log matches (0, 0).
    [Theory]
    [InlineData("", 0, 0, true)]
    [InlineData("", 1, 1, false)]
    [InlineData("", 0, 1, false)]
    [InlineData("1 1 2", 0, 0, true)]
    [InlineData("1 1 2", 1, 1, true)]
    [InlineData("1 1 2", 3, 2, true)]
    [InlineData("1 1 2", 3, 1, false)]
    [InlineData("1 1 2", 2, 2, false)]
    [InlineData("1 1 2", 4, 2, false)] // past the end
    [InlineData("1 1 2", 0, 1, false)]
    [InlineData("1 1 2", -1, 0, false)]
    public void Matches_IsTheConsistencyCheck_5_3(string log, long index, long term, bool expected)
    {
        var raftLog = new RaftLog(Entries(Terms(log)));

        Assert.Equal(expected, raftLog.Matches(index, term));
        Assert.Equal(expected, raftLog.Matches(new LogPosition(index, term)));
    }

    [Theory]
    [InlineData("", 0, 0L)]
    [InlineData("", 1, null)]
    [InlineData("1 1 2", 0, 0L)]
    [InlineData("1 1 2", 1, 1L)]
    [InlineData("1 1 2", 3, 2L)]
    [InlineData("1 1 2", 4, null)]
    [InlineData("1 1 2", -1, null)]
    public void TermAt_IsZeroForTheSentinelAndNullOutsideTheLog(string log, long index, long? expected)
    {
        Assert.Equal(expected, new RaftLog(Entries(Terms(log))).TermAt(index));
    }

    [Theory]
    [InlineData("", 0, 0)]
    [InlineData("1", 1, 1)]
    [InlineData(Figure7Leader, 10, 6)]
    public void Last_IsTheLastEntrysPosition(string log, long index, long term)
    {
        var raftLog = new RaftLog(Entries(Terms(log)));

        Assert.Equal(new LogPosition(index, term), raftLog.Last);
        Assert.Equal(index, raftLog.LastIndex);
    }

    // Every entry here is a no-op of 24 bytes (LogEntry.ApproximateSize with no command).
    [Theory]
    [InlineData(1, 10, 1000, 1, 5)] // everything
    [InlineData(3, 10, 1000, 3, 3)] // from the middle
    [InlineData(5, 10, 1000, 5, 1)] // the last entry
    [InlineData(6, 10, 1000, 0, 0)] // past the end: nothing
    [InlineData(0, 10, 1000, 1, 5)] // from 0 means from the first entry
    [InlineData(1, 2, 1000, 1, 2)] // at most maxEntries
    [InlineData(1, 1, 1000, 1, 1)]
    [InlineData(1, 10, 48, 1, 2)] // bytes: exactly two entries fit
    [InlineData(1, 10, 47, 1, 1)] // one byte short of two
    [InlineData(2, 10, 72, 2, 3)]
    [InlineData(1, 10, 1, 1, 1)] // the first entry goes even when it alone is over the limit
    [InlineData(1, 3, 48, 1, 2)] // the smaller limit wins
    public void CountForMessage_StopsAtTheEntryAndByteLimits_ButAlwaysTakesOneEntry(
        long from, int maxEntries, int maxBytes, long expectedFirst, int expectedCount)
    {
        var raftLog = new RaftLog(Entries(1, 1, 2, 2, 3));
        Assert.Equal(24, raftLog[1].ApproximateSize);

        var count = raftLog.CountForMessage(from, maxEntries, maxBytes);

        Assert.Equal(expectedCount, count);
        var message = raftLog.Range(expectedFirst, expectedFirst + count - 1);
        Assert.Equal(Enumerable.Range(0, expectedCount).Select(i => expectedFirst + i), message.Select(e => e.Index));
        Assert.All(message, e => Assert.Same(raftLog[e.Index], e));
    }

    [Fact]
    public void CountForMessage_CountsTheCommandsBytes()
    {
        var big = new LogEntry(2, 1, Command(new string('x', 100)));
        var raftLog = new RaftLog([new LogEntry(1, 1, null), big, new LogEntry(3, 1, null)]);
        Assert.True(big.ApproximateSize > 100);

        Assert.Equal(1, raftLog.CountForMessage(1, 10, 24 + big.ApproximateSize - 1));
        Assert.Equal(2, raftLog.CountForMessage(1, 10, 24 + big.ApproximateSize));
        Assert.Equal(3, raftLog.CountForMessage(1, 10, 48 + big.ApproximateSize));
    }

    [Theory]
    [InlineData("1 1 2 2", 3, "1 1")]
    [InlineData("1 1 2 2", 4, "1 1 2")]
    [InlineData("1 1 2 2", 1, "")]
    [InlineData("1 1 2 2", 5, "1 1 2 2")] // past the end: nothing to delete
    [InlineData("", 1, "")]
    public void TruncateFrom_DeletesTheEntryAndAllThatFollow(string log, long from, string expected)
    {
        var raftLog = new RaftLog(Entries(Terms(log)));

        raftLog.TruncateFrom(from);

        Assert.Equal(Entries(Terms(expected)), raftLog.Range(1, raftLog.LastIndex));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-3)]
    public void TruncateFrom_RefusesTheSentinel(long from)
    {
        var raftLog = new RaftLog(Entries(1, 1));

        Assert.Throws<ArgumentOutOfRangeException>(() => raftLog.TruncateFrom(from));
        Assert.Equal(2, raftLog.LastIndex);
    }

    [Fact]
    public void TruncateThenAppend_ReplacesTheTail()
    {
        var raftLog = new RaftLog(Entries(1, 1, 2, 2));

        raftLog.TruncateFrom(3);
        raftLog.Append(new LogEntry(3, 3, null));

        Assert.Equal(Entries(1, 1, 3), raftLog.Range(1, raftLog.LastIndex));
    }

    [Theory]
    [InlineData(3, 1)] // a gap
    [InlineData(1, 1)] // an index already taken
    [InlineData(2, 1)] // term below the last entry's
    public void Append_RefusesGapsOverlapsAndFallingTerms(long index, long term)
    {
        var raftLog = new RaftLog(Entries(2));

        Assert.Throws<ArgumentException>(() => raftLog.Append(new LogEntry(index, term, null)));
        Assert.Equal(1, raftLog.LastIndex);
    }

    [Theory]
    [InlineData(Figure7Leader, 1, 3L)]
    [InlineData(Figure7Leader, 4, 5L)]
    [InlineData(Figure7Leader, 5, 7L)]
    [InlineData(Figure7Leader, 6, 10L)]
    [InlineData(Figure7Leader, 2, null)] // a term in the gap
    [InlineData(Figure7Leader, 3, null)]
    [InlineData(Figure7Leader, 7, null)] // a term past the last
    [InlineData(Figure7Leader, 0, null)]
    [InlineData("", 1, null)]
    public void LastIndexOfTerm_FindsTheLastEntryOfTheTerm(string log, long term, long? expected)
    {
        Assert.Equal(expected, new RaftLog(Entries(Terms(log))).LastIndexOfTerm(term));
    }

    [Theory]
    [InlineData(Figure7Leader, 10, 6, 8)]
    [InlineData(Figure7Leader, 9, 6, 8)]
    [InlineData(Figure7Leader, 8, 6, 8)]
    [InlineData(Figure7Leader, 7, 5, 6)]
    [InlineData(Figure7Leader, 5, 4, 4)]
    [InlineData(Figure7Leader, 3, 1, 1)]
    [InlineData(Figure7Leader, 1, 1, 1)]
    [InlineData("1 1 1 2 2 2 3 3 3 3 3", 11, 3, 7)] // Figure 7 (f)
    [InlineData("1 1 1 2 2 2 3 3 3 3 3", 6, 2, 4)]
    public void FirstIndexOfTermAtOrBefore_ScansBackOverTheTerm(string log, long index, long term, long expected)
    {
        var raftLog = new RaftLog(Entries(Terms(log)));
        Assert.Equal(term, raftLog.TermAt(index));

        Assert.Equal(expected, raftLog.FirstIndexOfTermAtOrBefore(index, term));
    }
}
