using RaftActors.Core;
using RaftActors.Messages;
using static RaftActors.Tests.Core.ProtocolTestKit;

namespace RaftActors.Tests.Core;

/// <summary>
/// Membership changes (Raft thesis chapter 4: one server at a time, learners), ported by name from
/// etcd-io/raft's raft_test.go, then rules of our own. etcd applies a ConfChange to a node directly
/// (applyConfChange); here a configuration is a log entry that the leader appends when asked
/// (<see cref="RaftProtocol.ChangeMembership"/>) and that every server uses as soon as it is in
/// its log, so the ported tests ask the leader and let the network carry the entry. Adding a voter
/// goes through a learner stage, so etcd's "add node" is a learner added, caught up and promoted.
/// </summary>
public class RaftProtocolMembershipTests
{
    /// <summary>The cluster of <paramref name="configuration"/>, and the servers <paramref name="joining"/> it, with n1 elected and its no-op committed.</summary>
    private static (ProtocolNetwork Network, Dictionary<string, RaftProtocol> Nodes) WithLeader(ClusterConfiguration configuration, string[]? joining = null)
    {
        var (network, nodes) = NewCluster(configuration, joining);
        Hup(network, nodes["n1"]);
        Assert.Equal(RaftRole.Leader, nodes["n1"].Role);
        Assert.Equal(nodes["n1"].LastLog.Index, nodes["n1"].CommitIndex);
        return (network, nodes);
    }

    private static MembershipRequestDone DoneOf(ProtocolNetwork network, string id, long requestId) =>
        Assert.Single(network.EffectsOf(id).OfType<MembershipRequestDone>(), done => done.RequestId == requestId);

    private static string[] Learners(ClusterConfiguration configuration) =>
        configuration.Members.Where(m => !m.IsVoter).Select(m => m.Id).ToArray();

    private static void Tick(RaftProtocol leader, int ticks)
    {
        for (var i = 0; i < ticks; i++)
            leader.HeartbeatTimeoutElapsed();
    }

    // etcd TestAddNode: adding n2 to the single-voter cluster {n1} makes the voters {n1, n2}. etcd
    // applies the change to n1 directly; here the leader n1 is asked, and n2 is a server started to
    // join (no configuration): it comes in as a learner (entry 2), catches up at once, and is
    // promoted (entry 3), which the request's answer reports once committed.
    [Fact]
    public void AddNode()
    {
        var (network, nodes) = WithLeader(Config("n1"), joining: ["n2"]);

        Assert.Null(ChangeMembership(network, "n1", 1, MembershipChange.AddVoter("n2")));

        Assert.Equal(new[] { "n1", "n2" }, nodes["n1"].Configuration.Voters);
        Assert.Equal(nodes["n1"].Configuration, nodes["n2"].Configuration);
        Assert.True(nodes["n2"].IsVoter);
        Assert.Equal(new MembershipRequestDone(1, Config("n1 n2"), 3), DoneOf(network, "n1", 1));
    }

    // etcd TestAddLearner: n2 added as a learner is a learner in the configuration, on n1 and on
    // itself, and n1 stays a voter; promoted, n2 is a voter. etcd then demotes n1 to a learner and
    // promotes it again; our requests have no demotion (a voter becomes a learner by being removed,
    // then added as a learner), so asking to add the voter n1 as a learner is refused AlreadyMember.
    [Fact]
    public void AddLearner()
    {
        var (network, nodes) = WithLeader(Config("n1"), joining: ["n2"]);

        Assert.Null(ChangeMembership(network, "n1", 1, MembershipChange.AddLearner("n2")));

        Assert.True(nodes["n1"].IsVoter);
        Assert.Equal(new[] { "n2" }, Learners(nodes["n1"].Configuration));
        Assert.Equal(Config("n1", "n2"), nodes["n2"].Configuration);
        Assert.False(nodes["n2"].IsVoter);
        Assert.Equal(new MembershipRequestDone(1, Config("n1", "n2"), 2), DoneOf(network, "n1", 1));

        Assert.Null(ChangeMembership(network, "n1", 2, MembershipChange.AddVoter("n2")));

        Assert.Empty(Learners(nodes["n1"].Configuration));
        Assert.True(nodes["n2"].IsVoter);
        Assert.Equal(new MembershipRequestDone(2, Config("n1 n2"), 3), DoneOf(network, "n1", 2));

        var refusal = nodes["n1"].ChangeMembership(3, MembershipChange.AddLearner("n1"));
        Assert.Equal(MembershipRefusalReason.AlreadyMember, refusal?.Reason);
        Assert.True(nodes["n1"].IsVoter);
        Assert.False(nodes["n1"].IsChangingMembership);
    }

