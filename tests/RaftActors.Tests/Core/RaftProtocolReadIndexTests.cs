using RaftActors.Core;
using RaftActors.Messages;
using static RaftActors.Tests.Core.ProtocolTestKit;

namespace RaftActors.Tests.Core;

/// <summary>
/// Linearizable reads in the core (ReadIndex, Ongaro's thesis §6.4; Raft §8): a leader serves a
/// read only once it knows its commit index is current — its no-op of this term is committed —
/// and that it still leads — a majority answered a message it sent after the read arrived. A
/// stale leader must not serve reads locally (etcd issue 741).
/// </summary>
public class RaftProtocolReadIndexTests
{
    private static AppendEntriesResult Answer(SendMessage send) => AcceptAndReply(send);

    [Fact]
    public void RequestRead_OnANewLeader_WaitsUntilItsNoopCommits_8()
    {
        var (leader, election) = ElectedLeader(term: 1);
        var noOpSends = Sends(election);

        Assert.True(leader.RequestRead(1));
        leader.Replicate();
        Assert.Empty(Served(leader.DrainEffects()));

        // n2 holds the no-op and answers a heartbeat sent after the read: with the leader, a
        // majority says it still leads. But the no-op is not durable on the leader, so not
        // committed, and the leader cannot know its commit index is current.
        leader.Step(Answer(noOpSends.Single(s => s.To == "n2")));
        leader.HeartbeatTimeoutElapsed();
        var heartbeats = Sends(leader.DrainEffects());
        leader.Step(Answer(heartbeats.Single(s => s.To == "n2")));
        Assert.Equal(0, leader.CommitIndex);
        Assert.Empty(Served(leader.DrainEffects()));

        // The no-op commits: the read now needs a round of its own, sent at once.
        leader.Persisted(leader.LastLog);
        Assert.Equal(1, leader.CommitIndex);
        var effects = leader.DrainEffects();
        Assert.Empty(Served(effects));
        var round = Sends(effects);
        Assert.Equal(["n2", "n3"], round.Select(s => s.To).Order());
        Assert.All(round, s => Assert.True(((AppendEntries)s.Message).Sequence > heartbeats.Max(h => ((AppendEntries)h.Message).Sequence)));

        leader.Step(Answer(round[0]));
        Assert.Equal([new ServeRead(1, ReadIndex: 1)], Served(leader.DrainEffects()));
    }

    // ServeRead(readId, readIndex) only once a majority (the leader included) answered a message
    // sent after the read was registered; answers to earlier messages prove nothing about now.
    [Theory]
    [InlineData(3)]
    [InlineData(5)]
    public void ServeRead_OnlyAfterAMajorityAnsweredAMessageSentAfterTheRead_6_4(int clusterSize)
    {
        var leader = LeaderWithCommittedNoop(term: 2, clusterSize);
        leader.HeartbeatTimeoutElapsed();
        var before = Sends(leader.DrainEffects());

        Assert.True(leader.RequestRead(42));
        Assert.Empty(leader.DrainEffects());
        leader.Replicate();
        var round = Sends(leader.DrainEffects());
        Assert.Equal(PeersOf(clusterSize), round.Select(s => s.To).Order());
        Assert.All(round, s => Assert.Empty(((AppendEntries)s.Message).Entries));

        foreach (var old in before)
            leader.Step(Answer(old));
        Assert.Empty(Served(leader.DrainEffects()));

        var needed = Quorum.Majority(clusterSize) - 1;
        foreach (var send in round.Take(needed - 1))
            leader.Step(Answer(send));
        Assert.Empty(Served(leader.DrainEffects()));

        leader.Step(Answer(round[needed - 1]));
        Assert.Equal([new ServeRead(42, ReadIndex: leader.CommitIndex)], Served(leader.DrainEffects()));

        // Served once: more answers serve nothing again.
        foreach (var send in round.Skip(needed))
            leader.Step(Answer(send));
        Assert.Empty(Served(leader.DrainEffects()));
    }

    // A refusal of the current term still says "you are my leader": it confirms leadership as well
    // as an acknowledgement does (only the term matters).
    [Fact]
    public void ARefusalOfTheCurrentTermAlsoConfirmsLeadership_6_4()
    {
        var leader = LeaderWithCommittedNoop(term: 1);
        leader.RequestRead(7);
        leader.Replicate();
        var toN2 = Sends(leader.DrainEffects()).Single(s => s.To == "n2");

        leader.Step(new AppendEntriesResult(1, "n2", Success: false, ConflictIndex: 1, Sequence: ((AppendEntries)toN2.Message).Sequence));

        Assert.Equal([new ServeRead(7, ReadIndex: 1)], Served(leader.DrainEffects()));
    }

