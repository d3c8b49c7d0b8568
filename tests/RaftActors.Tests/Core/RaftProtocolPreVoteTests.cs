using RaftActors.Core;
using RaftActors.Messages;
using static RaftActors.Tests.Core.ProtocolTestKit;

namespace RaftActors.Tests.Core;

/// <summary>
/// PreVote (Raft thesis §9.6), ported by name from etcd-io/raft's raft_test.go where the behaviour
/// is the same. Where ours differs from etcd's it is on purpose, and said at the test: a node
/// that believes in a current leader (it leads, or heard from its leader within the minimum
/// election timeout) refuses pre-votes even without CheckQuorum — thesis §9.6's condition; and a
/// pre-vote it refuses is answered, not ignored, so a pre-candidate behind learns the term.
/// </summary>
public class RaftProtocolPreVoteTests
{
    public enum PreVoteReceiver
    {
        FollowerThatHeardNoLeader,
        FollowerWhoseLeaderLapsed,
        PreCandidate,
        Candidate,
        FollowerOfALiveLeader,
        Leader,
    }

    private static RaftProtocol Receiver(PreVoteReceiver state)
    {
        var node = NewNode(persisted: new HardState(1, null), preVote: true);
        node.Start();
        switch (state)
        {
            case PreVoteReceiver.FollowerThatHeardNoLeader:
                break;
            case PreVoteReceiver.FollowerWhoseLeaderLapsed:
                node.Step(new AppendEntries(1, "n3", 0, 0, [], 0));
                node.ElectionTimeoutElapsed();
                break;
            case PreVoteReceiver.FollowerOfALiveLeader:
                node.Step(new AppendEntries(1, "n3", 0, 0, [], 0));
                break;
            case PreVoteReceiver.PreCandidate:
                node.ElectionTimeoutElapsed();
                break;
            case PreVoteReceiver.Candidate:
                node.ElectionTimeoutElapsed();
                node.Step(new RequestVoteResult(2, "n3", VoteGranted: true, PreVote: true));
                break;
            case PreVoteReceiver.Leader:
                node.ElectionTimeoutElapsed();
                node.Step(new RequestVoteResult(2, "n3", VoteGranted: true, PreVote: true));
                node.Step(new RequestVoteResult(2, "n3", VoteGranted: true));
                break;
        }

        node.DrainEffects();
        return node;
    }

    // etcd TestPreVoteFromAnyState: a pre-vote for the next term from a candidate whose log is up to
    // date is answered, and changes nothing — not the term, the vote, the role, or the timer (§9.6).
    // Unlike etcd without CheckQuorum, a node that believes in a live leader refuses it.
    [Theory]
    [InlineData(PreVoteReceiver.FollowerThatHeardNoLeader, RaftRole.Follower, true)]
    [InlineData(PreVoteReceiver.FollowerWhoseLeaderLapsed, RaftRole.Follower, true)]
    [InlineData(PreVoteReceiver.PreCandidate, RaftRole.Follower, true)]
    [InlineData(PreVoteReceiver.Candidate, RaftRole.Candidate, true)]
    [InlineData(PreVoteReceiver.FollowerOfALiveLeader, RaftRole.Follower, false)]
    [InlineData(PreVoteReceiver.Leader, RaftRole.Leader, false)]
    public void PreVoteFromAnyState_IsAnsweredAndChangesNothing(PreVoteReceiver state, RaftRole role, bool granted)
    {
        var node = Receiver(state);
        Assert.Equal(role, node.Role);
        var before = (node.HardState, node.LeaderId, node.IsPreCandidate, node.LastLog);
        var proposed = node.Term + 1;

        node.Step(new RequestVote(proposed, "n2", LastLogIndex: 42, LastLogTerm: proposed, PreVote: true));
        var effects = node.DrainEffects();

        // Granted, the answer carries the term it grants; refused, the voter's own.
        var answer = new RequestVoteResult(granted ? proposed : proposed - 1, Self, granted, PreVote: true);
        Assert.Equal(new SendMessage("n2", answer), Assert.Single(effects));
        Assert.Equal(role, node.Role);
        Assert.Equal(before, (node.HardState, node.LeaderId, node.IsPreCandidate, node.LastLog));
    }

