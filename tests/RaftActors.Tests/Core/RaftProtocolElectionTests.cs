using RaftActors.Core;
using RaftActors.Messages;
using static RaftActors.Tests.Core.ProtocolTestKit;

namespace RaftActors.Tests.Core;

/// <summary>Leader election (§5.2) on the pure protocol, driven without actors or clocks.</summary>
public class RaftProtocolElectionTests
{
    // Raft §5.2: "When servers start up, they begin as followers." Port of etcd TestStartAsFollower;
    // a restarted node resumes the term and vote it persisted, and waits for a leader.
    [Theory]
    [InlineData(0, null)]
    [InlineData(7, "n3")]
    [InlineData(12, "n1")]
    public void StartsAsFollower_WithPersistedTermAndVote_5_2(long term, string? votedFor)
    {
        var node = NewNode(persisted: new HardState(term, votedFor));

        Assert.Equal(RaftRole.Follower, node.Role);
        Assert.Equal(term, node.Term);
        Assert.Equal(new HardState(term, votedFor), node.HardState);
        Assert.Null(node.LeaderId);
        Assert.Empty(node.DrainEffects());

        node.Start();

        var effects = node.DrainEffects();
        Assert.IsType<ResetElectionTimer>(Assert.Single(effects));
        AssertTimeoutsInRange(effects);
        Assert.Equal(RaftRole.Follower, node.Role);
        Assert.Equal(new HardState(term, votedFor), node.HardState);
    }

    // Raft §5.2: "To begin an election, a follower increments its current term and transitions to
    // candidate state. It then votes for itself and issues RequestVote RPCs in parallel to each of
    // the other servers." Port of etcd TestFollowerStartElection. Figure 2: the new term and the
    // self-vote are persisted before any RequestVote leaves. §5.4.1 (etcd TestVoteRequest): the
    // request carries the candidate's last log index and term.
    [Theory]
    [InlineData(3, 0)]
    [InlineData(5, 0)]
    [InlineData(5, 6)]
    [InlineData(7, 41)]
    public void FollowerElectionTimeout_StartsAnElection_5_2(int clusterSize, long term)
    {
        var node = NewNode(clusterSize, new HardState(term, "n2"));
        node.Start();
        node.DrainEffects();

        node.ElectionTimeoutElapsed();
        var effects = node.DrainEffects();
        var trace = Describe(effects);

        Assert.Equal(RaftRole.Candidate, node.Role);
        Assert.Equal(new HardState(term + 1, Self), node.HardState);
        Assert.Null(node.LeaderId);

        Assert.Equal(new PersistHardState(new HardState(term + 1, Self)), effects[0]);
        Assert.Single(effects, e => e is PersistHardState);
        Assert.Single(effects, e => e is ResetElectionTimer);
        var sends = Sends(effects);
        Assert.True(LastIndexOf<PersistHardState>(effects) < FirstIndexOf<SendMessage>(effects), trace);
        Assert.Equal(
            PeersOf(clusterSize).Select(p => new SendMessage(p, new RequestVote(term + 1, Self, LastLogIndex: 0, LastLogTerm: 0))),
            sends.OrderBy(s => s.To, StringComparer.Ordinal));
        AssertTimeoutsInRange(effects);
    }

    // Raft §5.2: "[if] a candidate times out ... it will start a new election by incrementing its
    // term and initiating another round of RequestVote RPCs." Port of etcd TestCandidateStartNewElection.
    [Fact]
    public void CandidateElectionTimeout_StartsANewElectionWithTermPlusOne_5_2()
    {
        var node = InRole(RaftRole.Candidate, term: 1);

        node.ElectionTimeoutElapsed();
        var effects = node.DrainEffects();

        Assert.Equal(RaftRole.Candidate, node.Role);
        Assert.Equal(new HardState(2, Self), node.HardState);
        Assert.Equal(new PersistHardState(new HardState(2, Self)), effects[0]);
        Assert.Contains(effects, e => e is ResetElectionTimer);
        Assert.Equal(
            PeersOf(3).Select(p => new SendMessage(p, new RequestVote(2, Self, 0, 0))),
            Sends(effects).OrderBy(s => s.To, StringComparer.Ordinal));
    }

