using RaftActors.Core;
using RaftActors.Messages;
using static RaftActors.Tests.Core.ProtocolTestKit;

namespace RaftActors.Tests.Core;

/// <summary>
/// The AppendEntries receiver rules, the leader's backtracking and its commit rule, without a
/// protocol instance. Logs are written as the terms of entries 1..n; requests as prevLogIndex,
/// prevLogTerm and the terms of the entries that follow.
/// </summary>
public class ReplicationRulesTests
{
    private const string Figure7Leader = "1 1 1 4 4 5 5 6 6 6";

    private static AppendEntries Request(long prevIndex, long prevTerm, string entryTerms, long leaderCommit = 0) =>
        new(Term: 9, "n2", prevIndex, prevTerm, EntriesFrom(prevIndex + 1, Terms(entryTerms)), leaderCommit);

    // Figure 2, AppendEntries rules 3-4, and the Students' Guide pitfall: "If an existing entry
    // conflicts with a new one ... delete the existing entry and all that follow it" — and ONLY
    // then. An old or duplicated request whose entries are all in the log must not cut off what
    // follows them (entries a later request added, perhaps committed).
    [Theory]
    // an old request: a prefix of what the log holds; nothing is deleted, nothing new
    [InlineData("1 1 1 2 2", 1, 1, "1 1", 0, "", 3)]
    [InlineData("1 1 1 2 2", 0, 0, "1", 0, "", 1)]
    [InlineData("1 1 1 2 2", 3, 1, "2", 0, "", 4)]
    // a duplicate of everything
    [InlineData("1 1 1 2 2", 0, 0, "1 1 1 2 2", 0, "", 5)]
    // a heartbeat in the middle of the log
    [InlineData("1 1 1 2 2", 2, 1, "", 0, "", 2)]
    // partly old, partly new: only the new part is appended
    [InlineData("1 1 1 2 2", 3, 1, "2 2 2 2", 0, "2 2", 7)]
    [InlineData("1 1", 2, 1, "1 3", 0, "1 3", 4)]
    // a real conflict: delete from the first conflicting entry, append the rest
    [InlineData("1 1 1 2 2", 3, 1, "3", 4, "3", 4)]
    [InlineData("1 1 1 2 2", 3, 1, "2 3", 5, "3", 5)]
    [InlineData("1 1 1 2 2", 0, 0, "3", 1, "3", 1)]
    [InlineData("1 1 1 2 2", 1, 1, "1 1 3 3 3 3", 4, "3 3 3 3", 7)]
    public void DecideAppend_TruncatesOnlyOnARealConflict_5_3(
        string log, long prevIndex, long prevTerm, string entryTerms, long truncateFrom, string newEntryTerms, long matchIndex)
    {
        var request = Request(prevIndex, prevTerm, entryTerms);

        var decision = ReplicationRules.DecideAppend(new RaftLog(Entries(Terms(log))), request);

        Assert.True(decision.Success);
        Assert.Equal(truncateFrom, decision.TruncateFrom);
        var newTerms = Terms(newEntryTerms);
        Assert.Equal(request.Entries.Skip(request.Entries.Count - newTerms.Length), decision.NewEntries);
        Assert.Equal(newTerms, decision.NewEntries.Select(e => e.Term));
        Assert.Equal(matchIndex, decision.MatchIndex);
        Assert.Equal(prevIndex + request.Entries.Count, decision.MatchIndex);
    }