    // etcd TestRecvMsgPreVote: the up-to-date table of §5.4.1, for pre-votes. The voter's log holds
    // entries of terms 2, 2; the request is for the voter's own term (max of its last log term and the
    // candidate's), so a vote already given in that term to another refuses it, as it would a vote.
    [Theory]
    [InlineData("follower", 0, 0, null, false)]
    [InlineData("follower", 0, 1, null, false)]
    [InlineData("follower", 0, 2, null, false)]
    [InlineData("follower", 0, 3, null, true)]
    [InlineData("follower", 1, 0, null, false)]
    [InlineData("follower", 1, 1, null, false)]
    [InlineData("follower", 1, 2, null, false)]
    [InlineData("follower", 1, 3, null, true)]
    [InlineData("follower", 2, 0, null, false)]
    [InlineData("follower", 2, 1, null, false)]
    [InlineData("follower", 2, 2, null, true)]
    [InlineData("follower", 2, 3, null, true)]
    [InlineData("follower", 3, 0, null, false)]
    [InlineData("follower", 3, 1, null, false)]
    [InlineData("follower", 3, 2, null, true)]
    [InlineData("follower", 3, 3, null, true)]
    [InlineData("follower", 3, 2, "n2", true)]
    [InlineData("follower", 3, 2, "n1", false)]
    [InlineData("leader", 3, 3, "n1", false)]
    [InlineData("pre-candidate", 3, 3, "n1", false)]
    [InlineData("candidate", 3, 3, "n1", false)]
    public void RecvMsgPreVote_UpToDateTable(string state, long lastLogIndex, long lastLogTerm, string? votedFor, bool granted)
    {
        var term = Math.Max(2, lastLogTerm);
        var request = new RequestVote(term, "n2", lastLogIndex, lastLogTerm, PreVote: true);

        var decision = VoteRules.DecidePreVote(new HardState(term, votedFor), new LogPosition(2, 2), request, leaderIsAlive: state == "leader");

        Assert.Equal(granted, decision == VoteDecision.Granted);
        if (state != "follower")
            return;

        // The same through the protocol: a follower of that term, that heard from no leader.
        var node = NewNode(persisted: new HardState(term, votedFor), log: Entries(2, 2), preVote: true);
        node.Start();
        node.DrainEffects();
        node.Step(request);
        var reply = Assert.IsType<RequestVoteResult>(Assert.Single(Sends(node.DrainEffects())).Message);
        Assert.Equal(new RequestVoteResult(term, Self, granted, PreVote: true), reply);
        Assert.Equal(new HardState(term, votedFor), node.HardState);
    }

    // A pre-vote of a term behind the voter's is refused with the voter's term (etcd: a MsgPreVote of
    // a lower term is answered, so a pre-candidate that fell behind catches up; etcd
    // TestNodeWithSmallerTermCanCompleteElection's fix). The pre-candidate adopts the term.
    [Fact]
    public void APreCandidateBehindTheCluster_LearnsTheTermFromTheRefusal()
    {
        var voter = NewNode(persisted: new HardState(5, "n3"), preVote: true);
        voter.Start();
        voter.DrainEffects();
        voter.Step(new RequestVote(2, "n2", 0, 0, PreVote: true));
        Assert.Equal(
            new SendMessage("n2", new RequestVoteResult(5, Self, VoteGranted: false, PreVote: true)),
            Assert.Single(voter.DrainEffects()));

        var preCandidate = NewNode(persisted: new HardState(1, null), preVote: true);
        preCandidate.Start();
        preCandidate.ElectionTimeoutElapsed();
        Assert.True(preCandidate.IsPreCandidate);
        preCandidate.Step(new RequestVoteResult(5, "n2", VoteGranted: false, PreVote: true));

        Assert.False(preCandidate.IsPreCandidate);
        Assert.Equal(RaftRole.Follower, preCandidate.Role);
        Assert.Equal(new HardState(5, null), preCandidate.HardState);
    }