    // Raft §5.2 leaves a split vote to the next randomized timeout; here the survivors of a dead
    // leader who time out together (n1 and n2 of three, n3 gone) resolve it sooner: n1, whose id
    // orders first, campaigns again after a short wait while n2 keeps its full timeout, and n2
    // grants the next term's pre-vote and vote. PreVote and CheckQuorum on, as by default.
    [Fact]
    public void SplitVote_TheCandidateWhoseIdOrdersFirstCampaignsAgainSoon()
    {
        var (network, nodes) = NewCluster(3, preVote: true, checkQuorum: true, absent: ["n3"]);
        network.Do("n1", n => n.ElectionTimeoutElapsed());
        network.Do("n2", n => n.ElectionTimeoutElapsed());
        var before = nodes.Keys.ToDictionary(id => id, id => network.EffectsOf(id).Count);

        network.RunUntilQuiet();

        Assert.All(nodes.Values, n => Assert.Equal((RaftRole.Candidate, 1L), (n.Role, n.Term)));
        TimeSpan LastTimer(string id) => network.EffectsOf(id).Skip(before[id]).OfType<ResetElectionTimer>().Last().Timeout;
        Assert.True(LastTimer("n1") < (TimeoutMax - TimeoutMin) / 4, network.TraceTail());
        Assert.True(LastTimer("n2") >= TimeoutMin, network.TraceTail());

        network.Do("n1", n => n.ElectionTimeoutElapsed());
        network.RunUntilQuiet();

        Assert.Equal((RaftRole.Leader, 2L), (nodes["n1"].Role, nodes["n1"].Term));
        Assert.Equal((RaftRole.Follower, 2L, "n1"), (nodes["n2"].Role, nodes["n2"].Term, nodes["n2"].LeaderId));
    }

    // Raft §5.2: each election is counted afresh: a grant from the previous term's round does not
    // count toward the new one.
    [Fact]
    public void NewElection_StartsAFreshTally_5_2()
    {
        var node = InRole(RaftRole.Candidate, term: 1, clusterSize: 5);
        node.Step(new RequestVoteResult(1, "n2", VoteGranted: true));
        node.ElectionTimeoutElapsed(); // split vote: term 2

        node.Step(new RequestVoteResult(2, "n3", VoteGranted: true));
        Assert.Equal(RaftRole.Candidate, node.Role); // self + n3 = 2 of 5; n2's old grant is gone

        node.Step(new RequestVoteResult(1, "n4", VoteGranted: true)); // late grant of term 1
        Assert.Equal(RaftRole.Candidate, node.Role);

        node.Step(new RequestVoteResult(2, "n4", VoteGranted: true));
        Assert.Equal(RaftRole.Leader, node.Role);
        Assert.Equal(2, node.Term);
    }

    // Raft §5.2: a candidate "wins an election if it receives votes from a majority of the servers
    // in the full cluster for the same term". Port of etcd TestLeaderElectionInOneRoundRPC, votes
    // written "n2+ n3-" (+ granted, - refused). One deliberate difference: etcd's candidate returns
    // to follower after a majority of refusals (an etcd optimization); here, as in the paper, it
    // stays candidate until it wins, hears from a leader, or its election times out.
    [Theory]
    // wins with a majority, itself included
    [InlineData(3, "n2+ n3+", RaftRole.Leader)]
    [InlineData(3, "n2+", RaftRole.Leader)]
    [InlineData(5, "n2+ n3+ n4+ n5+", RaftRole.Leader)]
    [InlineData(5, "n2+ n3+ n4+", RaftRole.Leader)]
    [InlineData(5, "n2+ n3+", RaftRole.Leader)]
    [InlineData(4, "n2+ n3+", RaftRole.Leader)]
    [InlineData(7, "n2+ n3+ n4+", RaftRole.Leader)]
    [InlineData(5, "n2+ n2- n3+", RaftRole.Leader)]
    // refused by a majority: stays candidate (etcd: follower)
    [InlineData(3, "n2- n3-", RaftRole.Candidate)]
    [InlineData(5, "n2- n3- n4- n5-", RaftRole.Candidate)]
    [InlineData(5, "n2+ n3- n4- n5-", RaftRole.Candidate)]
    // no majority yet
    [InlineData(3, "", RaftRole.Candidate)]
    [InlineData(5, "n2+", RaftRole.Candidate)]
    [InlineData(5, "n2- n3-", RaftRole.Candidate)]
    [InlineData(5, "", RaftRole.Candidate)]
    [InlineData(4, "n2+", RaftRole.Candidate)]
    [InlineData(7, "n2+ n3+", RaftRole.Candidate)]
    // the same voter counts once; its first answer is kept
    [InlineData(5, "n2+ n2+ n2+ n2+", RaftRole.Candidate)]
    [InlineData(5, "n2- n2+ n3+", RaftRole.Candidate)]
    public void LeaderElectionInOneRound_NeedsAMajorityOfTheWholeCluster_5_2(int clusterSize, string votes, RaftRole expected)
    {
        var node = InRole(RaftRole.Candidate, term: 1, clusterSize);

        foreach (var (voter, granted) in ParseVotes(votes))
            Assert.True(node.Step(new RequestVoteResult(1, voter, granted)));

        Assert.Equal(expected, node.Role);
        Assert.Equal(1, node.Term);
        Assert.Equal(new HardState(1, Self), node.HardState);
        Assert.Equal(expected == RaftRole.Leader ? Self : null, node.LeaderId);
    }

