using RaftActors.Core;
using RaftActors.Messages;
using static RaftActors.Tests.Core.ProtocolTestKit;

namespace RaftActors.Tests.Core;

/// <summary>
/// The leader's pipeline to each follower: a window of AppendEntries in flight, restarted from
/// the follower's hint after a refusal, and the Students' Guide rules for replies ("matchIndex =
/// prevLogIndex + entries of the acknowledged request; never move it back"; "ignore replies whose
/// term differs").
/// </summary>
public class RaftProtocolPipeliningTests
{
    private static readonly ReplicationLimits OneEntryThreeInFlight = new(MaxEntriesPerAppend: 1, MaxBytesPerAppend: 1 << 20, MaxAppendsInFlight: 3);

    private static List<(string To, AppendEntries Message)> AppendsTo(string peer, IReadOnlyList<RaftEffect> effects) =>
        Appends(effects).Where(a => a.To == peer).ToList();

    private static AppendEntriesResult Ack(string from, AppendEntries append) =>
        new(append.Term, from, Success: true, MatchIndex: append.PrevLogIndex + append.Entries.Count, Sequence: append.Sequence);

    private static AppendEntriesResult Refuse(string from, AppendEntries append, long conflictIndex, long conflictTerm = 0) =>
        new(append.Term, from, Success: false, ConflictIndex: conflictIndex, ConflictTerm: conflictTerm, Sequence: append.Sequence);

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(8)]
    public void AtMostMaxAppendsInFlightWithEntries_PerFollower(int window)
    {
        var limits = new ReplicationLimits(MaxEntriesPerAppend: 1, MaxBytesPerAppend: 1 << 20, MaxAppendsInFlight: window);
        var leader = LeaderWithCommittedNoop(term: 1, limits: limits);
        for (var i = 0; i < 10; i++)
            leader.Propose(Command($"c{i}"));

        leader.Replicate();
        var effects = leader.DrainEffects();

        foreach (var peer in new[] { "n2", "n3" })
        {
            var appends = AppendsTo(peer, effects);
            Assert.Equal(window, appends.Count);
            Assert.Equal(Enumerable.Range(1, window).Select(i => (long)i), appends.Select(a => a.Message.PrevLogIndex));
            Assert.All(appends, a => Assert.Single(a.Message.Entries));
        }

        // A full window sends nothing more, however often it is asked.
        leader.Replicate();
        Assert.Empty(Sends(leader.DrainEffects()));

        // Heartbeats do not count against the window: the leader keeps asserting itself.
        leader.HeartbeatTimeoutElapsed();
        var heartbeats = Appends(leader.DrainEffects());
        Assert.Equal(["n2", "n3"], heartbeats.Select(h => h.To).Order());
        Assert.All(heartbeats, h => Assert.Empty(h.Message.Entries));
        Assert.All(heartbeats, h => Assert.Equal(1 + window, h.Message.PrevLogIndex));

        // Each acknowledgement opens the window by one, for that follower only.
        var first = AppendsTo("n2", effects)[0].Message;
        leader.Step(Ack("n2", first));
        var next = Assert.Single(Appends(leader.DrainEffects()));
        Assert.Equal("n2", next.To);
        Assert.Equal(1 + window, next.Message.PrevLogIndex);
        Assert.Equal(2 + window, Assert.Single(next.Message.Entries).Index);
    }

    // Only full messages are pipelined (Nagle's rule): with a message in flight, entries that do
    // not fill one wait for its answer and then travel together; a full message goes at once,
    // up to the window. Without the wait, 64 concurrent clients made about 7 entries per message
    // and a sync on each follower per message; with it, all that arrive during a round trip.
    [Fact]
    public void WithAMessageInFlight_OnlyFullMessagesLeave_TheRestWaitsForTheAnswer()
    {
        var limits = new ReplicationLimits(MaxEntriesPerAppend: 3, MaxBytesPerAppend: 1 << 20, MaxAppendsInFlight: 8);
        var leader = LeaderWithCommittedNoop(term: 1, limits: limits);
        leader.Propose(Command("a"));
        leader.Replicate();
        var first = AppendsTo("n2", leader.DrainEffects()).Single().Message;
        Assert.Equal([2L], first.Entries.Select(e => e.Index)); // nothing in flight: at once

        leader.Propose(Command("b"));
        leader.Propose(Command("c"));
        leader.Replicate();
        Assert.Empty(AppendsTo("n2", leader.DrainEffects())); // two of three: they wait

        leader.Propose(Command("d"));
        leader.Propose(Command("e"));
        leader.Replicate();
        var full = AppendsTo("n2", leader.DrainEffects()).Single().Message;
        Assert.Equal([3L, 4, 5], full.Entries.Select(e => e.Index)); // a full message leaves; "e" waits

        leader.Step(Ack("n2", first));
        Assert.Empty(AppendsTo("n2", leader.DrainEffects())); // the full message is still in flight
        leader.Step(Ack("n2", full));
        var rest = AppendsTo("n2", leader.DrainEffects()).Single().Message;
        Assert.Equal([6L], rest.Entries.Select(e => e.Index));
    }

    // The leader writes its entries as they first leave for a follower: those that wait for an
    // answer are written with the message that carries them, in one write (one sync) instead of
    // one per flush. Nothing can commit before a follower holds it, so no commit waits for this.
    [Fact]
    public void TheLeaderWritesItsEntriesAsTheyLeave_ThoseThatWaitForAnAnswer_InOneWrite()
    {
        var limits = new ReplicationLimits(MaxEntriesPerAppend: 8, MaxBytesPerAppend: 1 << 20, MaxAppendsInFlight: 8);
        var leader = LeaderWithCommittedNoop(term: 1, limits: limits);
        leader.Propose(Command("a"));
        leader.Replicate();
        var effects = leader.DrainEffects();
        Assert.Equal([2L], Assert.Single(effects.OfType<PersistEntries>()).Entries.Select(e => e.Index));
        var first = AppendsTo("n2", effects).Single().Message;
        var firstToN3 = AppendsTo("n3", effects).Single().Message;

        foreach (var text in new[] { "b", "c", "d" })
        {
            leader.Propose(Command(text));
            leader.Replicate();
            Assert.Empty(leader.DrainEffects()); // waiting for an answer: neither sent nor written
        }

        leader.Step(Ack("n2", first));
        effects = leader.DrainEffects();
        Assert.Equal([3L, 4, 5], Assert.Single(effects.OfType<PersistEntries>()).Entries.Select(e => e.Index));
        Assert.Equal([3L, 4, 5], AppendsTo("n2", effects).Single().Message.Entries.Select(e => e.Index));

        // Sent to the other follower too, they are not written again.
        leader.Step(Ack("n3", firstToN3));
        effects = leader.DrainEffects();
        Assert.Empty(effects.OfType<PersistEntries>());
        Assert.Equal([3L, 4, 5], AppendsTo("n3", effects).Single().Message.Entries.Select(e => e.Index));
    }

    // Entries no follower can be sent yet (every window is full) are written by the next heartbeat
    // tick, or when the leader steps down: a leader's log reaches its disk within a heartbeat.
    [Fact]
    public void EntriesNoFollowerCanBeSent_AreWrittenByTheNextHeartbeatTick_OrAStepDown()
    {
        var limits = new ReplicationLimits(MaxEntriesPerAppend: 8, MaxBytesPerAppend: 1 << 20, MaxAppendsInFlight: 8);
        var leader = LeaderWithCommittedNoop(term: 1, limits: limits);
        leader.Propose(Command("a"));
        leader.Replicate();
        leader.DrainEffects();

        leader.Propose(Command("b"));
        leader.Replicate();
        Assert.Empty(leader.DrainEffects());
        leader.HeartbeatTimeoutElapsed();
        Assert.Equal([3L], Assert.Single(leader.DrainEffects().OfType<PersistEntries>()).Entries.Select(e => e.Index));

        leader.Propose(Command("c"));
        leader.Replicate();
        Assert.Empty(leader.DrainEffects());
        leader.Step(new AppendEntriesResult(2, "n2", Success: false));
        Assert.Equal(RaftRole.Follower, leader.Role);
        Assert.Equal([4L], Assert.Single(leader.DrainEffects().OfType<PersistEntries>()).Entries.Select(e => e.Index));
    }

    // A leader with no other voter commits on its own write: it writes each entry as it appends it.
    [Fact]
    public void ALeaderWithNoOtherVoter_WritesEachEntryAsItAppendsIt()
    {
        var leader = LeaderWithCommittedNoop(term: 1, clusterSize: 1);
        leader.Propose(Command("a"));
        Assert.Equal([2L], Assert.Single(leader.DrainEffects().OfType<PersistEntries>()).Entries.Select(e => e.Index));
        leader.Persisted(leader.LastLog);
        Assert.Equal(2, leader.CommitIndex);
    }

    // raft.pipeline-partial-appends: for long round trips, every flush sends what is new, up to the window.
    [Fact]
    public void WithPartialAppendsPipelined_EveryFlushSendsWhatIsNew()
    {
        var limits = new ReplicationLimits(MaxEntriesPerAppend: 3, MaxBytesPerAppend: 1 << 20, MaxAppendsInFlight: 2) { PipelinePartialAppends = true };
        var leader = LeaderWithCommittedNoop(term: 1, limits: limits);
        var sent = new List<long[]>();
        foreach (var text in new[] { "a", "b", "c" })
        {
            leader.Propose(Command(text));
            leader.Replicate();
            sent.Add(AppendsTo("n2", leader.DrainEffects()).SelectMany(a => a.Message.Entries).Select(e => e.Index).ToArray());
        }

        Assert.Equal([[2L], [3L], []], sent); // the third waits for the window, not for a full message
    }

    // The byte limit makes a message full too: entries cut short of the log's end leave at once.
    [Fact]
    public void AMessageFullByItsBytes_LeavesWhileAnotherIsInFlight()
    {
        var entryBytes = new LogEntry(2, 1, Command("a")).ApproximateSize;
        var limits = new ReplicationLimits(MaxEntriesPerAppend: 512, MaxBytesPerAppend: entryBytes, MaxAppendsInFlight: 8);
        var leader = LeaderWithCommittedNoop(term: 1, limits: limits);
        leader.Propose(Command("a"));
        leader.Replicate();
        Assert.Single(AppendsTo("n2", leader.DrainEffects()));

        leader.Propose(Command("b"));
        leader.Propose(Command("c"));
        leader.Replicate();
        var sent = AppendsTo("n2", leader.DrainEffects()).Select(a => a.Message).ToList();
        Assert.Equal([3L], sent.SelectMany(a => a.Entries).Select(e => e.Index)); // "b" fills a message; "c" alone does not
    }

    // Lost acknowledgements must not leak window slots: the follower got the entries but its
    // answers were lost; a later answer (to a heartbeat) acknowledges everything they carried, so
    // those messages are no longer in flight, and the next entries go out. (Found by these tests:
    // the window counted unanswered sequences only, so two lost acknowledgements closed a window
    // of two for good — heartbeats kept the follower quiet, but it never got another entry.)
    [Fact]
    public void AnAcknowledgementFreesEveryMessageInFlightThatItCovers()
    {
        var limits = new ReplicationLimits(MaxEntriesPerAppend: 1, MaxBytesPerAppend: 1 << 20, MaxAppendsInFlight: 2);
        var leader = LeaderWithCommittedNoop(term: 1, limits: limits);
        leader.Propose(Command("a"));
        leader.Propose(Command("b"));
        leader.Replicate();
        Assert.Equal(2, AppendsTo("n2", leader.DrainEffects()).Count); // delivered; both answers lost

        leader.HeartbeatTimeoutElapsed();
        var heartbeat = AppendsTo("n2", leader.DrainEffects()).Single().Message;
        Assert.Empty(heartbeat.Entries);
        Assert.Equal(3, heartbeat.PrevLogIndex);
        leader.Step(Ack("n2", heartbeat)); // the follower holds 1..3

        leader.Propose(Command("c"));
        leader.Replicate();
        var next = AppendsTo("n2", leader.DrainEffects()).Select(a => a.Message).ToList();
        Assert.Equal([4L], next.SelectMany(a => a.Entries).Select(e => e.Index));
        Assert.Equal(3, next.Single().PrevLogIndex);

        // The same by an acknowledgement of a later message with entries: it covers the earlier ones.
        leader.Propose(Command("d"));
        leader.Replicate();
        var fifth = AppendsTo("n2", leader.DrainEffects()).Single().Message;
        leader.Step(Ack("n2", fifth)); // the answer to "c" (entry 4) was lost
        leader.Propose(Command("e"));
        leader.Propose(Command("f"));
        leader.Replicate();
        Assert.Equal([6L, 7], AppendsTo("n2", leader.DrainEffects()).SelectMany(a => a.Message.Entries).Select(e => e.Index));
    }

    // A refusal restarts the pipeline where the follower's hint says, and refusals of the
    // abandoned pipeline that arrive after it change nothing: they would restart it again and
    // resend the same entries.
    [Fact]
    public void ARefusalRestartsThePipelineFromTheHint_AndLaterRefusalsOfTheAbandonedPipelineAreIgnored()
    {
        // The leader of term 2 holds 5 entries of term 1; n2 holds only 2 of them.
        var (leader, election) = ElectedLeader(term: 2, log: Entries(1, 1, 1, 1, 1), limits: OneEntryThreeInFlight);
        leader.Propose(Command("a"));
        leader.Propose(Command("b"));
        leader.Replicate();
        var pipeline = AppendsTo("n2", election.Concat(leader.DrainEffects()).ToList()).Select(a => a.Message).ToList();
        Assert.Equal([5L, 6, 7], pipeline.Select(a => a.PrevLogIndex));

        leader.Step(Refuse("n2", pipeline[0], conflictIndex: 3));
        var restarted = AppendsTo("n2", leader.DrainEffects()).Select(a => a.Message).ToList();
        Assert.Equal([2L, 3, 4], restarted.Select(a => a.PrevLogIndex));
        Assert.All(restarted, a => Assert.Equal(1, a.PrevLogTerm));

        leader.Step(Refuse("n2", pipeline[1], conflictIndex: 3));
        leader.Step(Refuse("n2", pipeline[2], conflictIndex: 3));
        Assert.Empty(leader.DrainEffects());

        // The new pipeline goes on as its answers come.
        leader.Step(Ack("n2", restarted[0]));
        Assert.Equal([5L], AppendsTo("n2", leader.DrainEffects()).Select(a => a.Message.PrevLogIndex));
        leader.Step(Ack("n2", restarted[1]));
        leader.Step(Ack("n2", restarted[2]));
        var rest = AppendsTo("n2", leader.DrainEffects()).Select(a => a.Message).ToList();
        Assert.Equal([6L, 7], rest.Select(a => a.PrevLogIndex));
        Assert.Equal([7L, 8], rest.Select(a => a.Entries.Single().Index));
    }

    // Replies reordered: a heartbeat sent after a restarted pipeline's first message is refused
    // first, hinting only at the end of the follower's short log, and restarts the pipeline
    // there; the first message's refusal, which names the real conflict below, belongs to the
    // abandoned pipeline but must still back the leader up (found by MIT's Figure8Unreliable:
    // when it was dropped as stale, a follower diverging over many terms never caught up).
    [Fact]
    public void ARefusalOfAnAbandonedPipelineStillCounts_WhenItPointsBelowWhereTheCurrentOneStarted()
    {
        // The leader of term 8 holds Figure 7's log; n2 holds 1 1 1 2 2 2 3: shorter, and
        // diverging from index 4.
        var (leader, election) = ElectedLeader(term: 8, log: Entries(1, 1, 1, 4, 4, 5, 5, 6, 6, 6));
        leader.Persisted(leader.LastLog);
        var first = AppendsTo("n2", election).Single().Message;
        leader.Step(Refuse("n2", first, conflictIndex: 8)); // too short: the end of n2's log
        var fromEight = AppendsTo("n2", leader.DrainEffects()).Single().Message;
        Assert.Equal((7L, 5L), (fromEight.PrevLogIndex, fromEight.PrevLogTerm));

        leader.HeartbeatTimeoutElapsed();
        var heartbeat = AppendsTo("n2", leader.DrainEffects()).Single().Message;
        Assert.Empty(heartbeat.Entries);
        Assert.Equal(11, heartbeat.PrevLogIndex);

        // The heartbeat's refusal overtakes the first message's: still "too short", the pipeline restarts at 8.
        leader.Step(Refuse("n2", heartbeat, conflictIndex: 8));
        Assert.Equal([7L], AppendsTo("n2", leader.DrainEffects()).Select(a => a.Message.PrevLogIndex));

        // Now the first message's refusal: n2 holds term 3 at index 7, a term the leader lacks.
        leader.Step(Refuse("n2", fromEight, conflictIndex: 7, conflictTerm: 3));
        var backedUp = AppendsTo("n2", leader.DrainEffects()).Select(a => a.Message).ToList();
        Assert.NotEmpty(backedUp);
        Assert.Equal((6L, 5L), (backedUp[0].PrevLogIndex, backedUp[0].PrevLogTerm));
    }

    // A refusal saying the follower's log ends before what it acknowledged. Answering a message
    // sent before the acknowledgement (the network reordered them), it is old news: the leader
    // restarts no lower than what was acknowledged. Answering one sent after it, it means the
    // follower lost its disk (a follower never drops what it matched): the leader forgets the match
    // and resumes where the follower stands — going on above the match would be refused forever.
    [Theory]
    [InlineData(1, 0, 3)] // match 3 from the second message; the first refused: resume after 3
    [InlineData(0, 1, 0)] // match 2 from the first message; the second refused: resume from the start
    public void ARestartNeverGoesBelowWhatTheFollowerAcknowledged_UnlessItLostItsDisk(int acknowledged, int refused, long resumedAfter)
    {
        var leader = LeaderWithCommittedNoop(term: 1, limits: OneEntryThreeInFlight);
        for (var i = 0; i < 3; i++)
            leader.Propose(Command($"c{i}"));
        leader.Replicate();
        var pipeline = AppendsTo("n2", leader.DrainEffects()).Select(a => a.Message).ToList();

        leader.Step(Ack("n2", pipeline[acknowledged]));
        leader.DrainEffects();
        leader.Step(Refuse("n2", pipeline[refused], conflictIndex: 1));

        var resent = AppendsTo("n2", leader.DrainEffects()).Select(a => a.Message).ToList();
        Assert.Equal(resumedAfter, resent[0].PrevLogIndex);
    }

    // §5.3's fast backup on the protocol: a follower's conflict term that the leader lacks is
    // skipped whole (Figure 7 (f) against the leader of term 8: two refusals, not eight).
    [Fact]
    public void ARefusalSkipsTheFollowersWholeConflictingTerm_5_3()
    {
        var (leader, election) = ElectedLeader(term: 8, log: Entries(1, 1, 1, 4, 4, 5, 5, 6, 6, 6));
        var first = AppendsTo("n2", election).Single().Message;
        Assert.Equal((10L, 6L), (first.PrevLogIndex, first.PrevLogTerm));

        leader.Step(Refuse("n2", first, conflictIndex: 7, conflictTerm: 3));
        var second = AppendsTo("n2", leader.DrainEffects()).First().Message;
        Assert.Equal((6L, 5L), (second.PrevLogIndex, second.PrevLogTerm));

        leader.Step(Refuse("n2", second, conflictIndex: 4, conflictTerm: 2));
        var third = AppendsTo("n2", leader.DrainEffects()).First().Message;
        Assert.Equal((3L, 1L), (third.PrevLogIndex, third.PrevLogTerm));
    }

    // Students' Guide: "matchIndex = prevLogIndex + number of entries of the acknowledged
    // request; never move it back" — acknowledgements may arrive out of order (or duplicated).
    // Seen through the commit index: with the leader's own copy not yet durable, the commit index
    // is the lower of n2's and n3's matchIndex.
    [Fact]
    public void MatchIndexNeverMovesBack()
    {
        var leader = LeaderWithCommittedNoop(term: 1, limits: OneEntryThreeInFlight);
        leader.Propose(Command("a"));
        leader.Propose(Command("b"));
        leader.Replicate();
        var effects = leader.DrainEffects();
        var toN2 = AppendsTo("n2", effects).Select(a => a.Message).ToList();
        var toN3 = AppendsTo("n3", effects).Select(a => a.Message).ToList();

        leader.Step(Ack("n2", toN2[1])); // match 3
        leader.Step(Ack("n2", toN2[0])); // late: match 2
        leader.Step(Ack("n2", toN2[1])); // duplicated
        leader.Step(Ack("n2", toN2[0]));
        Assert.Equal(1, leader.CommitIndex);

        leader.Step(Ack("n3", toN3[1]));
        Assert.Equal(3, leader.CommitIndex);

        // ... and nextIndex follows it: the next heartbeat to n2 starts after entry 3.
        leader.DrainEffects();
        leader.HeartbeatTimeoutElapsed();
        Assert.Equal(3, AppendsTo("n2", leader.DrainEffects()).Single().Message.PrevLogIndex);
    }

    // Students' Guide: "ignore replies whose term differs from the term of the request" — a reply
    // of an earlier term answers a request of an earlier leadership, whose indexes mean nothing
    // now; a reply of a later term only makes the leader step down (RaftProtocolTermTests).
    [Fact]
    public void RepliesOfAnotherTermAreIgnored()
    {
        var (leader, _) = ElectedLeader(term: 3, log: Entries(1, 2), limits: OneEntryThreeInFlight);
        leader.Propose(Command("a"));
        leader.Persisted(leader.LastLog);
        leader.Replicate();
        leader.DrainEffects();

        foreach (var peer in new[] { "n2", "n3" })
        {
            Assert.True(leader.Step(new AppendEntriesResult(2, peer, Success: true, MatchIndex: 4, Sequence: 1)));
            Assert.True(leader.Step(new AppendEntriesResult(2, peer, Success: false, ConflictIndex: 1, Sequence: 2)));
        }

        Assert.Empty(leader.DrainEffects());
        Assert.Equal(0, leader.CommitIndex);
        Assert.Equal(RaftRole.Leader, leader.Role);
        Assert.Equal(3, leader.Term);

        // The same acknowledgement in the current term commits.
        leader.Step(new AppendEntriesResult(3, "n2", Success: true, MatchIndex: 4, Sequence: 1));
        Assert.Equal(4, leader.CommitIndex);
    }

    // Pipelining must not reorder or skip: driving a leader and a follower with a small window
    // and one entry per message, the follower ends with the leader's log and commit index.
    [Fact]
    public void APipelinedFollowerEndsWithTheLeadersLog()
    {
        var n1 = NewNode("n1", 2, new HardState(0, null), limits: OneEntryThreeInFlight);
        var n2 = NewNode("n2", 2, new HardState(0, null), limits: OneEntryThreeInFlight);
        var network = new ProtocolNetwork(n1, n2);
        network.Do("n1", n => n.ElectionTimeoutElapsed());
        network.RunUntilQuiet();
        Assert.Equal(RaftRole.Leader, n1.Role);

        network.Do("n1", n =>
        {
            for (var i = 0; i < 20; i++)
                n.Propose(Command($"c{i}"));
            n.Replicate();
        });
        network.RunUntilQuiet();
        network.Do("n1", n => n.HeartbeatTimeoutElapsed());
        network.RunUntilQuiet();

        Assert.Equal(21, n1.CommitIndex);
        Assert.Equal(AllEntries(n1), AllEntries(n2));
        Assert.Equal(21, n2.CommitIndex);
        Assert.Equal(AllEntries(n1), network.AppliedBy("n2"));
    }

    public static TheoryData<string, int> Figure7LogsAndSeeds()
    {
        var data = new TheoryData<string, int>();
        foreach (var log in new[] { "1 1 1 4 4 5 5 6 6", "1 1 1 4", "1 1 1 4 4 5 5 6 6 6 6", "1 1 1 4 4 5 5 6 6 6 7 7", "1 1 1 4 4 4 4", "1 1 1 2 2 2 3 3 3 3 3", "" })
            for (var seed = 1; seed <= 4; seed++)
                data.Add(log, seed);
        return data;
    }

    // Figure 7's followers (a)-(f) again (see LeaderSyncFollowerLog_5_3_Figure7), now through the
    // pipeline — one entry per message, two in flight — on a network that loses 30% of the
    // messages (seeded; the seed is in the test's name), while the leader keeps taking commands:
    // heartbeats must bring every follower level with the leader all the same. (A loss pattern with a fixed period can lock step with
    // the protocol's own cycle and lose the same message forever; random loss cannot.)
    [Theory]
    [MemberData(nameof(Figure7LogsAndSeeds))]
    public void AFigure7FollowerCatchesUpThroughAPipelineThatLosesMessages_5_3(string followerLog, int seed)
    {
        var limits = new ReplicationLimits(MaxEntriesPerAppend: 1, MaxBytesPerAppend: 1 << 20, MaxAppendsInFlight: 2);
        var n1 = NewNode("n1", 3, new HardState(8, null), log: Entries(1, 1, 1, 4, 4, 5, 5, 6, 6, 6), limits: limits);
        var n2 = NewNode("n2", 3, new HardState(7, null), log: Entries(Terms(followerLog)), limits: limits);
        var network = new ProtocolNetwork(n1, n2);
        network.Do("n1", n => n.ElectionTimeoutElapsed());
        network.RunUntilQuiet();
        network.Do("n1", n => n.Step(new RequestVoteResult(9, "n3", VoteGranted: true)));
        Assert.Equal(RaftRole.Leader, n1.Role);
        network.Do("n1", n =>
        {
            for (var i = 0; i < 5; i++)
                n.Propose(Command($"c{i}"));
            n.Replicate();
        });

        var random = new Random(seed);
        network.Drop = (_, _) => random.NextDouble() < 0.3;
        var rounds = 0;
        for (; rounds < 200 && !(rounds >= 20 && AllEntries(n2).SequenceEqual(AllEntries(n1)) && n2.CommitIndex == n1.LastLog.Index); rounds++)
        {
            network.RunUntilQuiet();
            network.Do("n1", n =>
            {
                if (rounds < 20)
                {
                    n.Propose(Command($"r{rounds}"));
                    n.Replicate();
                }

                n.HeartbeatTimeoutElapsed();
            });
        }

        Assert.True(rounds < 200,
            $"seed {seed}: not level after 200 heartbeats: n2 holds {string.Join(" ", AllEntries(n2).Select(e => e.Term))}, commit {n2.CommitIndex}{Environment.NewLine}{network.TraceTail()}");
        Assert.Equal(RaftRole.Leader, n1.Role);
        Assert.Equal(36, n1.CommitIndex);
        Assert.True(network.Dropped > 0, $"seed {seed} lost nothing");
    }
}