    // etcd TestRemoveNode: removing n2 from {n1, n2} leaves the voters {n1}. Removing the remaining
    // voter makes etcd panic; ours refuses it (LastVoter) and changes nothing.
    [Fact]
    public void RemoveNode()
    {
        var (network, nodes) = WithLeader(Config("n1 n2"));

        Assert.Null(ChangeMembership(network, "n1", 1, MembershipChange.Remove("n2")));

        Assert.Equal(new[] { "n1" }, nodes["n1"].Configuration.Voters);
        Assert.Equal(new MembershipRequestDone(1, Config("n1"), 2), DoneOf(network, "n1", 1));

        var refusal = nodes["n1"].ChangeMembership(2, MembershipChange.Remove("n1"));
        Assert.Equal(MembershipRefusalReason.LastVoter, refusal?.Reason);
        Assert.Equal(Config("n1"), nodes["n1"].Configuration);
        Assert.Equal(2, nodes["n1"].LastLog.Index);
    }

    // etcd TestRemoveLearner: removing the learner n2 from {n1; learner n2} leaves the voters {n1}
    // and no learner; removing the remaining voter is refused (etcd: panics).
    [Fact]
    public void RemoveLearner()
    {
        var (network, nodes) = WithLeader(Config("n1", learners: "n2"));

        Assert.Null(ChangeMembership(network, "n1", 1, MembershipChange.Remove("n2")));

        Assert.Equal(new[] { "n1" }, nodes["n1"].Configuration.Voters);
        Assert.Empty(Learners(nodes["n1"].Configuration));
        Assert.Equal(new MembershipRequestDone(1, Config("n1"), 2), DoneOf(network, "n1", 1));

        var refusal = nodes["n1"].ChangeMembership(2, MembershipChange.Remove("n1"));
        Assert.Equal(MembershipRefusalReason.LastVoter, refusal?.Reason);
        Assert.Equal(Config("n1"), nodes["n1"].Configuration);
    }

    // etcd TestPromotable: n1 may campaign only when its configuration lists it as a voter (etcd's
    // cases, and ours: a learner). It shows when its timer runs out: a promotable node raises its
    // term (alone, it wins), another does not.
    [Theory]
    [InlineData("n1", "", true)]
    [InlineData("n1 n2 n3", "", true)]
    [InlineData("", "", false)]
    [InlineData("n2 n3", "", false)]
    [InlineData("n2 n3", "n1", false)]
    public void Promotable(string voters, string learners, bool promotable)
    {
        var node = NewNode("n1", Config(voters, learners));

        Assert.Equal(promotable, node.IsVoter);

        node.Start();
        node.ElectionTimeoutElapsed();
        Assert.Equal(promotable ? 1 : 0, node.Term);
        Assert.Equal(promotable && voters == "n1" ? RaftRole.Leader : promotable ? RaftRole.Candidate : RaftRole.Follower, node.Role);
    }

    // etcd TestLearnerElectionTimeout: a learner whose election timer runs out does not campaign:
    // it stays a follower of its term, sends nothing, and only restarts its timer.
    [Fact]
    public void LearnerElectionTimeout()
    {
        var n2 = NewNode("n2", Config("n1", learners: "n2"), new HardState(1, null));
        n2.Start();
        n2.DrainEffects();

        for (var i = 0; i < 3; i++)
            n2.ElectionTimeoutElapsed();
        var effects = n2.DrainEffects();

        Assert.Equal(RaftRole.Follower, n2.Role);
        Assert.Equal(new HardState(1, null), n2.HardState);
        Assert.All(effects, effect => Assert.IsType<ResetElectionTimer>(effect));
    }

