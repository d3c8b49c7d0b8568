using RaftActors.Core;
using RaftActors.Messages;
using static RaftActors.Tests.Core.ProtocolTestKit;

namespace RaftActors.Tests.Core;

/// <summary>
/// CheckQuorum as etcd-io/raft has it, ported by name from its raft_test.go: a leader that no
/// majority has answered within the minimum election timeout steps down, and a node that believes
/// in a current leader ignores RequestVote of a higher term (thesis §4.2.3). The protocol's clock
/// is its timers: the leader counts heartbeat ticks (ceil(min timeout / heartbeat interval) of them
/// make its window, 3 here), a follower the first stretch of its election timer.
/// </summary>
public class RaftProtocolCheckQuorumTests
{
    private const int WindowTicks = 3; // 150 ms / 50 ms

    private static RaftProtocol Leader(int clusterSize = 3, bool checkQuorum = true)
    {
        var node = NewNode(clusterSize, new HardState(0, null), checkQuorum: checkQuorum);
        node.Start();
        node.ElectionTimeoutElapsed();
        foreach (var peer in PeersOf(clusterSize).Take(Quorum.Majority(clusterSize) - 1))
            node.Step(new RequestVoteResult(1, peer, VoteGranted: true));
        Assert.Equal(RaftRole.Leader, node.Role);
        node.DrainEffects();
        return node;
    }

    // etcd TestLeaderStepdownWhenQuorumLost: a leader nobody answers steps down, in its term, once a
    // window of heartbeat ticks has passed without a majority — within the minimum election timeout
    // and a tick of the last answer, so before the maximum election timeout. It stops its heartbeat
    // and starts its election timer; it keeps its term and vote.
    [Fact]
    public void LeaderStepdownWhenQuorumLost()
    {
        var leader = Leader();

        for (var tick = 1; tick <= WindowTicks; tick++)
        {
            leader.HeartbeatTimeoutElapsed();
            Assert.Equal(RaftRole.Leader, leader.Role);
        }

        leader.DrainEffects();
        leader.HeartbeatTimeoutElapsed();
        var effects = leader.DrainEffects();

        Assert.Equal(RaftRole.Follower, leader.Role);
        Assert.Equal(new HardState(1, Self), leader.HardState);
        Assert.Null(leader.LeaderId);
        Assert.Contains(effects, e => e is StopHeartbeatTimer);
        Assert.Contains(effects, e => e is ResetElectionTimer);
        Assert.Empty(Sends(effects));
        Assert.True((WindowTicks + 1) * Heartbeat < TimeoutMax);
    }

    // etcd TestLeaderStepdownWhenQuorumActive: a leader answered every tick stays, however long.
    // A majority answering is enough (5 nodes: 2 followers); a minority is not.
    [Theory]
    [InlineData(3, 1, true)]
    [InlineData(5, 2, true)]
    [InlineData(5, 1, false)]
    [InlineData(7, 2, false)]
    public void LeaderStepdownWhenQuorumActive(int clusterSize, int answering, bool staysLeader)
    {
        var leader = Leader(clusterSize);

        for (var tick = 0; tick < 5 * WindowTicks; tick++)
        {
            foreach (var peer in PeersOf(clusterSize).Take(answering))
                leader.Step(new AppendEntriesResult(1, peer, Success: false, ConflictIndex: 1));
            leader.HeartbeatTimeoutElapsed();
        }

        Assert.Equal(staysLeader, leader.Role == RaftRole.Leader);
    }

    // Without CheckQuorum a leader nobody answers leads on (Figure 2).
    [Fact]
    public void WithoutCheckQuorum_ALeaderNobodyAnswers_LeadsOn()
    {
        var leader = Leader(checkQuorum: false);

        for (var tick = 0; tick < 10 * WindowTicks; tick++)
            leader.HeartbeatTimeoutElapsed();

        Assert.Equal(RaftRole.Leader, leader.Role);
    }

