using RaftActors.Core;
using RaftActors.Messages;
using static RaftActors.Tests.Core.ProtocolTestKit;

namespace RaftActors.Tests.Core;

/// <summary>
/// Log compaction and InstallSnapshot in the protocol (Raft §7, Figure 13): what the leader decides
/// for a follower that needs compacted entries, the receiver's rules, and a restart from a snapshot.
/// Moving a snapshot's bytes is the host's business; these tests see only the decisions.
/// </summary>
public class RaftProtocolSnapshotTests
{
    private static RaftProtocol Node(IEnumerable<LogEntry> log, long term, LogPosition snapshot = default, int trailingEntries = 0) =>
        new(Self, PeersOf(3), new HardState(term, null), new ElectionTimeouts(TimeoutMin, TimeoutMax, new Random(DefaultSeed)), Heartbeat,
            log, ReplicationLimits.Default, snapshot, trailingEntries);

    /// <summary>A follower of term 3 holding <paramref name="terms"/> (entries 1..n), its commit index at <paramref name="commit"/>, effects drained.</summary>
    private static RaftProtocol Follower(string terms, long commit)
    {
        var node = Node(Entries(Terms(terms)), term: 3);
        node.Start();
        var log = Terms(terms);
        node.Step(new AppendEntries(3, "n2", log.Length, log.Length == 0 ? 0 : log[^1], [], LeaderCommit: commit));
        node.DrainEffects();
        Assert.Equal(commit, node.CommitIndex);
        return node;
    }

    private static InstallSnapshot Chunk(long term, long index, long snapshotTerm, long offset = 0, bool done = true, string leader = "n2") =>
        new(term, leader, index, snapshotTerm, offset, new byte[10], done);

    /// <summary>
    /// A leader of term 2 over ten entries of term 1, its no-op (entry 11) committed with n3's
    /// answer while n2 stays silent; effects drained.
    /// </summary>
    private static RaftProtocol LeaderWithSilentFollower(int trailingEntries = 0)
    {
        var leader = Node(Entries(1, 1, 1, 1, 1, 1, 1, 1, 1, 1), term: 1, trailingEntries: trailingEntries);
        leader.Start();
        leader.ElectionTimeoutElapsed();
        leader.Step(new RequestVoteResult(2, "n3", VoteGranted: true));
        var effects = leader.DrainEffects();
        leader.Persisted(leader.LastLog);
        foreach (var (to, append) in Appends(effects).Where(a => a.To == "n3"))
            leader.Step(new AppendEntriesResult(2, to, true, MatchIndex: append.PrevLogIndex + append.Entries.Count, Sequence: append.Sequence));
        leader.DrainEffects();
        Assert.Equal(RaftRole.Leader, leader.Role);
        Assert.Equal(11, leader.CommitIndex);
        return leader;
    }

    /// <summary>n2's refusal of the leader's first AppendEntries: its log ends before <paramref name="conflictIndex"/>.</summary>
    private static AppendEntriesResult N2Lacks(long conflictIndex) => new(2, "n2", Success: false, ConflictIndex: conflictIndex, Sequence: 1);

    // ---- taking a snapshot ----

    [Theory]
    [InlineData(0, 8)]   // nothing kept behind the snapshot
    [InlineData(3, 5)]   // three trailing entries for followers that lag a little
    [InlineData(100, 0)] // more trailing entries than the log holds: nothing dropped
    public void SnapshotTaken_DropsTheLogPrefix_KeepingTheTrailingEntries(int trailingEntries, long compactedThrough)
    {
        var node = Node(Entries(1, 1, 2, 2, 2, 3, 3, 3, 3, 3), term: 3, trailingEntries: trailingEntries);
        node.Start();
        node.Step(new AppendEntries(3, "n2", 10, 3, [], LeaderCommit: 9));
        node.DrainEffects();

        Assert.True(node.SnapshotTaken(new LogPosition(8, 3)));
        var effects = node.DrainEffects();

        Assert.Equal(new PersistSnapshot(new LogPosition(8, 3), DiscardLog: false, compactedThrough), Assert.Single(effects));
        Assert.Equal(new LogPosition(8, 3), node.Snapshot);
        Assert.Equal(compactedThrough, node.Log.Base.Index);
        Assert.Equal(10, node.Log.LastIndex);
        Assert.Equal(9, node.CommitIndex);
    }