    // etcd TestLearnerPromotion: the learner n2 does not campaign; once promoted it does, and wins
    // against the leader n1. (etcd applies the promotion to both nodes directly; here n1 commits it
    // through the log, which n2 receives.)
    [Fact]
    public void LearnerPromotion()
    {
        var n1 = NewNode("n1", Config("n1", learners: "n2"), new HardState(1, null));
        var n2 = NewNode("n2", Config("n1", learners: "n2"), new HardState(1, null));
        var network = new ProtocolNetwork(n1, n2);
        network.Do("n1", p => p.Start());
        network.Do("n2", p => p.Start());
        Assert.NotEqual(RaftRole.Leader, n1.Role);

        Hup(network, n1);
        Assert.Equal(RaftRole.Leader, n1.Role);
        Assert.Equal(RaftRole.Follower, n2.Role);
        Beat(network, "n1");

        Hup(network, n2);
        Assert.Equal((RaftRole.Follower, 2L), (n2.Role, n2.Term));

        Assert.Null(ChangeMembership(network, "n1", 1, MembershipChange.AddVoter("n2")));
        Assert.True(n2.IsVoter);

        Hup(network, n2);
        Beat(network, "n2");

        Assert.Equal(RaftRole.Follower, n1.Role);
        Assert.Equal(RaftRole.Leader, n2.Role);
    }

    // etcd TestLearnerCanVote: a learner grants a vote it is asked for (a server a new leader has
    // promoted may be asked before it has heard of its promotion; see etcd's raft.Step). The
    // request's log (index 11 of term 11) is ahead of the learner's empty one.
    [Fact]
    public void LearnerCanVote()
    {
        var n2 = NewNode("n2", Config("n1", learners: "n2"), new HardState(1, null));
        n2.Start();
        n2.DrainEffects();

        n2.Step(new RequestVote(2, "n1", LastLogIndex: 11, LastLogTerm: 11));

        Assert.Equal(new SendMessage("n1", new RequestVoteResult(2, "n2", VoteGranted: true)), Assert.Single(Sends(n2.DrainEffects())));
    }

    // etcd TestLearnerLogReplication: the leader replicates its log to a learner; a command commits
    // (index 2, after the no-op) without it — n1 is the only voter — and the learner holds it and
    // learns it is committed. (etcd compares the leader's match for n2 with n2's commit index; our
    // progress is not public, so n2's log and commit index stand for it.)
    [Fact]
    public void LearnerLogReplication()
    {
        var n1 = NewNode("n1", Config("n1", learners: "n2"), new HardState(1, null));
        var n2 = NewNode("n2", Config("n1", learners: "n2"), new HardState(1, null));
        var network = new ProtocolNetwork(n1, n2);
        network.Do("n1", p => p.Start());
        network.Do("n2", p => p.Start());
        Hup(network, n1);
        Beat(network, "n1");
        Assert.Equal(RaftRole.Leader, n1.Role);
        Assert.False(n2.IsVoter);

        Assert.Equal(2, ProposeAndReplicate(network, "n1"));
        Beat(network, "n1"); // a leader's commit index travels with its next message (etcd broadcasts it at once)

        Assert.Equal(2, n1.CommitIndex);
        Assert.Equal(n1.CommitIndex, n2.CommitIndex);
        Assert.Equal(n1.LastLog, n2.LastLog);
        Assert.Equal(AllEntries(n1), network.AppliedBy("n2"));
    }

    // etcd TestCommitAfterRemoveNode: a command waiting for the vote of a server that is then removed
    // commits under the smaller majority. etcd proposes the removal first and the command after,
    // and the command commits when the removal is applied; here a configuration counts from the
    // moment it is appended (thesis §4.1), so the removal, once durable on the leader, commits at
    // once and the command must come first to be seen waiting: "hello" (entry 2) waits for n2's
    // acknowledgement, which never comes; removing n2 commits it.
    [Fact]
    public void CommitAfterRemoveNode()
    {
        var leader = LeaderWithCommittedNoop(term: 1, clusterSize: 2);
        var hello = leader.Propose(Command("hello"));
        leader.Persisted(leader.LastLog);
        Assert.Equal(1, leader.CommitIndex);
        Assert.Empty(Applied(leader.DrainEffects()));

        Assert.Null(leader.ChangeMembership(1, MembershipChange.Remove("n2")));
        var removal = leader.LastLog.Index;

        Assert.Equal(Config("n1"), leader.Configuration);
        Assert.Equal([hello!.Value], Applied(leader.DrainEffects()).Select(e => e.Index));

        leader.Persisted(leader.LastLog);
        var effects = leader.DrainEffects();
        Assert.Equal(removal, Assert.Single(Applied(effects)).Index);
        Assert.Contains(new MembershipRequestDone(1, Config("n1"), removal), effects);
    }