    // A pre-candidate canvasses without changing its term or vote, and persists nothing; a majority
    // of grants (for the term it proposes) starts the real election, term + 1 (§9.6).
    [Fact]
    public void ATimeout_CanvassesPreVotes_AndAMajorityOfGrantsStartsTheElection()
    {
        var node = NewNode(clusterSize: 5, persisted: new HardState(3, "n4"), log: Entries(1, 3), preVote: true);
        node.Start();
        node.DrainEffects();

        node.ElectionTimeoutElapsed();
        var canvass = node.DrainEffects();

        Assert.True(node.IsPreCandidate);
        Assert.Equal(RaftRole.Follower, node.Role);
        Assert.Equal(new HardState(3, "n4"), node.HardState);
        Assert.DoesNotContain(canvass, e => e is PersistHardState);
        Assert.IsType<ResetElectionTimer>(Assert.Single(canvass, e => e is ResetElectionTimer));
        AssertTimeoutsInRange(canvass);
        Assert.Equal(
            PeersOf(5).Select(p => new SendMessage(p, new RequestVote(4, Self, 2, 3, PreVote: true))),
            Sends(canvass).OrderBy(s => s.To, StringComparer.Ordinal));

        // A grant of an old canvass (another term), a refusal and a real vote do not count.
        node.Step(new RequestVoteResult(3, "n2", VoteGranted: true, PreVote: true));
        node.Step(new RequestVoteResult(3, "n3", VoteGranted: false, PreVote: true));
        node.Step(new RequestVoteResult(3, "n5", VoteGranted: true));
        node.Step(new RequestVoteResult(4, "n2", VoteGranted: true, PreVote: true));
        Assert.True(node.IsPreCandidate);
        Assert.Empty(node.DrainEffects());

        node.Step(new RequestVoteResult(4, "n4", VoteGranted: true, PreVote: true));
        var election = node.DrainEffects();

        Assert.False(node.IsPreCandidate);
        Assert.Equal(RaftRole.Candidate, node.Role);
        Assert.Equal(new HardState(4, Self), node.HardState);
        Assert.Equal(new PersistHardState(new HardState(4, Self)), election[0]);
        Assert.Equal(
            PeersOf(5).Select(p => new SendMessage(p, new RequestVote(4, Self, 2, 3))),
            Sends(election).OrderBy(s => s.To, StringComparer.Ordinal));
    }

    // A majority of refusals ends the canvass: a late grant then starts nothing, and the timer
    // (reset when the canvass began) tries again.
    [Fact]
    public void AMajorityOfRefusals_EndsTheCanvass()
    {
        var node = NewNode(persisted: new HardState(1, null), preVote: true);
        node.Start();
        node.ElectionTimeoutElapsed();
        node.DrainEffects();

        node.Step(new RequestVoteResult(1, "n2", VoteGranted: false, PreVote: true));
        Assert.True(node.IsPreCandidate);
        node.Step(new RequestVoteResult(1, "n3", VoteGranted: false, PreVote: true));
        Assert.False(node.IsPreCandidate);
        node.Step(new RequestVoteResult(2, "n2", VoteGranted: true, PreVote: true));

        Assert.Equal(RaftRole.Follower, node.Role);
        Assert.Equal(new HardState(1, null), node.HardState);
        Assert.Empty(node.DrainEffects());

        node.ElectionTimeoutElapsed();
        Assert.True(node.IsPreCandidate);
    }

    // etcd TestSingleNodePreCandidate: alone, a node's own pre-vote is a majority.
    [Fact]
    public void SingleNodePreCandidate_BecomesLeader()
    {
        var node = NewNode(clusterSize: 1, preVote: true);
        node.Start();
        node.ElectionTimeoutElapsed();

        Assert.Equal(RaftRole.Leader, node.Role);
        Assert.Equal(1, node.Term);
    }