    [Fact]
    public void SnapshotTaken_NoNewerThanTheLatest_IsDeclined()
    {
        var node = Node(Entries(1, 1, 1, 1), term: 1, snapshot: new LogPosition(3, 1));
        node.Start();
        node.DrainEffects();

        Assert.False(node.SnapshotTaken(new LogPosition(3, 1)));
        Assert.False(node.SnapshotTaken(new LogPosition(2, 1)));
        Assert.Empty(node.DrainEffects());
    }

    // ---- the leader: a follower that needs a compacted entry gets the snapshot ----

    [Fact]
    public void AFollowerThatNeedsACompactedEntry_GetsTheSnapshot_AndHeartbeatsAnchoredAtTheBase()
    {
        var leader = LeaderWithSilentFollower();
        Assert.True(leader.SnapshotTaken(new LogPosition(11, 2)));
        leader.DrainEffects();

        leader.Step(N2Lacks(conflictIndex: 2));
        var effects = leader.DrainEffects();

        Assert.Equal(new SendSnapshot("n2"), Assert.Single(effects.OfType<SendSnapshot>()));
        Assert.DoesNotContain(Appends(effects), a => a.To == "n2" && a.Message.Entries.Count > 0);

        // While the snapshot travels, n2 gets heartbeats (its election timer, ReadIndex), no entries, no second transfer.
        leader.Propose(Command("more"));
        leader.Replicate();
        leader.HeartbeatTimeoutElapsed();
        effects = leader.DrainEffects();
        var toN2 = Appends(effects).Where(a => a.To == "n2").Select(a => a.Message).ToList();
        Assert.NotEmpty(toN2);
        Assert.All(toN2, a => Assert.Empty(a.Entries));
        Assert.All(toN2, a => Assert.Equal((11L, 2L), (a.PrevLogIndex, a.PrevLogTerm)));
        Assert.DoesNotContain(effects, e => e is SendSnapshot);

        // Its refusals of those heartbeats change nothing; its answers still confirm leadership.
        leader.Step(new AppendEntriesResult(2, "n2", Success: false, ConflictIndex: 2, Sequence: toN2[^1].Sequence));
        Assert.DoesNotContain(leader.DrainEffects(), e => e is SendSnapshot || e is SendMessage { To: "n2", Message: AppendEntries { Entries.Count: > 0 } });
    }

    // A follower with an unanswered message in flight is not sent a snapshot when the log is
    // compacted past it: it may be gone, and a live one answers soon. Its answer starts the transfer.
    [Fact]
    public void AFollowerWithAMessageInFlight_GetsTheSnapshotOnlyOnceItAnswers()
    {
        var leader = LeaderWithSilentFollower();
        leader.HeartbeatTimeoutElapsed();
        var heartbeat = Appends(leader.DrainEffects()).Single(a => a.To == "n2").Message;
        leader.Step(new AppendEntriesResult(2, "n2", true, MatchIndex: 11, Sequence: heartbeat.Sequence)); // n2 holds the no-op

        // n2 is sent entry 12 and stays silent; entry 13 waits for its answer. n3 takes both.
        AppendEntries? ofX = null;
        foreach (var text in new[] { "x", "y" })
        {
            leader.Propose(Command(text));
            leader.Replicate();
            var effects = leader.DrainEffects();
            ofX ??= Appends(effects).Single(a => a.To == "n2").Message;
            foreach (var (to, append) in Appends(effects).Where(a => a.To == "n3"))
                leader.Step(new AppendEntriesResult(2, to, true, MatchIndex: append.PrevLogIndex + append.Entries.Count, Sequence: append.Sequence));
        }

        leader.Persisted(leader.LastLog);
        Assert.Equal(13, leader.CommitIndex);
        Assert.True(leader.SnapshotTaken(new LogPosition(13, 2))); // n2's next entry, 13, is behind the snapshot now
        leader.Replicate();
        leader.HeartbeatTimeoutElapsed();
        Assert.DoesNotContain(leader.DrainEffects(), e => e is SendSnapshot);

        leader.Step(new AppendEntriesResult(2, "n2", true, MatchIndex: 12, Sequence: ofX!.Sequence));

        Assert.Equal(new SendSnapshot("n2"), Assert.Single(leader.DrainEffects().OfType<SendSnapshot>()));
    }