    // etcd's StepDownOnRemoval (Config.StepDownOnRemoval, testdata/confchange_v1_remove_leader_stepdown.txt)
    // and thesis §4.2.2: a leader asked to remove itself leads until the change commits — it
    // replicates it, and the majority that commits it is of the new configuration, itself not
    // counted — then hands over with TimeoutNow to its most up-to-date voter (n2, which holds its
    // whole log) and steps down. Then it can neither propose nor campaign.
    [Fact]
    public void StepDownOnRemoval()
    {
        var (network, nodes) = WithLeader(Config("n1 n2 n3"));
        var n1 = nodes["n1"];

        Assert.Null(ChangeMembership(network, "n1", 1, MembershipChange.Remove("n1")));

        Assert.Equal(new MembershipRequestDone(1, Config("n2 n3"), 2), DoneOf(network, "n1", 1));
        Assert.Equal(RaftRole.Follower, n1.Role);
        Assert.False(n1.IsVoter);
        Assert.Contains(new SendMessage("n2", new TimeoutNow(1, "n1")), network.EffectsOf("n1"));
        Assert.Equal((RaftRole.Leader, 2L), (nodes["n2"].Role, nodes["n2"].Term)); // no timer ran: the handover elected it
        Assert.Equal("n2", nodes["n3"].LeaderId);

        // (n2 too replicates to n1 until it sees the removal committed: n1 follows it, in term 2.)
        Assert.Null(n1.Propose(Command("baz")));
        var (term, before) = (n1.Term, network.EffectsOf("n1").Count);
        Hup(network, n1);
        Assert.Equal((RaftRole.Follower, term), (n1.Role, n1.Term));
        Assert.DoesNotContain(network.EffectsOf("n1").Skip(before), e => e is SendMessage or PersistHardState);
    }

    // etcd's confchange_v1_remove_leader_stepdown goes on: an entry ("bar") the removed leader
    // appended after the change is not committed when the change commits and it steps down. It
    // knows of no voter holding its whole log then (their acknowledgements of "bar" are still on
    // the way), and a TimeoutNow to one lacking an entry another voter holds would start an
    // election it cannot win: it steps down without handing over. The acknowledgements of "bar"
    // that reach it afterwards count for nothing; the next leader, elected when a timer runs out,
    // commits "bar" under its own term.
    [Fact]
    public void StepDownOnRemoval_WithAnEntryNoVoterHoldsYet()
    {
        var (network, nodes) = WithLeader(Config("n1 n2 n3"));
        var n1 = nodes["n1"];

        network.Do("n1", p =>
        {
            Assert.Null(p.ChangeMembership(1, MembershipChange.Remove("n1")));
            p.Replicate();
            Assert.Equal(3, p.Propose(Command("bar")));
            p.Replicate();
        });
        network.RunUntilQuiet();

        Assert.Equal(new MembershipRequestDone(1, Config("n2 n3"), 2), DoneOf(network, "n1", 1));
        Assert.Equal(RaftRole.Follower, n1.Role);
        Assert.Equal(2, n1.CommitIndex);
        Assert.DoesNotContain(network.EffectsOf("n1"), e => e is SendMessage { Message: TimeoutNow });
        Assert.All(nodes.Values, node => Assert.NotEqual(RaftRole.Leader, node.Role));

        Hup(network, nodes["n2"]);

        Assert.Equal(RaftRole.Leader, nodes["n2"].Role);
        Assert.Contains(network.AppliedBy("n2"), e => e.Index == 3 && e.Command is not null);
        Assert.Equal(nodes["n2"].LastLog.Index, nodes["n2"].CommitIndex);
    }