    // With PreVote (or CheckQuorum), a leader's message starts the election timer for the minimum
    // election timeout only: the stretch in which the follower believes in its leader. When it runs
    // out the timer goes on for the rest of the randomized timeout, and only then the node canvasses.
    // Off, the timer is Figure 2's single randomized timeout.
    [Theory]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    [InlineData(false, false)]
    public void ALeadersMessage_StartsTheTimerWithTheMinimumTimeoutDuringWhichTheLeaderIsBelievedAlive(bool preVote, bool checkQuorum)
    {
        var node = NewNode(persisted: new HardState(2, null), preVote: preVote, checkQuorum: checkQuorum);
        node.Start();
        node.DrainEffects();

        node.Step(new AppendEntries(2, "n2", 0, 0, [], 0));
        var first = Assert.Single(node.DrainEffects().OfType<ResetElectionTimer>()).Timeout;
        if (!preVote && !checkQuorum)
        {
            Assert.InRange(first, TimeoutMin, TimeoutMax - TimeSpan.FromTicks(1));
            Assert.False(node.LeaderIsAlive);
            node.ElectionTimeoutElapsed();
            Assert.Equal(RaftRole.Candidate, node.Role);
            return;
        }

        Assert.Equal(TimeoutMin, first);
        Assert.True(node.LeaderIsAlive);

        node.ElectionTimeoutElapsed();
        var rest = Assert.IsType<ResetElectionTimer>(Assert.Single(node.DrainEffects())).Timeout;
        Assert.InRange(first + rest, TimeoutMin, TimeoutMax - TimeSpan.FromTicks(1));
        Assert.False(node.LeaderIsAlive);
        Assert.Equal("n2", node.LeaderId);
        Assert.Equal(RaftRole.Follower, node.Role);

        node.ElectionTimeoutElapsed();
        Assert.Null(node.LeaderId);
        if (preVote)
        {
            Assert.True(node.IsPreCandidate);
            Assert.Equal(2, node.Term);
        }
        else
        {
            Assert.Equal(RaftRole.Candidate, node.Role);
            Assert.Equal(3, node.Term);
        }
    }

    // etcd TestLeaderElectionPreVote: n1 campaigns in clusters where some members never answer
    // (etcd's nopStepper). Without a majority of pre-votes the term does not move: n1 stays a
    // pre-candidate (a follower) of term 0, where without PreVote it would be a candidate of term 1.
    [Theory]
    [InlineData(3, "", RaftRole.Leader, 1)]
    [InlineData(3, "n3", RaftRole.Leader, 1)]
    [InlineData(3, "n2 n3", RaftRole.Follower, 0)]
    [InlineData(4, "n2 n3", RaftRole.Follower, 0)]
    [InlineData(5, "n2 n3", RaftRole.Leader, 1)]
    public void LeaderElectionPreVote(int clusterSize, string absent, RaftRole role, long term)
    {
        var (network, nodes) = NewCluster(clusterSize, preVote: true, checkQuorum: false, absent.Split(' ', StringSplitOptions.RemoveEmptyEntries));

        Hup(network, nodes["n1"]);

        Assert.Equal(role, nodes["n1"].Role);
        Assert.Equal(term, nodes["n1"].Term);
        Assert.Equal(role == RaftRole.Follower, nodes["n1"].IsPreCandidate);
    }

    // etcd TestLeaderElectionPreVote's last case: three logs further along than n1's, in the same
    // term, refuse n1's pre-vote; their refusals carry term 1, which n1 adopts as a follower.
    [Fact]
    public void LeaderElectionPreVote_LogsFurtherAlong_RefuseAndTeachTheTerm()
    {
        var logs = new Dictionary<string, LogEntry[]> { ["n2"] = Entries(1), ["n3"] = Entries(1), ["n4"] = Entries(1, 1) };
        var (network, nodes) = NewCluster(5, preVote: true, checkQuorum: false,
            persisted: id => logs.ContainsKey(id) ? new HardState(1, null) : HardState.Initial,
            log: id => logs.GetValueOrDefault(id));

        Hup(network, nodes["n1"]);

        Assert.Equal(RaftRole.Follower, nodes["n1"].Role);
        Assert.Equal(1, nodes["n1"].Term);
    }