    [Fact]
    public void TheFollowersDoneAnswer_ResumesAppendEntriesRightAfterTheSnapshot()
    {
        var leader = LeaderWithSilentFollower();
        leader.SnapshotTaken(new LogPosition(11, 2));
        leader.Propose(Command("after"));
        leader.Persisted(leader.LastLog);
        leader.Step(N2Lacks(conflictIndex: 1));
        leader.DrainEffects();

        // The chunks' acknowledgements are the host's; only the done answer reaches the protocol's decisions.
        leader.Step(new InstallSnapshotResult(2, "n2", 11, 2, NextOffset: 65536, Done: false));
        Assert.Empty(leader.DrainEffects());
        leader.Step(new InstallSnapshotResult(2, "n2", 11, 2, NextOffset: 70000, Done: true));
        var effects = leader.DrainEffects();

        var append = Assert.Single(Appends(effects), a => a.To == "n2").Message;
        Assert.Equal((11L, 2L), (append.PrevLogIndex, append.PrevLogTerm));
        Assert.Equal([12L], append.Entries.Select(e => e.Index));

        // n2's acknowledgement commits entry 12: the snapshot counted as its match.
        leader.Step(new AppendEntriesResult(2, "n2", true, MatchIndex: 12, Sequence: append.Sequence));
        Assert.Equal(12, leader.CommitIndex);
    }

    [Fact]
    public void AFailedTransfer_IsTriedAgainAtTheNextHeartbeat()
    {
        var leader = LeaderWithSilentFollower();
        leader.SnapshotTaken(new LogPosition(11, 2));
        leader.Step(N2Lacks(conflictIndex: 1));
        Assert.Single(leader.DrainEffects().OfType<SendSnapshot>());

        leader.SnapshotTransferFailed("n2");
        Assert.Empty(leader.DrainEffects());
        leader.HeartbeatTimeoutElapsed();

        Assert.Single(leader.DrainEffects().OfType<SendSnapshot>());
    }

    [Theory]
    [InlineData(0, 9, true)]  // nothing kept behind the snapshot: entry 8 is gone
    [InlineData(5, 9, false)] // entries 7..11 kept: entry 8 is there, AppendEntries will do
    [InlineData(5, 3, true)]  // but not for a follower that lags by more
    public void TrailingEntries_SpareAFollowerThatLagsALittleTheSnapshot(int trailingEntries, long conflictIndex, bool snapshot)
    {
        var leader = LeaderWithSilentFollower(trailingEntries);
        leader.SnapshotTaken(new LogPosition(11, 2));
        leader.DrainEffects();

        leader.Step(N2Lacks(conflictIndex));
        var effects = leader.DrainEffects();

        Assert.Equal(snapshot, effects.Any(e => e is SendSnapshot));
        if (!snapshot)
            Assert.Equal(conflictIndex - 1, Assert.Single(Appends(effects), a => a.To == "n2" && a.Message.Entries.Count > 0).Message.PrevLogIndex);
    }

    // A follower that restarts without its disk (its data directory deleted) answers with a log
    // shorter than what it acknowledged. Refusals are otherwise never allowed below matchIndex; for
    // this one, in answer to a message sent after that acknowledgement, the leader forgets the
    // match and brings the follower back from where it stands — through the snapshot if need be.
    [Theory]
    [InlineData(true, true)]   // compacted: the snapshot
    [InlineData(false, true)]  // not compacted: AppendEntries from its first entry
    [InlineData(true, false)]  // a late refusal, of a message sent before the acknowledgement: old news
    public void AFollowerThatLostItsDisk_IsBroughtBackFromWhereItStands(bool compacted, bool refusalAfterTheAcknowledgement)
    {
        var leader = LeaderWithSilentFollower();
        leader.HeartbeatTimeoutElapsed();
        var before = Assert.Single(Appends(leader.DrainEffects()), a => a.To == "n2").Message;
        leader.Step(new AppendEntriesResult(2, "n2", true, MatchIndex: 11, Sequence: before.Sequence + 1)); // n2 holds everything
        if (compacted)
            leader.SnapshotTaken(new LogPosition(11, 2));
        leader.HeartbeatTimeoutElapsed();
        var after = Assert.Single(Appends(leader.DrainEffects()), a => a.To == "n2").Message;
        Assert.Equal(11, after.PrevLogIndex);

        // n2 comes back empty.
        var refused = refusalAfterTheAcknowledgement ? after : before;
        leader.Step(new AppendEntriesResult(2, "n2", Success: false, ConflictIndex: 1, ConflictTerm: 0, Sequence: refused.Sequence));
        var effects = leader.DrainEffects();

        if (!refusalAfterTheAcknowledgement)
        {
            Assert.DoesNotContain(effects, e => e is SendSnapshot);
            Assert.DoesNotContain(Appends(effects), a => a.Message.Entries.Count > 0);
            return;
        }

        if (compacted)
            Assert.Single(effects.OfType<SendSnapshot>());
        else
            Assert.Equal(0, Assert.Single(Appends(effects), a => a.To == "n2").Message.PrevLogIndex);
    }