    // Raft §5.2: a single-node cluster is its own majority: it elects itself on its first timeout.
    [Theory]
    [InlineData(0)]
    [InlineData(4)]
    public void SingleNodeCluster_ElectsItselfOnItsFirstTimeout_5_2(long persistedTerm)
    {
        var node = NewNode(clusterSize: 1, new HardState(persistedTerm, null));
        node.Start();
        node.DrainEffects();

        node.ElectionTimeoutElapsed();
        var effects = node.DrainEffects();

        Assert.Equal(RaftRole.Leader, node.Role);
        Assert.Equal(new HardState(persistedTerm + 1, Self), node.HardState);
        Assert.Equal(Self, node.LeaderId);
        Assert.Equal(new PersistHardState(new HardState(persistedTerm + 1, Self)), effects[0]);
        Assert.Empty(Sends(effects));
        Assert.Contains(effects, e => e is StopElectionTimer);
        Assert.Contains(new StartHeartbeatTimer(Heartbeat), effects);
        // and the election timer is off from then on
        Assert.True(FirstIndexOf<ResetElectionTimer>(effects) < LastIndexOf<StopElectionTimer>(effects), Describe(effects));
    }

    // Raft §5.2: "Once a candidate wins an election, it becomes leader. It then sends heartbeat
    // messages to all of the other servers to establish its authority." Heartbeats are
    // AppendEntries that carry no entries (etcd TestLeaderBcastBeat). A leader does not time out.
    [Theory]
    [InlineData(3)]
    [InlineData(5)]
    public void NewLeader_SendsHeartbeatsToEveryPeerAtOnce_AndStopsItsElectionTimer_5_2(int clusterSize)
    {
        var node = InRole(RaftRole.Candidate, term: 4, clusterSize);
        var majority = Quorum.Majority(clusterSize);
        foreach (var peer in PeersOf(clusterSize).Take(majority - 2))
            node.Step(new RequestVoteResult(4, peer, VoteGranted: true));
        Assert.Equal(RaftRole.Candidate, node.Role);
        Assert.Empty(node.DrainEffects());

        node.Step(new RequestVoteResult(4, PeersOf(clusterSize)[majority - 2], VoteGranted: true));
        var effects = node.DrainEffects();

        Assert.Equal(RaftRole.Leader, node.Role);
        Assert.Equal(Self, node.LeaderId);
        Assert.Contains(effects, e => e is StopElectionTimer);
        Assert.Contains(new StartHeartbeatTimer(Heartbeat), effects);
        Assert.DoesNotContain(effects, e => e is ResetElectionTimer || e is PersistHardState);

        // The first AppendEntries carries the leader's no-op of its new term (§5.4.2, §8).
        var noOp = new LogEntry(1, 4, Command: null);
        Assert.Equal(
            PeersOf(clusterSize).Select(p => new SendMessage(p, new AppendEntries(4, Self, PrevLogIndex: 0, PrevLogTerm: 0, [noOp], LeaderCommit: 0))),
            Sends(effects).Select(s => s with { Message = ((AppendEntries)s.Message) with { Sequence = 0 } }).OrderBy(s => s.To, StringComparer.Ordinal));
    }