    // etcd TestLeaderCyclePreVote: each node campaigns and wins in turn, so pre-votes work when
    // not starting from a clean slate. (Unlike etcd, the other follower must first have stopped
    // believing in the leader — the minimum election timeout since it heard from it — and the old
    // leader refuses: one grant besides the campaigner's own is the majority of three.)
    [Fact]
    public void LeaderCyclePreVote()
    {
        var (network, nodes) = NewCluster(3, preVote: true, checkQuorum: false);
        foreach (var campaigner in new[] { "n1", "n2", "n3" })
        {
            foreach (var follower in nodes.Values.Where(n => n.NodeId != campaigner && n.LeaderIsAlive && n.Role == RaftRole.Follower))
                MinimumElectionTimeoutPasses(network, follower);

            Hup(network, nodes[campaigner]);

            foreach (var node in nodes.Values)
                Assert.Equal(node.NodeId == campaigner ? RaftRole.Leader : RaftRole.Follower, node.Role);
        }
    }

    // etcd TestDuelingPreCandidates: n1 and n3 are cut from each other. n1 wins with n2's vote; n3's
    // canvass is refused by n2, whose log is ahead and who believes in n1. After the cut heals, n3
    // canvasses again: refused again, it does not raise its term and does not disrupt the leader.
    [Fact]
    public void DuelingPreCandidates()
    {
        var (network, nodes) = NewCluster(3, preVote: true, checkQuorum: false);
        network.Cut("n1", "n3");

        Hup(network, nodes["n1"]);
        Hup(network, nodes["n3"]);

        Assert.Equal(RaftRole.Leader, nodes["n1"].Role);
        Assert.Equal(RaftRole.Follower, nodes["n3"].Role);

        network.Recover();
        Hup(network, nodes["n3"]);

        Assert.Equal((RaftRole.Leader, 1L, 1L), (nodes["n1"].Role, nodes["n1"].Term, nodes["n1"].LastLog.Index));
        Assert.Equal((RaftRole.Follower, 1L, 1L), (nodes["n2"].Role, nodes["n2"].Term, nodes["n2"].LastLog.Index));
        Assert.Equal((RaftRole.Follower, 1L, 0L), (nodes["n3"].Role, nodes["n3"].Term, nodes["n3"].LastLog.Index));
    }

    // etcd TestPreVoteWithSplitVote: the leader goes down; n2 and n3 time out together, grant each
    // other's pre-votes and split the vote of term 3; n2 times out first next and wins term 4.
    [Fact]
    public void PreVoteWithSplitVote()
    {
        var (network, nodes) = NewCluster(3, preVote: true, checkQuorum: false, persisted: _ => new HardState(1, null));
        Hup(network, nodes["n1"]);
        Assert.Equal((RaftRole.Leader, 2L), (nodes["n1"].Role, nodes["n1"].Term));

        network.Isolate("n1");
        foreach (var id in new[] { "n2", "n3" })
        {
            network.Do(id, p => p.ElectionTimeoutElapsed()); // the end of the minimum election timeout
            network.Do(id, p => p.ElectionTimeoutElapsed()); // the end of the randomized one
        }

        network.RunUntilQuiet();

        Assert.Equal((RaftRole.Candidate, 3L), (nodes["n2"].Role, nodes["n2"].Term));
        Assert.Equal((RaftRole.Candidate, 3L), (nodes["n3"].Role, nodes["n3"].Term));

        Hup(network, nodes["n2"]);

        Assert.Equal((RaftRole.Leader, 4L), (nodes["n2"].Role, nodes["n2"].Term));
        Assert.Equal((RaftRole.Follower, 4L), (nodes["n3"].Role, nodes["n3"].Term));
    }