    // ---- the receiver (Figure 13) ----

    [Theory]
    [InlineData(RaftRole.Follower)]
    [InlineData(RaftRole.Candidate)]
    [InlineData(RaftRole.Leader)]
    public void Rule1_AChunkOfAnOlderTerm_IsAnsweredAtOnce_WithTheCurrentTerm(RaftRole role)
    {
        var node = InRole(role, term: 5);

        node.Step(Chunk(term: 4, index: 20, snapshotTerm: 4));
        var effects = node.DrainEffects();

        var reply = Assert.Single(Sends(effects));
        Assert.False(reply.AfterLogDurable);
        Assert.Equal(new InstallSnapshotResult(5, Self, 20, 4, 0, Done: false), reply.Message);
        Assert.Equal(role, node.Role);
        Assert.DoesNotContain(effects, e => e is AcceptSnapshotChunk or ResetElectionTimer);
    }

    [Theory]
    [InlineData(RaftRole.Follower)]
    [InlineData(RaftRole.Candidate)]
    public void AChunkFromTheCurrentLeader_ResetsTheElectionTimer_AndGoesToTheHost(RaftRole role)
    {
        var node = InRole(role, term: 5);
        var chunk = Chunk(term: 5, index: 20, snapshotTerm: 4, offset: 0, done: false);

        node.Step(chunk);
        var effects = node.DrainEffects();

        Assert.Equal(RaftRole.Follower, node.Role);
        Assert.Equal("n2", node.LeaderId);
        Assert.Single(effects.OfType<ResetElectionTimer>());
        Assert.Equal(new AcceptSnapshotChunk(chunk), Assert.Single(effects.OfType<AcceptSnapshotChunk>()));
        Assert.Empty(Sends(effects)); // the host answers once the chunk is durable
    }

    [Fact]
    public void AChunkOfASnapshotAlreadyCommittedHere_IsAnsweredDone_AndIgnored()
    {
        var node = Follower("1 1 2 2 3", commit: 4);

        node.Step(Chunk(term: 3, index: 4, snapshotTerm: 2, offset: 0, done: false));
        var effects = node.DrainEffects();

        Assert.DoesNotContain(effects, e => e is AcceptSnapshotChunk);
        var reply = Assert.Single(Sends(effects));
        Assert.True(reply.AfterLogDurable);
        Assert.True(Assert.IsType<InstallSnapshotResult>(reply.Message).Done);
    }

