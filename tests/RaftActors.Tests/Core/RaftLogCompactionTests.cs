using RaftActors.Core;
using RaftActors.Messages;
using static RaftActors.Tests.Core.ProtocolTestKit;

namespace RaftActors.Tests.Core;

/// <summary>
/// The log after compaction (§7): entries after a base whose term is known, and the AppendEntries
/// rules over a log whose prefix a snapshot covers. Logs are written as "base | terms after it",
/// e.g. "5:2 | 2 3 3" is a log whose entries 6..8 have terms 2, 3, 3 after a base entry 5 of term 2.
/// </summary>
public class RaftLogCompactionTests
{
    private static RaftLog Log(string text)
    {
        var parts = text.Split('|');
        var @base = parts[0].Trim().Split(':').Select(long.Parse).ToArray();
        return new RaftLog(new LogPosition(@base[0], @base[1]), EntriesFrom(@base[0] + 1, Terms(parts[1])));
    }

    [Theory]
    [InlineData("5:2 | 2 3 3", 4, null)]    // compacted: unknown
    [InlineData("5:2 | 2 3 3", 5, 2L)]      // the base: known
    [InlineData("5:2 | 2 3 3", 6, 2L)]
    [InlineData("5:2 | 2 3 3", 8, 3L)]
    [InlineData("5:2 | 2 3 3", 9, null)]    // past the end
    [InlineData("5:2 | ", 5, 2L)]
    [InlineData("0:0 | 1 1", 0, 0L)]        // never compacted: the sentinel
    public void TermAt_IsKnownFromTheBaseOn(string log, long index, long? expected)
    {
        var raftLog = Log(log);

        Assert.Equal(expected, raftLog.TermAt(index));
        Assert.Equal(index < raftLog.Base.Index, raftLog.IsCompacted(index));
    }

    [Theory]
    [InlineData("5:2 | 2 3 3", 6, 8, 3)]
    [InlineData("5:2 | ", 6, 5, 2)]
    public void FirstLastAndLast_CountFromTheBase(string log, long first, long last, long lastTerm)
    {
        var raftLog = Log(log);

        Assert.Equal(first, raftLog.FirstIndex);
        Assert.Equal(last, raftLog.LastIndex);
        Assert.Equal(new LogPosition(last, lastTerm), raftLog.Last);
    }

    [Theory]
    [InlineData("0:0 | 1 1 2 2 3", 3, "3:2 | 2 3")]
    [InlineData("0:0 | 1 1 2 2 3", 5, "5:3 | ")]
    [InlineData("0:0 | 1 1 2 2 3", 0, "0:0 | 1 1 2 2 3")]
    [InlineData("3:2 | 2 3", 3, "3:2 | 2 3")]        // compacting to the base changes nothing
    [InlineData("3:2 | 2 3", 4, "4:2 | 3")]
    public void CompactThrough_DropsTheCoveredEntries_AndTheLastBecomesTheBase(string log, long through, string expected)
    {
        var raftLog = Log(log);

        raftLog.CompactThrough(through);

        var want = Log(expected);
        Assert.Equal(want.Base, raftLog.Base);
        Assert.Equal(want.Range(want.FirstIndex, want.LastIndex), raftLog.Range(raftLog.FirstIndex, raftLog.LastIndex));
    }