    // The read index is the commit index when the read arrived; reads are confirmed in order,
    // each by a round sent after it.
    [Fact]
    public void EachReadIsConfirmedByARoundSentAfterIt_AndKeepsItsReadIndex_6_4()
    {
        var leader = LeaderWithCommittedNoop(term: 1);
        leader.RequestRead(1);
        leader.Replicate();
        var firstRound = Sends(leader.DrainEffects());

        leader.Propose(Command("x"));
        leader.Persisted(leader.LastLog);
        leader.Replicate();
        var entry = Sends(leader.DrainEffects());
        leader.Step(Answer(entry.Single(s => s.To == "n3"))); // commits 2 and answers a message sent after read 1
        var effects = leader.DrainEffects();
        Assert.Equal(2, leader.CommitIndex);
        Assert.Equal([new ServeRead(1, ReadIndex: 1)], Served(effects));

        // n2 has not answered the first round: read 2's round to it waits for that answer, which
        // confirms nothing for read 2 (it was sent before) and sends n2 the round that does.
        leader.RequestRead(2);
        leader.Replicate();
        Assert.DoesNotContain(Sends(leader.DrainEffects()), s => s.To == "n2");
        leader.Step(Answer(firstRound.Single(s => s.To == "n2")));
        var afterFirstRound = leader.DrainEffects();
        Assert.Empty(Served(afterFirstRound));
        leader.Step(Answer(Sends(afterFirstRound).Single(s => s.To == "n2")));
        Assert.Equal([new ServeRead(2, ReadIndex: 2)], Served(leader.DrainEffects()));
    }

    // Batched ReadIndex (as etcd's server does): reads that arrive while a follower's confirmation
    // round is out wait for its answer and share the next round, however many they are — one
    // heartbeat per follower at a time, not one per read.
    [Fact]
    public void ReadsArrivingWhileARoundIsOut_ShareTheNextRound()
    {
        var leader = LeaderWithCommittedNoop(term: 1);
        leader.RequestRead(1);
        leader.Replicate();
        var firstRound = Sends(leader.DrainEffects());
        Assert.Equal(["n2", "n3"], firstRound.Select(s => s.To).Order());

        for (var read = 2; read <= 4; read++)
        {
            leader.RequestRead(read);
            leader.Replicate();
        }

        Assert.Empty(Sends(leader.DrainEffects()));
        leader.Step(Answer(firstRound.Single(s => s.To == "n2")));
        var afterFirstRound = leader.DrainEffects();
        Assert.Equal([new ServeRead(1, ReadIndex: 1)], Served(afterFirstRound));
        var nextRound = Sends(afterFirstRound);
        Assert.Equal(["n2"], nextRound.Select(s => s.To));

        leader.Step(Answer(nextRound.Single()));
        Assert.Equal([2L, 3, 4], Served(leader.DrainEffects()).Select(s => s.ReadId));
    }

    // A leader that steps down fails every read it has not confirmed — those waiting for its
    // no-op and those waiting for their round — and serves none of them afterwards.
    [Fact]
    public void FailReads_OnStepDown()
    {
        var (leader, election) = ElectedLeader(term: 1);
        leader.RequestRead(1); // waits for the no-op
        leader.Persisted(leader.LastLog);
        leader.Step(Answer(Sends(election).First(s => s.To == "n2"))); // commits the no-op, registers read 1
        leader.RequestRead(2);
        leader.Replicate();
        var round = Sends(leader.DrainEffects());
        var stillWaiting = ElectedLeader(term: 1).Leader;
        stillWaiting.RequestRead(3);
        stillWaiting.DrainEffects();

        leader.Step(new AppendEntries(2, "n3", PrevLogIndex: 0, PrevLogTerm: 0, [], LeaderCommit: 0));
        stillWaiting.Step(new RequestVote(2, "n3", LastLogIndex: 5, LastLogTerm: 1));

        var failed = leader.DrainEffects().OfType<FailReads>().Single();
        Assert.Equal([1L, 2], failed.ReadIds.Order());
        Assert.Equal([3L], stillWaiting.DrainEffects().OfType<FailReads>().Single().ReadIds);
        Assert.Equal(RaftRole.Follower, leader.Role);
        Assert.True(leader.RequestRead(4)); // now n3's follower, it asks n3 for the read index
        Assert.Equal("n3", Sends(leader.DrainEffects()).Single(s => s.Message is ReadIndexRequest).To);

        foreach (var send in round)
            leader.Step(Answer(send)); // answers of the old term
        Assert.Empty(Served(leader.DrainEffects()));
    }

    [Theory]
    [InlineData(RaftRole.Follower)]
    [InlineData(RaftRole.Candidate)]
    public void RequestRead_IsRefusedByANonLeader(RaftRole role)
    {
        var node = InRole(role, term: 2);

        Assert.False(node.RequestRead(1));
        Assert.Empty(node.DrainEffects());
    }

    // A single-node cluster is its own majority: once its no-op is durable (so committed) it
    // serves reads at once, with no round to wait for.
    [Fact]
    public void ASingleNodeClusterServesAtOnce_6_4()
    {
        var node = NewNode(clusterSize: 1);
        node.Start();
        node.ElectionTimeoutElapsed();
        Assert.Equal(RaftRole.Leader, node.Role);
        node.DrainEffects();

        Assert.True(node.RequestRead(1));
        Assert.Empty(Served(node.DrainEffects()));

        node.Persisted(node.LastLog);
        Assert.Equal([new ServeRead(1, ReadIndex: 1)], Served(node.DrainEffects()));

        Assert.True(node.RequestRead(2));
        Assert.Equal([new ServeRead(2, ReadIndex: 1)], Served(node.DrainEffects()));
    }
}