    // The single-server change's errata (Ongaro, raft-dev, 2015; thesis §4.1 as corrected): a leader
    // makes no membership change before it has committed an entry of its own term, or a change a
    // previous leader left on a minority could overlap with its own. Refused LeaderNotReady while
    // its no-op is not committed (the entries of term 1 beneath do not count), accepted after.
    [Fact]
    public void AChangeBeforeTheLeaderCommitsAnEntryOfItsTerm_IsRefusedLeaderNotReady()
    {
        var (leader, effects) = ElectedLeader(term: 2, log: Entries(1, 1));

        var refusal = leader.ChangeMembership(1, MembershipChange.AddLearner("n4"));

        Assert.Equal(MembershipRefusalReason.LeaderNotReady, refusal?.Reason);
        Assert.Equal(Config("n1 n2 n3"), leader.Configuration);
        Assert.Equal(3, leader.LastLog.Index);

        leader.Persisted(leader.LastLog);
        foreach (var send in Sends(effects).Where(s => s.Message is AppendEntries))
            leader.Step(AcceptAndReply(send));
        Assert.Equal(3, leader.CommitIndex);

        Assert.Null(leader.ChangeMembership(2, MembershipChange.AddLearner("n4")));
        Assert.Equal(Config("n1 n2 n3", learners: "n4"), leader.Configuration);
    }

    // Thesis §4.1: one change at a time — a change is refused ChangeInProgress until the previous
    // one is committed, and accepted right after.
    [Fact]
    public void OneChangeAtATime_TheNextIsRefusedUntilTheFirstCommits()
    {
        var leader = LeaderWithCommittedNoop(term: 1, clusterSize: 3);

        Assert.Null(leader.ChangeMembership(1, MembershipChange.AddLearner("n4")));
        leader.Persisted(leader.LastLog);
        leader.Replicate();
        var effects = leader.DrainEffects();

        Assert.True(leader.IsChangingMembership);
        Assert.Equal(MembershipRefusalReason.ChangeInProgress, leader.ChangeMembership(2, MembershipChange.AddLearner("n5"))?.Reason);
        Assert.Equal(MembershipRefusalReason.ChangeInProgress, leader.ChangeMembership(3, MembershipChange.Remove("n3"))?.Reason);
        Assert.Equal(Config("n1 n2 n3", learners: "n4"), leader.Configuration);

        foreach (var send in Sends(effects).Where(s => s.To == "n2" && s.Message is AppendEntries))
            leader.Step(AcceptAndReply(send));
        Assert.Contains(new MembershipRequestDone(1, Config("n1 n2 n3", learners: "n4"), 2), leader.DrainEffects());
        Assert.False(leader.IsChangingMembership);

        Assert.Null(leader.ChangeMembership(4, MembershipChange.AddLearner("n5")));
        Assert.Equal(Config("n1 n2 n3", learners: "n4 n5"), leader.Configuration);
    }

    // Thesis §4.1: a server uses the latest configuration in its log as soon as it appends it,
    // committed or not: n2, told that the learner n4 is promoted, counts n4 in its next election.
    // A new leader that never had the entry overwrites it, and n2 falls back to the configuration
    // before (its bootstrap's, committed), telling its host each time.
    [Fact]
    public void AFollowerUsesAConfigurationAsSoonAsItAppendsIt_AndFallsBackWhenTheEntryIsTruncated()
    {
        var bootstrap = Config("n1 n2 n3", learners: "n4");
        var promoted = Config("n1 n2 n3 n4");
        var follower = NewNode("n2", bootstrap, new HardState(1, null));
        follower.Start();
        follower.DrainEffects();

        follower.Step(new AppendEntries(1, "n1", 0, 0, [new LogEntry(1, 1, null), new LogEntry(2, 1, null, promoted)], LeaderCommit: 1));

        Assert.Equal(1, follower.CommitIndex);
        Assert.Equal((promoted, 2L), (follower.Configuration, follower.ConfigurationIndex));
        Assert.Contains(new ConfigurationChanged(promoted, 2, Committed: false), follower.DrainEffects());
        follower.ElectionTimeoutElapsed();
        Assert.Equal(new[] { "n1", "n3", "n4" }, Sends(follower.DrainEffects()).Where(s => s.Message is RequestVote).Select(s => s.To).Order());

        // n3 won term 3 without entry 2, and overwrites it.
        follower.Step(new AppendEntries(3, "n3", 1, 1, [new LogEntry(2, 3, null)], LeaderCommit: 1));

        Assert.Equal(new LogEntry(2, 3, null), follower.Log[2]);
        Assert.Equal((bootstrap, 0L), (follower.Configuration, follower.ConfigurationIndex));
        Assert.Contains(new ConfigurationChanged(bootstrap, 0, Committed: true), follower.DrainEffects());
        follower.ElectionTimeoutElapsed();
        Assert.Equal(new[] { "n1", "n3" }, Sends(follower.DrainEffects()).Where(s => s.Message is RequestVote).Select(s => s.To).Order());
    }