    [Theory]
    [InlineData("3:2 | 2 3", 2)]  // before the base
    [InlineData("3:2 | 2 3", 6)]  // past the end
    public void CompactThrough_OutsideTheLog_IsRefused(string log, long through)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Log(log).CompactThrough(through));
    }

    [Fact]
    public void TruncateFrom_AtOrBeforeTheBase_IsRefused_CommittedEntriesNeverGo()
    {
        var raftLog = Log("3:2 | 2 3");

        Assert.Throws<ArgumentOutOfRangeException>(() => raftLog.TruncateFrom(3));
        raftLog.TruncateFrom(5);
        Assert.Equal(4, raftLog.LastIndex);
    }

    [Fact]
    public void ResetTo_DiscardsEveryEntry_TheLogContinuesAfterTheSnapshot()
    {
        var raftLog = Log("0:0 | 1 1 2");

        raftLog.ResetTo(new LogPosition(9, 4));

        Assert.Equal(new LogPosition(9, 4), raftLog.Last);
        Assert.True(raftLog.Matches(9, 4));
        Assert.True(raftLog.IsCompacted(8));
        raftLog.Append(new LogEntry(10, 4, null));
        Assert.Equal(10, raftLog.LastIndex);
    }

    [Theory]
    [InlineData("5:2 | 2 2 3 3", 3L, 9L)]
    [InlineData("5:2 | 2 2 3 3", 2L, 7L)]
    [InlineData("5:2 | 3 3", 2L, 5L)]    // only the base is of the term
    [InlineData("5:2 | 3 3", 1L, null)]   // compacted away, unknown
    public void LastIndexOfTerm_SeesTheBase(string log, long term, long? expected)
    {
        Assert.Equal(expected, Log(log).LastIndexOfTerm(term));
    }

    [Fact]
    public void CountForMessage_FromACompactedIndex_CountsFromTheFirstEntry()
    {
        Assert.Equal(3, Log("5:2 | 2 3 3").CountForMessage(2, 10, 1 << 20));
    }

    // A restarted node's log: the storage's entries after its latest snapshot. Stored entries at or
    // before the snapshot (trailing entries) stay, the first one serving as the base.
    [Theory]
    [InlineData(0, 0, 1, 3, "0:0 | 1 1 1")]        // no snapshot
    [InlineData(6, 2, 7, 2, "6:2 | 2 2")]          // the log starts right after the snapshot
    [InlineData(6, 2, 3, 6, "3:1 | 1 2 2 2 2")]    // trailing entries 3..6 kept
    [InlineData(6, 2, 6, 1, "6:2 | ")]             // only the snapshot's own entry stored
    [InlineData(6, 2, 0, 0, "6:2 | ")]             // nothing stored after the snapshot
    public void AfterSnapshot_IsTheLogARestartedNodeRecovers(long snapshotIndex, long snapshotTerm, long firstStored, int count, string expected)
    {
        var stored = Enumerable.Range(0, count).Select(i => new LogEntry(firstStored + i, firstStored + i <= 4 ? 1 : 2, null)).ToList();

        var raftLog = RaftLog.AfterSnapshot(new LogPosition(snapshotIndex, snapshotTerm), stored);

        var want = Log(expected);
        Assert.Equal(want.Base, raftLog.Base);
        Assert.Equal(want.LastIndex, raftLog.LastIndex);
    }

    [Fact]
    public void AfterSnapshot_WithAHoleAfterTheSnapshot_IsRefused()
    {
        Assert.Throws<ArgumentException>(() => RaftLog.AfterSnapshot(new LogPosition(4, 1), EntriesFrom(6, 1, 1)));
    }

    // §7 with Figure 2's rules: an AppendEntries that reaches into the compacted prefix matches
    // there (those entries are committed, the same in every current leader's log); the check
    // starts at the base, and what follows is appended or truncated as usual.
    [Theory]
    // prevLogIndex before the base, entries crossing it: the ones after the base are checked
    [InlineData("5:2 | 2 3", 3, 2, "2 2 2 3 4", true, 0L, "8", 8)]
    // every entry of the request is compacted: nothing to do, yet success up to its last entry
    [InlineData("5:2 | 2 3", 2, 1, "1 2", true, 0L, "", 4)]
    // a heartbeat anchored before the base
    [InlineData("5:2 | 2 3", 1, 1, "", true, 0L, "", 1)]
    // prevLogIndex at the base, matching
    [InlineData("5:2 | 2 3", 5, 2, "2 3 3", true, 0L, "8", 8)]
    // a conflict after the base: truncation there
    [InlineData("5:2 | 2 3", 5, 2, "2 4", true, 7L, "7", 7)]
    // prevLogIndex past the end: refused, as ever
    [InlineData("5:2 | 2 3", 9, 3, "3", false, 0L, "", 0)]
    public void DecideAppend_OnACompactedLog(string log, long prevIndex, long prevTerm, string entryTerms, bool success, long truncateFrom, string newIndexes, long matchIndex)
    {
        var request = new AppendEntries(5, "n2", prevIndex, prevTerm, EntriesFrom(prevIndex + 1, Terms(entryTerms)), LeaderCommit: 0);

        var decision = ReplicationRules.DecideAppend(Log(log), request);

        Assert.Equal(success, decision.Success);
        Assert.Equal(truncateFrom, decision.TruncateFrom);
        Assert.Equal(Terms(newIndexes), decision.NewEntries.Select(e => e.Index));
        Assert.Equal(matchIndex, decision.MatchIndex);
    }

    [Fact]
    public void DecideAppend_PrevLogIndexPastTheEndOfACompactedLog_HintsAtItsEnd()
    {
        var decision = ReplicationRules.DecideAppend(Log("5:2 | 2 3"), new AppendEntries(5, "n2", 12, 3, [], 0));

        Assert.False(decision.Success);
        Assert.Equal(8, decision.ConflictIndex);
    }
}