    // A leader cut off from the majority in a cluster steps down within the window, while the
    // majority, once its followers stop believing in it, elects another.
    [Fact]
    public void ALeaderCutOffFromTheMajority_StepsDownWithinAnElectionTimeout()
    {
        var (network, nodes) = NewCluster(5, preVote: true, checkQuorum: true);
        Hup(network, nodes["n1"]);
        network.Do("n1", p => p.HeartbeatTimeoutElapsed());
        network.RunUntilQuiet();
        Assert.Equal(RaftRole.Leader, nodes["n1"].Role);

        network.Isolate("n1");
        var ticks = 0;
        while (nodes["n1"].Role == RaftRole.Leader)
        {
            Assert.True(++ticks <= WindowTicks + 1, "the leader did not step down");
            network.Do("n1", p => p.HeartbeatTimeoutElapsed());
            network.RunUntilQuiet();
        }

        Assert.True(ticks * Heartbeat <= TimeoutMin + Heartbeat);
        Assert.Equal(1, nodes["n1"].Term);

        // As much time has passed for the followers: they stop believing in n1, and elect n2.
        foreach (var id in new[] { "n3", "n4", "n5" })
            MinimumElectionTimeoutPasses(network, nodes[id]);
        Hup(network, nodes["n2"]);
        Assert.Equal((RaftRole.Leader, 2L), (nodes["n2"].Role, nodes["n2"].Term));
    }

    // §4.2.3: a follower that heard from its leader within the minimum election timeout ignores a
    // RequestVote of a higher term — no answer, no new term; once that stretch has passed it votes.
    // A leader with CheckQuorum ignores one always (it steps down if no majority follows it).
    [Fact]
    public void ANodeThatBelievesInALeader_IgnoresVotesOfHigherTerms()
    {
        var follower = NewNode(persisted: new HardState(2, null), checkQuorum: true);
        follower.Start();
        follower.Step(new AppendEntries(2, "n2", 0, 0, [], 0));
        follower.DrainEffects();

        follower.Step(new RequestVote(3, "n3", 0, 0));
        Assert.Empty(follower.DrainEffects());
        Assert.Equal(new HardState(2, null), follower.HardState);
        Assert.Equal("n2", follower.LeaderId);

        follower.ElectionTimeoutElapsed(); // the minimum election timeout since n2 was heard
        follower.DrainEffects();
        follower.Step(new RequestVote(3, "n3", 0, 0));
        Assert.Equal(new HardState(3, "n3"), follower.HardState);
        Assert.Contains(new SendMessage("n3", new RequestVoteResult(3, Self, VoteGranted: true)), Sends(follower.DrainEffects()));

        var leader = Leader();
        leader.Step(new RequestVote(5, "n3", 100, 5));
        Assert.Empty(leader.DrainEffects());
        Assert.Equal((RaftRole.Leader, 1L), (leader.Role, leader.Term));

        var figure2Leader = Leader(checkQuorum: false);
        figure2Leader.Step(new RequestVote(5, "n3", 100, 5));
        Assert.Equal((RaftRole.Follower, 5L), (figure2Leader.Role, figure2Leader.Term));
    }

    // etcd TestLeaderSupersedingWithCheckQuorum: n3 campaigns while n2 still believes in leader n1:
    // n2 and n1 ignore it and it stays a candidate. Once n2's stretch has passed, n3's next election
    // wins with n2's vote.
    [Fact]
    public void LeaderSupersedingWithCheckQuorum()
    {
        var (network, nodes) = NewCluster(3, preVote: false, checkQuorum: true);
        Hup(network, nodes["n1"]);
        Assert.Equal(RaftRole.Leader, nodes["n1"].Role);
        Assert.Equal(RaftRole.Follower, nodes["n3"].Role);

        Hup(network, nodes["n3"]);
        Assert.Equal(RaftRole.Candidate, nodes["n3"].Role);
        Assert.Equal(1, nodes["n2"].Term);

        MinimumElectionTimeoutPasses(network, nodes["n2"]);
        Hup(network, nodes["n3"]);

        Assert.Equal(RaftRole.Leader, nodes["n3"].Role);
        Assert.Equal(RaftRole.Follower, nodes["n1"].Role);
    }