    // Thesis §4.2.1: a new server comes in as a learner (it neither votes nor counts for majorities)
    // and is promoted once it has caught up: answering at once, n4 reaches the leader's last entry
    // within its first round (the minimum election timeout), so the leader appends the
    // configuration that makes it a voter; the request is answered when that one commits.
    [Fact]
    public void ALearnerThatCatchesUpWithinARound_IsPromoted()
    {
        var (network, nodes) = WithLeader(Config("n1 n2 n3"), joining: ["n4"]);
        for (var i = 0; i < 5; i++)
            ProposeAndReplicate(network, "n1", $"c{i}");

        Assert.Null(ChangeMembership(network, "n1", 1, MembershipChange.AddVoter("n4")));

        var configurations = AllEntries(nodes["n1"]).Where(e => e.Configuration is not null).Select(e => (e.Index, e.Configuration)).ToList();
        Assert.Equal([(7L, Config("n1 n2 n3", learners: "n4")), (8L, Config("n1 n2 n3 n4"))], configurations);
        Assert.Equal(new MembershipRequestDone(1, Config("n1 n2 n3 n4"), 8), DoneOf(network, "n1", 1));
        Assert.True(nodes["n4"].IsVoter);
        Assert.Equal(AllEntries(nodes["n1"]), AllEntries(nodes["n4"]));
        Assert.False(nodes["n1"].IsChangingMembership);
    }

    // Thesis §4.2.1: the leader aborts the change when the new server is unavailable. n2 never
    // answers (it is not in the network): after CatchUpTicks heartbeat ticks (3 here) of trying to
    // bring it up to date, the request is refused NotCaughtUp and n2 stays a learner; the next
    // change may start.
    [Fact]
    public void ALearnerThatNeverAnswers_IsRefusedNotCaughtUp_AfterCatchUpTicks()
    {
        var n1 = new RaftProtocol("n1", Config("n1"), HardState.Initial, Timeouts(), Heartbeat) { CatchUpTicks = 3 };
        var network = new ProtocolNetwork(n1);
        network.Do("n1", p => p.Start());
        Hup(network, n1);

        Assert.Null(ChangeMembership(network, "n1", 1, MembershipChange.AddVoter("n2")));
        Assert.Equal(Config("n1", learners: "n2"), n1.Configuration);

        for (var tick = 1; tick <= 3; tick++)
        {
            Beat(network, "n1");
            Assert.True(n1.IsChangingMembership);
        }

        Assert.DoesNotContain(network.EffectsOf("n1"), e => e is MembershipRequestRefused);
        Beat(network, "n1");

        var refused = Assert.Single(network.EffectsOf("n1").OfType<MembershipRequestRefused>());
        Assert.Equal((1L, MembershipRefusalReason.NotCaughtUp), (refused.RequestId, refused.Refusal.Reason));
        Assert.DoesNotContain(network.EffectsOf("n1"), e => e is MembershipRequestDone { RequestId: 1 });
        Assert.Equal(Config("n1", learners: "n2"), n1.Configuration);
        Assert.False(n1.IsChangingMembership);
        Assert.Null(ChangeMembership(network, "n1", 2, MembershipChange.Remove("n2")));
    }