    // Figure 2, AppendEntries rule 2: "Reply false if log doesn't contain an entry at prevLogIndex
    // whose term matches prevLogTerm", with the fast-backup hint of the end of §5.3 (as the
    // Students' Guide words it): a log too short says ConflictIndex = its last index + 1 and
    // ConflictTerm = 0; a mismatch says the term it holds there and the first index of that term.
    [Theory]
    // prevLogIndex beyond the end
    [InlineData("", 1, 1, 1, 0)]
    [InlineData("1 1 1 2 2", 6, 2, 6, 0)]
    [InlineData("1 1 1 2 2", 100, 7, 6, 0)]
    // a mismatch inside the log
    [InlineData("1 1 1 2 2", 5, 3, 4, 2)]
    [InlineData("1 1 1 2 2", 4, 3, 4, 2)]
    [InlineData("1 1 1 2 2", 2, 2, 1, 1)]
    [InlineData("1 1 1 2 2 2 3 3 3 3 3", 10, 6, 7, 3)] // Figure 7 (f) against the leader's (10, 6)
    [InlineData("1 1 1 4 4 4 4", 7, 5, 4, 4)] // Figure 7 (e) against the leader's (7, 5)
    public void DecideAppend_RefusesAMismatchWithAConflictHint_5_3(
        string log, long prevIndex, long prevTerm, long conflictIndex, long conflictTerm)
    {
        var decision = ReplicationRules.DecideAppend(new RaftLog(Entries(Terms(log))), Request(prevIndex, prevTerm, "9 9"));

        Assert.False(decision.Success);
        Assert.Equal(AppendDecision.NoTruncation, decision.TruncateFrom);
        Assert.Empty(decision.NewEntries);
        Assert.Equal(conflictIndex, decision.ConflictIndex);
        Assert.Equal(conflictTerm, decision.ConflictTerm);
    }

    // Figure 2, AppendEntries rule 5: "If leaderCommit > commitIndex, set commitIndex =
    // min(leaderCommit, index of last new entry)" — the last entry this request vouched for
    // (prevLogIndex + entries), not the follower's last entry, which may be stale (Students'
    // Guide); and a commit index never moves back.
    [Theory]
    // current, leaderCommit, prevLogIndex, entries, expected
    [InlineData(0, 10, 3, 2, 5)] // leader ahead of what the request carries
    [InlineData(0, 4, 3, 2, 4)] // leader's commit inside the request
    [InlineData(0, 3, 3, 0, 3)] // heartbeat
    [InlineData(0, 10, 3, 0, 3)] // heartbeat: never past prevLogIndex
    [InlineData(6, 4, 3, 2, 6)] // an old request does not move it back
    [InlineData(6, 10, 3, 2, 6)]
    [InlineData(2, 0, 0, 0, 2)]
    public void FollowerCommitIndex_IsMinOfLeaderCommitAndLastNewEntry_5_3(
        long current, long leaderCommit, long prevIndex, int entries, long expected)
    {
        var request = new AppendEntries(9, "n2", prevIndex, 1, EntriesFrom(prevIndex + 1, Enumerable.Repeat(1L, entries).ToArray()), leaderCommit);

        Assert.Equal(expected, ReplicationRules.FollowerCommitIndex(current, request));
    }

    // The same pitfall on the protocol: a follower holding a stale entry beyond what the leader
    // vouched for must not commit it because the leader's commit index reaches that index.
    [Fact]
    public void Follower_DoesNotCommitAStaleEntryBeyondWhatTheRequestVouchedFor_5_3()
    {
        // n1 took (3, term 2) from a leader of term 2 that failed; the leader of term 3 committed
        // its own entry 3 (term 3) and heartbeats with prev (2, 1).
        var follower = NewNode(persisted: new HardState(3, null), log: Entries(1, 1, 2));
        follower.Start();

        follower.Step(new AppendEntries(3, "n2", PrevLogIndex: 2, PrevLogTerm: 1, [], LeaderCommit: 3));

        Assert.Equal(2, follower.CommitIndex);
        Assert.Equal(Entries(1, 1), Applied(follower.DrainEffects()));
    }