    // Raft §5.2: the leader keeps sending heartbeats to every follower on each heartbeat tick
    // (etcd TestLeaderBcastBeat); nothing else happens on the tick.
    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(5)]
    public void Leader_SendsHeartbeatsToEveryPeerOnEachHeartbeatTimeout_5_2(int clusterSize)
    {
        var node = InRole(RaftRole.Leader, term: 3, clusterSize);

        // Heartbeats carry no entries; prev is the leader's no-op (1, 3), which the followers were sent.
        var expected = PeersOf(clusterSize)
            .Select(p => (RaftEffect)new SendMessage(p, new AppendEntries(3, Self, 1, 3, [], 0)))
            .ToList();

        for (var tick = 0; tick < 3; tick++)
        {
            node.HeartbeatTimeoutElapsed();
            var effects = node.DrainEffects();
            Assert.Equal(
                expected,
                effects.Select(e => (RaftEffect)((SendMessage)e with { Message = ((AppendEntries)((SendMessage)e).Message) with { Sequence = 0 } }))
                    .OrderBy(e => ((SendMessage)e).To, StringComparer.Ordinal));
        }

        Assert.Equal(RaftRole.Leader, node.Role);
        Assert.Equal(3, node.Term);
    }

    // Only a leader heartbeats; only a non-leader starts elections. A late timer message in the
    // wrong role (the host cancelled the timer but it was already queued) changes nothing.
    [Theory]
    [InlineData(RaftRole.Follower)]
    [InlineData(RaftRole.Candidate)]
    public void HeartbeatTimeout_OfANonLeader_DoesNothing_5_2(RaftRole role)
    {
        var node = InRole(role, term: 2);

        node.HeartbeatTimeoutElapsed();

        Assert.Empty(node.DrainEffects());
        Assert.Equal(role, node.Role);
        Assert.Equal(2, node.Term);
    }

    [Fact]
    public void ElectionTimeout_OfALeader_DoesNothing_5_2()
    {
        var node = InRole(RaftRole.Leader, term: 2);

        node.ElectionTimeoutElapsed();

        Assert.Empty(node.DrainEffects());
        Assert.Equal(RaftRole.Leader, node.Role);
        Assert.Equal(new HardState(2, Self), node.HardState);
    }

    // Raft §5.2: "While waiting for votes, a candidate may receive an AppendEntries RPC from another
    // server claiming to be leader. If the leader's term is at least as large as the candidate's
    // current term, then the candidate recognizes the leader as legitimate and returns to follower
    // state." Port of etcd TestCandidateFallback (equal and higher term).
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public void Candidate_FallsBackToFollower_OnAppendEntriesOfAtLeastItsTerm_5_2(long termAhead)
    {
        var node = InRole(RaftRole.Candidate, term: 1);
        var leaderTerm = 1 + termAhead;

        node.Step(new AppendEntries(leaderTerm, "n2", 0, 0, [], 0));
        var effects = node.DrainEffects();

        Assert.Equal(RaftRole.Follower, node.Role);
        Assert.Equal(leaderTerm, node.Term);
        Assert.Equal("n2", node.LeaderId);
        Assert.Contains(effects, e => e is ResetElectionTimer);
        Assert.Equal(new SendMessage("n2", new AppendEntriesResult(leaderTerm, Self, Success: true), AfterLogDurable: true), Assert.Single(Sends(effects)));
        // in the same term its vote stands: it voted for itself and keeps that vote
        Assert.Equal(termAhead == 0 ? Self : null, node.HardState.VotedFor);

        // and votes arriving for the abandoned candidacy no longer count
        node.Step(new RequestVoteResult(leaderTerm, "n3", VoteGranted: true));
        Assert.Equal(RaftRole.Follower, node.Role);
    }

    // Raft §5.2: a follower accepts the current leader's heartbeat and learns who leads.
    [Fact]
    public void Follower_AcceptsTheLeadersHeartbeat_AndLearnsTheLeader_5_2()
    {
        var node = InRole(RaftRole.Follower, term: 3);

        node.Step(new AppendEntries(3, "n3", 0, 0, [], 0));
        var effects = node.DrainEffects();

        Assert.Equal("n3", node.LeaderId);
        Assert.Equal(RaftRole.Follower, node.Role);
        Assert.Equal(new SendMessage("n3", new AppendEntriesResult(3, Self, Success: true), AfterLogDurable: true), Assert.Single(Sends(effects)));
    }

    // Figure 2 ("Election Safety: at most one leader can be elected in a given term"): a leader that
    // receives AppendEntries of its own term refuses it and stays leader.
    [Fact]
    public void Leader_RefusesAppendEntriesOfItsOwnTerm_5_2()
    {
        var node = InRole(RaftRole.Leader, term: 3);

        node.Step(new AppendEntries(3, "n2", 0, 0, [], 0));
        var effects = node.DrainEffects();

        Assert.Equal(RaftRole.Leader, node.Role);
        Assert.Equal(Self, node.LeaderId);
        Assert.Equal(new SendMessage("n2", new AppendEntriesResult(3, Self, Success: false)), Assert.Single(effects));
    }

    // Raft §5.2: "each server will vote for at most one candidate in a given term, on a
    // first-come-first-served basis" (etcd TestFollowerVote), seen at the protocol: the first
    // candidate gets the vote, the second is refused, the first may ask again (its reply may have
    // been lost) and is granted again.
    [Fact]
    public void OneVotePerTerm_FirstComeFirstServed_ReGrantAllowed_5_2()
    {
        var node = InRole(RaftRole.Follower, term: 1);

        node.Step(new RequestVote(1, "n2", 0, 0));
        Assert.Equal(new RequestVoteResult(1, Self, true), Sends(node.DrainEffects()).Single().Message);

        node.Step(new RequestVote(1, "n3", 0, 0));
        Assert.Equal(new SendMessage("n3", new RequestVoteResult(1, Self, false)), Assert.Single(node.DrainEffects()));

        node.Step(new RequestVote(1, "n2", 0, 0));
        var again = node.DrainEffects();
        Assert.Equal(new SendMessage("n2", new RequestVoteResult(1, Self, true)), Assert.Single(Sends(again)));
        Assert.DoesNotContain(again, e => e is PersistHardState e2 && e2.State != new HardState(1, "n2"));

        Assert.Equal(new HardState(1, "n2"), node.HardState);
    }

    // Raft §5.2: a candidate has voted for itself in its term and refuses other candidates of it
    // (the one it refuses hurries to campaign again when its id orders after this one's).
    [Fact]
    public void Candidate_RefusesAnotherCandidateOfItsTerm_5_2()
    {
        var node = InRole(RaftRole.Candidate, term: 2);

        node.Step(new RequestVote(2, "n3", 0, 0));

        var effects = node.DrainEffects();
        Assert.Equal(new SendMessage("n3", new RequestVoteResult(2, Self, false)), Assert.Single(Sends(effects)));
        Assert.All(effects, e => Assert.True(e is SendMessage or ResetElectionTimer, Describe(effects)));
        Assert.Equal(RaftRole.Candidate, node.Role);
        Assert.Equal(new HardState(2, Self), node.HardState);
    }

    // Figure 2: "Persistent state on all servers: (Updated on stable storage before responding to
    // RPCs)". The vote is persisted before the RequestVoteResult that reports it is sent.
    [Theory]
    [InlineData(2, 2)]  // same term, vote not yet cast
    [InlineData(2, 6)]  // higher term: term and vote both change
    public void Vote_IsPersistedBeforeTheReplyIsSent_5_2(long nodeTerm, long requestTerm)
    {
        var node = InRole(RaftRole.Follower, term: nodeTerm);

        node.Step(new RequestVote(requestTerm, "n3", 0, 0));
        var effects = node.DrainEffects();
        var trace = Describe(effects);

        var persistVote = effects.ToList().FindIndex(e => e == new PersistHardState(new HardState(requestTerm, "n3")));
        var reply = effects.ToList().FindIndex(e => e == new SendMessage("n3", new RequestVoteResult(requestTerm, Self, true)));
        Assert.True(persistVote >= 0, trace);
        Assert.True(reply >= 0, trace);
        Assert.True(persistVote < reply, trace);
        Assert.Equal(new HardState(requestTerm, "n3"), node.HardState);
    }

    // A vote reply reaching a node that is no longer a candidate of that term changes nothing.
    [Theory]
    [InlineData(RaftRole.Follower)]
    [InlineData(RaftRole.Leader)]
    public void VoteReply_OutsideACandidacy_IsIgnored_5_2(RaftRole role)
    {
        var node = InRole(role, term: 2, clusterSize: 5);
        var before = (node.Role, node.HardState, node.LeaderId);

        node.Step(new RequestVoteResult(2, "n5", VoteGranted: true));
        node.Step(new RequestVoteResult(2, "n4", VoteGranted: false));

        Assert.Empty(node.DrainEffects());
        Assert.Equal(before, (node.Role, node.HardState, node.LeaderId));
    }

    // Raft §5.1 + §5.2: a granted vote carrying a higher term does not make the candidate a leader;
    // the higher term makes it a follower of that term.
    [Fact]
    public void GrantOfAHigherTerm_MakesTheCandidateAFollower_NotALeader_5_1()
    {
        var node = InRole(RaftRole.Candidate, term: 1);

        node.Step(new RequestVoteResult(2, "n2", VoteGranted: true));

        Assert.Equal(RaftRole.Follower, node.Role);
        Assert.Equal(new HardState(2, null), node.HardState);
    }
}