    // etcd TestPreVoteWithCheckQuorum: the leader n1 is cut off; n2 still believes in it and refuses
    // n3's pre-vote; when n2's own timer runs out, n3 — canvassing, believing in no leader — grants
    // n2's, and n2 is elected.
    [Fact]
    public void PreVoteWithCheckQuorum()
    {
        var (network, nodes) = NewCluster(3, preVote: true, checkQuorum: true, persisted: _ => new HardState(1, null));
        Hup(network, nodes["n1"]);
        network.Isolate("n1");
        Assert.Equal(RaftRole.Leader, nodes["n1"].Role);

        Hup(network, nodes["n3"]);
        Assert.True(nodes["n3"].IsPreCandidate);
        Assert.Equal(2, nodes["n3"].Term);

        Hup(network, nodes["n2"]);

        Assert.Equal((RaftRole.Leader, 3L), (nodes["n2"].Role, nodes["n2"].Term));
        Assert.Equal((RaftRole.Follower, 3L), (nodes["n3"].Role, nodes["n3"].Term));
    }

    // etcd TestDisruptiveFollowerPreVote: n3, cut off while the leader appended entries, comes back
    // and times out before hearing the leader. Its canvass is refused (its log is behind; the others
    // believe in the leader): no term is raised, and the leader's late heartbeat makes n3 a follower
    // again — the leader is not deposed.
    [Fact]
    public void DisruptiveFollowerPreVote()
    {
        var (network, nodes) = NewCluster(3, preVote: true, checkQuorum: true, persisted: _ => new HardState(1, null));
        Hup(network, nodes["n1"]);
        network.Isolate("n3");
        for (var i = 0; i < 3; i++)
            network.Do("n1", p => p.Propose(Command($"somedata {i}")));
        network.Do("n1", p => p.Replicate());
        network.RunUntilQuiet();

        network.Recover();
        Hup(network, nodes["n3"]);

        Assert.Equal((RaftRole.Leader, 2L), (nodes["n1"].Role, nodes["n1"].Term));
        Assert.Equal((RaftRole.Follower, 2L), (nodes["n2"].Role, nodes["n2"].Term));
        Assert.Equal((RaftRole.Follower, 2L), (nodes["n3"].Role, nodes["n3"].Term));

        network.Do("n1", p => p.HeartbeatTimeoutElapsed());
        network.RunUntilQuiet();

        Assert.Equal((RaftRole.Leader, 2L), (nodes["n1"].Role, nodes["n1"].Term));
        Assert.Equal("n1", nodes["n3"].LeaderId);
        Assert.Equal(nodes["n1"].LastLog, nodes["n3"].LastLog);
    }

    // TEST-SUITES.md's pitfall: "A rejoining node with an inflated term disrupts a healthy leader
    // unless PreVote is used." n3 is partitioned and its timer runs out again and again; healed, it
    // times out once more before the leader's heartbeat reaches it. With PreVote its term never moved
    // and the leader stays; without, it comes back with a higher term and the leader is deposed.
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void ARejoiningNode_DoesNotDeposeAHealthyLeader_WithPreVote(bool preVote)
    {
        var (network, nodes) = NewCluster(3, preVote, checkQuorum: false);
        Hup(network, nodes["n1"]);
        network.Do("n1", p => p.Propose(Command("x")));
        network.Do("n1", p => p.Replicate());
        network.RunUntilQuiet();
        var leaderTerm = nodes["n1"].Term;

        network.Isolate("n3");
        for (var i = 0; i < 5; i++)
            Hup(network, nodes["n3"]);
        Assert.Equal(preVote ? leaderTerm : leaderTerm + 5, nodes["n3"].Term);

        network.Recover();
        Hup(network, nodes["n3"]);
        network.Do("n1", p => p.HeartbeatTimeoutElapsed());
        network.RunUntilQuiet();

        if (preVote)
        {
            Assert.Equal((RaftRole.Leader, leaderTerm), (nodes["n1"].Role, nodes["n1"].Term));
            Assert.All(nodes.Values, n => Assert.Equal(leaderTerm, n.Term));
            Assert.Equal("n1", nodes["n3"].LeaderId);
        }
        else
        {
            Assert.NotEqual(RaftRole.Leader, nodes["n1"].Role);
            Assert.True(nodes["n1"].Term > leaderTerm);
        }
    }