    // The leader's side of the hint (§5.3, "the leader can decrement nextIndex to bypass all of
    // the conflicting entries in that term"): with an entry of ConflictTerm it resumes after its
    // last one, else at ConflictIndex; never at or below the follower's matchIndex, never past its
    // own last index + 1.
    [Theory]
    // matchIndex, conflictIndex, conflictTerm, expected nextIndex (leader: Figure 7's, 1 1 1 4 4 5 5 6 6 6)
    [InlineData(0, 11, 0, 11)] // follower (a)/(b)-like: too short, resume at its end
    [InlineData(0, 5, 0, 5)]
    [InlineData(0, 7, 3, 7)] // (f): term 3 unknown to the leader: skip the follower's whole term
    [InlineData(0, 4, 2, 4)]
    [InlineData(0, 4, 4, 6)] // (e) refusing (7, 5): the leader's last term-4 entry is 5: resume at 6
    [InlineData(0, 8, 6, 11)] // a term the leader has up to its end
    [InlineData(0, 6, 5, 8)]
    [InlineData(6, 3, 0, 7)] // never at or below matchIndex
    [InlineData(6, 4, 2, 7)]
    [InlineData(0, 20, 0, 11)] // never past the leader's last + 1
    [InlineData(0, 1, 1, 4)]
    public void NextIndexAfterRefusal_SkipsWholeTerms_5_3(long matchIndex, long conflictIndex, long conflictTerm, long expected)
    {
        var refusal = new AppendEntriesResult(9, "n2", Success: false, ConflictIndex: conflictIndex, ConflictTerm: conflictTerm);

        Assert.Equal(expected, ReplicationRules.NextIndexAfterRefusal(new RaftLog(Entries(Terms(Figure7Leader))), matchIndex, refusal));
    }

    // §5.3/§5.4.2: the leader commits the highest index a majority stores (its own durable copy
    // among them), but only when that entry is of its current term; the entries before it then
    // commit with it. matchIndexes include the leader's own.
    [Theory]
    // log, current term, current commit, match indexes, cluster size, expected
    [InlineData("1 1 2 3 3", 3, 0, "5 4 0", 3, 4)]
    [InlineData("1 1 2 3 3", 3, 0, "5 5 5", 3, 5)]
    [InlineData("1 1 2 3 3", 3, 0, "5 0 0", 3, 0)]
    [InlineData("1 1 2 3 3", 3, 0, "5 3 3", 3, 0)] // index 3 is of term 2: not by counting replicas
    [InlineData("1 1 2 3 3", 3, 0, "5 4 3 3 0", 5, 0)] // a majority stores 3, of term 2; 4 is on two of five
    [InlineData("1 1 2 3 3", 3, 0, "5 4 4 3 0", 5, 4)]
    [InlineData("1 1 2 3 3", 3, 4, "5 2 2", 3, 4)] // never moves back
    [InlineData("1 1 2 3 3", 3, 0, "5 5", 3, 5)] // counts of a majority are enough
    [InlineData("1 1 2 3 3", 3, 0, "5", 3, 0)]
    [InlineData("1 1 2 3 3", 3, 0, "5", 1, 5)]
    [InlineData("1 1 2 3 3", 3, 0, "4 5 0 0", 4, 0)] // 4 nodes need 3
    [InlineData("1 1 2 3 3", 3, 0, "4 5 4 0", 4, 4)]
    public void LeaderCommitIndex_CommitsWhatAMajorityStoresOfTheCurrentTerm_5_4_2(
        string log, long term, long currentCommit, string matchIndexes, int clusterSize, long expected)
    {
        var result = ReplicationRules.LeaderCommitIndex(
            new RaftLog(Entries(Terms(log))), term, currentCommit, Terms(matchIndexes), clusterSize);

        Assert.Equal(expected, result);
    }

    // §5.4.2, Figure 8: S1, leader of term 4, holds (1:1, 2:2) — entry 2 was written by S1 as
    // leader of term 2 and is now on a majority (S1, S2, S3) — but it must not commit entry 2 by
    // counting replicas: S5 (log 1:1, 2:3 of term 3) could still be elected by S2, S3, S4 and
    // overwrite it. Only once an entry of term 4 is on a majority do both commit.
    [Fact]
    public void LeaderCommitIndex_RefusesAnOldTermEntryStoredByAMajority_Figure8()
    {
        var s1Log = new RaftLog(Entries(1, 2));
        Assert.Equal(1, ReplicationRules.LeaderCommitIndex(s1Log, 4, 1, [2, 2, 2, 1, 1], 5));
        Assert.Equal(1, ReplicationRules.LeaderCommitIndex(s1Log, 4, 1, [2, 2, 2, 2, 2], 5));

        s1Log.Append(new LogEntry(3, 4, null));
        Assert.Equal(1, ReplicationRules.LeaderCommitIndex(s1Log, 4, 1, [3, 3, 2, 1, 1], 5));
        Assert.Equal(3, ReplicationRules.LeaderCommitIndex(s1Log, 4, 1, [3, 3, 3, 1, 1], 5));
    }
}