    // etcd TestLeaderElectionWithCheckQuorum: the leader n1 hears nobody for its window (its
    // heartbeats are lost) and steps down; n2's stretch passes; n3's election then wins.
    [Fact]
    public void LeaderElectionWithCheckQuorum()
    {
        var (network, nodes) = NewCluster(3, preVote: false, checkQuorum: true);
        Hup(network, nodes["n1"]);
        Assert.Equal(RaftRole.Leader, nodes["n1"].Role);

        network.Drop = (_, message) => message.From == "n1";
        for (var tick = 0; tick <= WindowTicks; tick++)
            network.Do("n1", p => p.HeartbeatTimeoutElapsed());
        network.RunUntilQuiet();
        network.Drop = null;
        MinimumElectionTimeoutPasses(network, nodes["n2"]);
        Hup(network, nodes["n3"]);

        Assert.Equal(RaftRole.Follower, nodes["n1"].Role);
        Assert.Equal(RaftRole.Leader, nodes["n3"].Role);
    }

    // etcd TestFreeStuckCandidateWithCheckQuorum: n1 is cut off; n3 campaigns twice, ignored by n2,
    // which believes in n1, so its term climbs alone. Healed, n1's heartbeat is refused with n3's
    // term: n1 steps down, and n3's next election wins — the stuck candidate is freed.
    [Fact]
    public void FreeStuckCandidateWithCheckQuorum()
    {
        var (network, nodes) = NewCluster(3, preVote: false, checkQuorum: true);
        Hup(network, nodes["n1"]);
        network.Isolate("n1");

        Hup(network, nodes["n3"]);
        Assert.Equal(RaftRole.Follower, nodes["n2"].Role);
        Assert.Equal(RaftRole.Candidate, nodes["n3"].Role);
        Assert.Equal(nodes["n2"].Term + 1, nodes["n3"].Term);

        Hup(network, nodes["n3"]);
        Assert.Equal(RaftRole.Follower, nodes["n2"].Role);
        Assert.Equal(RaftRole.Candidate, nodes["n3"].Role);
        Assert.Equal(nodes["n2"].Term + 2, nodes["n3"].Term);

        network.Recover();
        network.Do("n1", p => p.HeartbeatTimeoutElapsed());
        network.RunUntilQuiet();

        Assert.Equal(RaftRole.Follower, nodes["n1"].Role);
        Assert.Equal(nodes["n3"].Term, nodes["n1"].Term);

        Hup(network, nodes["n3"]);
        Assert.Equal(RaftRole.Leader, nodes["n3"].Role);
    }

    // etcd TestDisruptiveFollower: with CheckQuorum but no PreVote, n3's timer runs out before the
    // leader's heartbeat arrives (its vote requests are lost); the late heartbeat is refused with n3's
    // higher term and the healthy leader steps down. (PreVote prevents this:
    // RaftProtocolPreVoteTests.DisruptiveFollowerPreVote.)
    [Fact]
    public void DisruptiveFollower()
    {
        var (network, nodes) = NewCluster(3, preVote: false, checkQuorum: true, persisted: _ => new HardState(1, null));
        Hup(network, nodes["n1"]);
        Assert.Equal((RaftRole.Leader, RaftRole.Follower, RaftRole.Follower), (nodes["n1"].Role, nodes["n2"].Role, nodes["n3"].Role));

        network.Drop = (_, message) => message.From == "n3";
        Hup(network, nodes["n3"]);
        network.Drop = null;

        Assert.Equal((RaftRole.Leader, RaftRole.Follower, RaftRole.Candidate), (nodes["n1"].Role, nodes["n2"].Role, nodes["n3"].Role));
        Assert.Equal((2L, 2L, 3L), (nodes["n1"].Term, nodes["n2"].Term, nodes["n3"].Term));

        network.Do("n1", p => p.HeartbeatTimeoutElapsed());
        network.RunUntilQuiet();

        Assert.Equal((RaftRole.Follower, RaftRole.Follower, RaftRole.Candidate), (nodes["n1"].Role, nodes["n2"].Role, nodes["n3"].Role));
        Assert.Equal((3L, 2L, 3L), (nodes["n1"].Term, nodes["n2"].Term, nodes["n3"].Term));
    }
}