    // Thesis §4.2.1: the learner catches up in rounds, each to the leader's last entry at its start;
    // a round that lasts less than the minimum election timeout (3 heartbeat ticks here) promotes
    // it, and after MaxCatchUpRounds rounds (2 here) too slow the change is refused NotCaughtUp. n2
    // holds entries 1-2 and takes 4 ticks to acknowledge them: round 1 ends too slow while a
    // command (entry 3) arrived, and round 2, to entry 3, begins. Acknowledged within 2 ticks, the
    // last round promotes n2; taking 4, it cannot end in time, and the change is refused once it
    // has overrun — the last round gets its whole window like the others.
    [Theory]
    [InlineData(2, true)]
    [InlineData(3, true)]
    [InlineData(4, false)]
    public void ASlowLearner_IsPromotedWhenARoundIsQuick_AndRefusedNotCaughtUpAfterMaxCatchUpRounds(int secondRoundTicks, bool promoted)
    {
        var leader = new RaftProtocol("n1", Config("n1"), HardState.Initial, Timeouts(), Heartbeat) { MaxCatchUpRounds = 2 };
        leader.Start();
        leader.ElectionTimeoutElapsed();
        leader.Persisted(leader.LastLog);
        Assert.Null(leader.ChangeMembership(1, MembershipChange.AddVoter("n2")));
        leader.Persisted(leader.LastLog); // the learner's entry (2) commits with n1 alone: round 1, to entry 2, begins

        leader.Propose(Command("c3"));
        leader.Persisted(leader.LastLog);
        Tick(leader, 4);
        leader.Step(new AppendEntriesResult(1, "n2", Success: true, MatchIndex: 2));
        Assert.Equal(Config("n1", learners: "n2"), leader.Configuration);
        Assert.DoesNotContain(leader.DrainEffects(), e => e is MembershipRequestRefused);

        leader.Propose(Command("c4"));
        leader.Persisted(leader.LastLog);
        Tick(leader, secondRoundTicks);
        leader.Step(new AppendEntriesResult(1, "n2", Success: true, MatchIndex: 3));
        var effects = leader.DrainEffects();

        if (promoted)
        {
            Assert.Equal(Config("n1 n2"), leader.Configuration);
            Assert.Equal(Config("n1 n2"), leader.Log[5].Configuration);
            Assert.DoesNotContain(effects, e => e is MembershipRequestRefused);
        }
        else
        {
            Assert.Equal(Config("n1", learners: "n2"), leader.Configuration);
            var refused = Assert.Single(effects.OfType<MembershipRequestRefused>());
            Assert.Equal((1L, MembershipRefusalReason.NotCaughtUp), (refused.RequestId, refused.Refusal.Reason));
            Assert.False(leader.IsChangingMembership);
        }
    }

    // Thesis §4.2.1: a joining server with no configuration (ClusterConfiguration.Empty) is a voter of
    // nothing: its timer running out starts no election, so it cannot disrupt the cluster before
    // it is added. Added, it learns the configuration from the leader's log; a learner, it still
    // never campaigns.
    [Fact]
    public void AJoiningNode_NeverCampaigns_AndLearnsTheConfigurationFromTheLeadersLog()
    {
        var (network, nodes) = WithLeader(Config("n1 n2 n3"), joining: ["n4"]);
        var n4 = nodes["n4"];

        for (var i = 0; i < 3; i++)
            Hup(network, n4);

        Assert.Equal((RaftRole.Follower, 0L), (n4.Role, n4.Term));
        Assert.Equal(ClusterConfiguration.Empty, n4.Configuration);
        Assert.DoesNotContain(network.EffectsOf("n4"), e => e is SendMessage or PersistHardState);

        Assert.Null(ChangeMembership(network, "n1", 1, MembershipChange.AddLearner("n4")));

        Assert.Equal(Config("n1 n2 n3", learners: "n4"), n4.Configuration);
        Assert.Equal(2, n4.ConfigurationIndex);
        Assert.Contains(network.EffectsOf("n4"), e => e is ConfigurationChanged { Index: 2 } changed && changed.Configuration.Equals(n4.Configuration));

        var (term, before) = (n4.Term, network.EffectsOf("n4").Count);
        Hup(network, n4);
        Assert.Equal((RaftRole.Follower, term), (n4.Role, n4.Term));
        Assert.DoesNotContain(network.EffectsOf("n4").Skip(before), e => e is SendMessage { Message: RequestVote });
    }