    // etcd TestPreVoteMigrationWithFreeStuckPreCandidate (and newPreVoteMigrationCluster): in a
    // rolling restart that turns PreVote on, n3 — cut off, without PreVote, it campaigned up to term
    // 4 — restarts with PreVote. Its canvass is refused (log behind); the leader's next heartbeat,
    // of term 2, is refused with term 4 and the leader steps down, freeing the stuck node.
    [Fact]
    public void PreVoteMigrationWithFreeStuckPreCandidate()
    {
        var (network, nodes, n3) = PreVoteMigrationCluster();

        Hup(network, n3);
        Assert.Equal((RaftRole.Leader, RaftRole.Follower, RaftRole.Follower), (nodes["n1"].Role, nodes["n2"].Role, n3.Role));
        Hup(network, n3);
        Assert.Equal((RaftRole.Leader, RaftRole.Follower, 4L), (nodes["n1"].Role, nodes["n2"].Role, n3.Term));

        network.Do("n1", p => p.HeartbeatTimeoutElapsed());
        network.RunUntilQuiet();

        Assert.Equal(RaftRole.Follower, nodes["n1"].Role);
        Assert.Equal(n3.Term, nodes["n1"].Term);
    }

    // etcd TestPreVoteMigrationCanCompleteElection: the leader goes down in that mixed cluster; n2
    // learns term 4 from n3's refusal, and is elected at the next round (n3's log is behind).
    [Fact]
    public void PreVoteMigrationCanCompleteElection()
    {
        var (network, nodes, n3) = PreVoteMigrationCluster();
        network.Isolate("n1");

        Hup(network, n3);
        Hup(network, nodes["n2"]);
        Assert.Equal((RaftRole.Follower, 4L), (nodes["n2"].Role, nodes["n2"].Term));
        Assert.Equal(RaftRole.Follower, n3.Role);

        Hup(network, n3);
        Hup(network, nodes["n2"]);

        Assert.Equal(RaftRole.Leader, nodes["n2"].Role);
        Assert.Equal(RaftRole.Follower, n3.Role);
    }

    /// <summary>
    /// n1 leads term 2 with PreVote, n2 follows; n3, without PreVote, was cut off, missed an entry and
    /// campaigned to term 4; it restarts from its disk with PreVote on and the network heals.
    /// </summary>
    private static (ProtocolNetwork Network, Dictionary<string, RaftProtocol> Nodes, RaftProtocol N3) PreVoteMigrationCluster()
    {
        var n1 = NewNode("n1", 3, new HardState(1, null), seed: 1, preVote: true);
        var n2 = NewNode("n2", 3, new HardState(1, null), seed: 2, preVote: true);
        var old3 = NewNode("n3", 3, new HardState(1, null), seed: 3, preVote: false);
        var network = new ProtocolNetwork(n1, n2, old3);
        foreach (var id in new[] { "n1", "n2", "n3" })
            network.Do(id, p => p.Start());
        Hup(network, n1);
        network.Isolate("n3");
        network.Do("n1", p => p.Propose(Command("some data")));
        network.Do("n1", p => p.Replicate());
        network.RunUntilQuiet();
        Hup(network, old3);
        Hup(network, old3);
        Assert.Equal((RaftRole.Leader, 2L), (n1.Role, n1.Term));
        Assert.Equal((RaftRole.Follower, 2L), (n2.Role, n2.Term));
        Assert.Equal((RaftRole.Candidate, 4L), (old3.Role, old3.Term));

        // The restart: a new instance from what n3 persisted, in a network with the other two.
        var n3 = NewNode("n3", 3, old3.HardState, seed: 3, log: AllEntries(old3), preVote: true);
        var healed = new ProtocolNetwork(n1, n2, n3);
        healed.Do("n3", p => p.Start());
        return (healed, new Dictionary<string, RaftProtocol> { ["n1"] = n1, ["n2"] = n2, ["n3"] = n3 }, n3);
    }
}