    // Rules 6-8 once the last chunk is durable: the log after a matching entry stays, a log
    // without it is discarded, the commit index moves to the snapshot and the state machine takes
    // its state. A snapshot this node committed past already is acknowledged and ignored.
    [Theory]
    [InlineData("1 1 2 2 3", 4, 2, true, false, "4:2", 5)]   // holds entry 4 of term 2: entry 5 stays
    [InlineData("1 1 2 2 3", 5, 3, true, false, "5:3", 5)]   // holds the snapshot's last entry exactly
    [InlineData("1 1 2 2 3", 4, 3, true, true, "4:3", 4)]    // entry 4 of another term: all discarded
    [InlineData("1 1 2 2 3", 9, 3, true, true, "9:3", 9)]    // the snapshot reaches past the log
    [InlineData("1 1 2 2 3", 2, 1, false, false, "0:0", 5)]  // committed here already: ignored
    public void SnapshotReceived_FollowsFigure13(string log, long index, long term, bool installed, bool discarded, string expectedBase, long expectedLast)
    {
        var node = Follower(log, commit: 2);
        var lastChunk = Chunk(3, index, term);

        Assert.Equal(installed, node.SnapshotReceived(lastChunk));
        var effects = node.DrainEffects();

        var @base = expectedBase.Split(':').Select(long.Parse).ToArray();
        Assert.Equal(new LogPosition(@base[0], @base[1]), node.Log.Base);
        Assert.Equal(expectedLast, node.Log.LastIndex);
        var reply = Assert.Single(Sends(effects));
        Assert.True(reply.AfterLogDurable);
        Assert.Equal(new InstallSnapshotResult(3, Self, index, term, 10, Done: true), reply.Message);
        if (!installed)
        {
            Assert.Equal(2, node.CommitIndex);
            Assert.Single(effects);
            return;
        }

        Assert.Equal(index, node.CommitIndex);
        Assert.Equal(new LogPosition(index, term), node.Snapshot);
        Assert.Equal(new PersistSnapshot(new LogPosition(index, term), discarded, CompactThrough: index), effects[0]);
        Assert.Equal(new RestoreSnapshot(new LogPosition(index, term)), effects[1]);
        Assert.Empty(Applied(effects)); // the snapshot's entries are never applied one by one
    }

    [Theory]
    [InlineData(4, "n2")] // the term moved on while the last chunk was written
    [InlineData(3, "n3")] // another leader (impossible in one term; dropped all the same)
    public void SnapshotReceived_FromAnotherTermOrLeader_IsDropped(long term, string leader)
    {
        var node = Follower("1 1", commit: 1);
        if (term > 3)
            node.Step(new AppendEntries(term, "n2", 2, 1, [], 1));
        node.DrainEffects();

        Assert.False(node.SnapshotReceived(Chunk(3, 9, 3, leader: leader)));
        Assert.Empty(node.DrainEffects());
        Assert.Equal(2, node.Log.LastIndex);
    }

    [Fact]
    public void AfterAnInstall_OnlyTheEntriesAfterTheSnapshotAreApplied()
    {
        var node = Follower("1 1", commit: 1);
        node.SnapshotReceived(Chunk(3, 9, 3));
        node.DrainEffects();

        node.Step(new AppendEntries(3, "n2", 9, 3, EntriesFrom(10, 3, 3), LeaderCommit: 11));
        var effects = node.DrainEffects();

        Assert.Equal([10L, 11], Applied(effects).Select(e => e.Index));
        Assert.Equal([10L, 11], effects.OfType<PersistEntries>().Single().Entries.Select(e => e.Index));
    }

    // ---- a restart ----

    [Fact]
    public void ARestartedNode_IsCommittedThroughItsSnapshot_AndAppliesOnlyWhatFollows()
    {
        // Stored: a snapshot through 6 (term 2), and entries 4..8 (4..6 kept behind it).
        var node = Node(EntriesFrom(4, 1, 2, 2, 2, 2), term: 2, snapshot: new LogPosition(6, 2));
        node.Start();

        Assert.Equal(6, node.CommitIndex);
        Assert.Equal(new LogPosition(6, 2), node.Snapshot);
        Assert.Equal(new LogPosition(4, 1), node.Log.Base);
        Assert.Equal(new LogPosition(8, 2), node.LastLog);

        node.Step(new AppendEntries(2, "n2", 8, 2, [], LeaderCommit: 8));

        Assert.Equal([7L, 8], Applied(node.DrainEffects()).Select(e => e.Index));
    }

    // ---- the durable write ----

    [Fact]
    public void AWriteThatDiscardsTheLog_EndsItAtTheSnapshot()
    {
        var keep = new DurableWrite(null, [new PersistEntries(0, EntriesFrom(5, 2), new LogPosition(5, 2)), new PersistSnapshot(new LogPosition(4, 2), false, 4)], 1);
        var discard = new DurableWrite(null, [new PersistEntries(0, EntriesFrom(5, 2), new LogPosition(5, 2)), new PersistSnapshot(new LogPosition(9, 3), true, 9)], 2);

        Assert.Equal(new LogPosition(5, 2), keep.LastAfter);
        Assert.Equal(new LogPosition(9, 3), discard.LastAfter);
    }
}