    // Thesis §4.2.3 / §4.1: a leader replicates to the servers a change removes until it commits,
    // so the removed n3 receives the configuration without itself and, a voter of nothing, never
    // campaigns (it would otherwise time out, and raise its term, for ever). Once the removal is
    // committed the leader sends n3 nothing more.
    [Fact]
    public void ARemovedFollower_LearnsItsRemoval_AndNeverCampaigns()
    {
        var (network, nodes) = WithLeader(Config("n1 n2 n3"));
        var n3 = nodes["n3"];

        Assert.Null(ChangeMembership(network, "n1", 1, MembershipChange.Remove("n3")));

        Assert.Equal(new MembershipRequestDone(1, Config("n1 n2"), 2), DoneOf(network, "n1", 1));
        Assert.Equal(Config("n1 n2"), n3.Configuration);
        Assert.False(n3.IsVoter);

        var sent = network.EffectsOf("n1").Count;
        Beat(network, "n1");
        Assert.DoesNotContain(network.EffectsOf("n1").Skip(sent), e => e is SendMessage { To: "n3" });

        var before = network.EffectsOf("n3").Count;
        for (var i = 0; i < 3; i++)
            Hup(network, n3);
        Assert.Equal((RaftRole.Follower, 1L), (n3.Role, n3.Term));
        Assert.DoesNotContain(network.EffectsOf("n3").Skip(before), e => e is SendMessage or PersistHardState);
        Assert.Equal((RaftRole.Leader, 1L), (nodes["n1"].Role, nodes["n1"].Term));
    }

    // Thesis §4.1: the configuration is in the log, so a restarted server finds it there — the
    // latest, committed or not — whatever it was started with: a founding member (bootstrap
    // {n1, n2, n3}) and the joined learner (bootstrap empty) both restart with learner n4 in.
    [Fact]
    public void TheConfigurationSurvivesARestart_FromTheLog()
    {
        var (network, nodes) = WithLeader(Config("n1 n2 n3"), joining: ["n4"]);
        Assert.Null(ChangeMembership(network, "n1", 1, MembershipChange.AddLearner("n4")));

        foreach (var (id, bootstrap) in new[] { ("n2", Config("n1 n2 n3")), ("n4", ClusterConfiguration.Empty) })
        {
            var restarted = NewNode(id, bootstrap, nodes[id].HardState, log: AllEntries(nodes[id]));

            Assert.Equal(Config("n1 n2 n3", learners: "n4"), restarted.Configuration);
            Assert.Equal(2, restarted.ConfigurationIndex);
        }
    }

    // §7 and thesis §4.1: a snapshot stands for the entries it covers, configuration included. The
    // learner n2, cut off while n1 added it and compacted its log, installs n1's snapshot, whose
    // InstallSnapshot carries the configuration at its index: n2 takes it (its own log had none).
    // Restarted from that snapshot (the constructor's snapshotConfiguration), a server uses it,
    // unless its log holds a later configuration.
    [Fact]
    public void TheConfigurationSurvivesASnapshot_InstalledAndAtRestart()
    {
        var n1 = NewNode("n1", Config("n1"));
        var n2 = NewNode("n2", ClusterConfiguration.Empty);
        var network = new ProtocolNetwork(n1, n2);
        network.Do("n1", p => p.Start());
        network.Do("n2", p => p.Start());
        Hup(network, n1);
        network.Isolate("n2");
        Assert.Null(ChangeMembership(network, "n1", 1, MembershipChange.AddLearner("n2")));
        ProposeAndReplicate(network, "n1");
        Assert.True(n1.SnapshotTaken(n1.LastLog));
        Assert.Equal(n1.LastLog, n1.Log.Base);

        network.Recover();
        Beat(network, "n1");

        var snapshot = new LogPosition(3, 1);
        Assert.Equal(snapshot, n2.Snapshot);
        Assert.Equal((Config("n1", learners: "n2"), 3L), (n2.Configuration, n2.ConfigurationIndex));

        var restarted = NewNode("n2", ClusterConfiguration.Empty, n2.HardState, snapshot: snapshot, snapshotConfiguration: n2.Configuration);
        Assert.Equal((Config("n1", learners: "n2"), 3L), (restarted.Configuration, restarted.ConfigurationIndex));

        var later = Config("n1 n2");
        var restartedWithLater = NewNode("n2", ClusterConfiguration.Empty, n2.HardState, log: [new LogEntry(4, 1, null, later)],
            snapshot: snapshot, snapshotConfiguration: n2.Configuration);
        Assert.Equal((later, 4L), (restartedWithLater.Configuration, restartedWithLater.ConfigurationIndex));
    }
}
