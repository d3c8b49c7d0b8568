using Akka.Actor;
using Akka.TestKit;
using RaftActors.Configuration;
using RaftActors.Core;
using RaftActors.Messages;
using RaftActors.Node;
using RaftActors.Storage;

namespace RaftActors.Tests.Node;

/// <summary>
/// Membership changes and leadership transfer as a RaftNode's clients and peers see them, in
/// virtual time: the requests and their answers, what goes to the peers (configurations in
/// AppendEntries, TimeoutNow), the events on the EventStream, and a node started to join.
/// </summary>
public sealed class MembershipNodeTests : ReplicationNodeTestKit
{
    /// <summary>n1 leads term 1 with its no-op committed (n2 acknowledged it); n2 and n3 are probes.</summary>
    private (TestFSMRef<RaftNode, RaftRole, RaftStatus> Node, Dictionary<string, TestProbe> Peers) CommittedLeader()
    {
        var (node, peers) = StartLeader(new InMemoryRaftStorage());
        node.Tell(new AppendEntriesResult(1, "n2", true, MatchIndex: 1, Sequence: 1));
        AwaitCondition(() => Settle(node).CommitIndex == 1, Bound);
        return (node, peers);
    }

    private static CurrentConfiguration ConfigurationOf(IActorRef node) =>
        node.Ask<CurrentConfiguration>(GetClusterConfiguration.Instance, Bound).Result;

    /// <summary>
    /// A follower on a probe: it answers every AppendEntries the node sends it as a follower with
    /// the log <paramref name="log"/> would (a refusal when it lacks the previous entry), until
    /// <paramref name="until"/> holds.
    /// </summary>
    private void Follow(IActorRef node, TestProbe probe, string id, List<LogEntry> log, Func<bool> until)
    {
        var deadline = DateTime.UtcNow + Bound;
        while (!until())
        {
            Assert.True(DateTime.UtcNow < deadline, $"{id} did not get what it waited for");
            var message = probe.ReceiveOne(TimeSpan.FromMilliseconds(200));
            if (message is not AppendEntries append)
                continue;
            if (append.PrevLogIndex > log.Count)
            {
                node.Tell(new AppendEntriesResult(append.Term, id, false, ConflictIndex: log.Count + 1, Sequence: append.Sequence));
                continue;
            }

            log.RemoveRange((int)append.PrevLogIndex, log.Count - (int)append.PrevLogIndex);
            log.AddRange(append.Entries);
            node.Tell(new AppendEntriesResult(append.Term, id, true, MatchIndex: log.Count, Sequence: append.Sequence));
        }
    }

    // Thesis §4.1 and §4.2.1: a voter is added as a learner first (a configuration appended and sent
    // to the followers, in force at once), brought up to date, then promoted by a second
    // configuration; the client hears once the last one is committed. Both changes are published.
    [Fact]
    public void Adding_a_voter_goes_through_a_learner_stage_and_is_answered_once_the_voter_configuration_commits()
    {
        var (node, peers) = CommittedLeader();
        var n4 = CreateTestProbe("n4");
        var client = CreateTestProbe();
        var events = CreateTestProbe();
        Sys.EventStream.Subscribe(events.Ref, typeof(RaftConfigurationChanged));

        node.Tell(new AddMember("n4", n4.Ref.Path.ToString()), client.Ref);

        var learnerAdded = events.ExpectMsg<RaftConfigurationChanged>(Bound);
        Assert.Equal((false, true, false), (learnerAdded.Committed, learnerAdded.Configuration.IsMember("n4"), learnerAdded.Configuration.IsVoter("n4")));
        Assert.Equal(2, learnerAdded.Index);
        Assert.Equal(n4.Ref.Path.ToString(), learnerAdded.Configuration.Find("n4")!.Address);

        var n2Log = new List<LogEntry>();
        var n4Log = new List<LogEntry>();
        Follow(node, peers["n2"], "n2", n2Log, () => n2Log.Count >= 2);
        Assert.Equal(learnerAdded.Configuration, n2Log[1].Configuration);
        Assert.True(events.ExpectMsg<RaftConfigurationChanged>(Bound).Committed);

        // n4 starts empty: it refuses, is sent the log from the start, catches up and is promoted.
        Follow(node, n4, "n4", n4Log, () => n4Log.Count >= 2);
        var promoted = events.ExpectMsg<RaftConfigurationChanged>(Bound);
        Assert.True(promoted.Configuration.IsVoter("n4"));
        Assert.Equal(3, promoted.Index);
        client.ExpectNoMsg(TimeSpan.FromMilliseconds(100)); // not committed: n1 alone is not a majority of four voters

        Follow(node, peers["n2"], "n2", n2Log, () => n2Log.Count >= 3);
        client.ExpectNoMsg(TimeSpan.FromMilliseconds(100)); // n1 and n2 are two of four voters
        Follow(node, n4, "n4", n4Log, () => n4Log.Count >= 3);
        var done = client.ExpectMsg<MembershipChanged>(Bound);
        Assert.Equal(3, done.Index);
        Assert.Equal(["n1", "n2", "n3", "n4"], done.Configuration.Voters);
        Assert.True(Settle(node).IsVoter);
    }

    // One change at a time (thesis §4.1): a second request while the first is not committed is
    // refused, certainly not applied; so is a member added twice or an unknown one removed.
    [Fact]
    public void A_second_change_while_one_is_pending_and_ill_fitting_changes_are_refused_with_their_reason()
    {
        var (node, _) = CommittedLeader();
        var client = CreateTestProbe();

        node.Tell(new AddMember("n4", "akka.tcp://raft@127.0.0.1:4054", Promote: false), client.Ref);
        node.Tell(new RemoveMember("n3"), client.Ref);
        node.Tell(new RemoveMember("n9"), client.Ref);
        node.Tell(new AddMember("n2", "akka.tcp://raft@127.0.0.1:4052"), client.Ref);
        node.Tell(new AddMember("n5", "not an address"), client.Ref);

        Assert.Equal(MembershipRefusalReason.ChangeInProgress, client.ExpectMsg<MembershipRefused>(Bound).Reason);
        Assert.Equal(MembershipRefusalReason.ChangeInProgress, client.ExpectMsg<MembershipRefused>(Bound).Reason);
        Assert.Equal(MembershipRefusalReason.ChangeInProgress, client.ExpectMsg<MembershipRefused>(Bound).Reason);
        Assert.Contains("not an Akka address", client.ExpectMsg<RequestRejected>(Bound).Reason);
        var configuration = ConfigurationOf(node);
        Assert.Equal((2L, false), (configuration.Index, configuration.Committed));
        Assert.Equal("akka.tcp://raft@127.0.0.1:4054/user/raft", configuration.Configuration.Find("n4")!.Address);
    }

    // Promoting a learner needs no address: the configuration already places it.
    [Fact]
    public void Promoting_a_learner_needs_no_address_again()
    {
        var (node, _) = CommittedLeader();
        var client = CreateTestProbe();
        node.Tell(new AddMember("n4", "akka.tcp://raft@127.0.0.1:4054", Promote: false), client.Ref);

        node.Tell(new AddMember("n4", null), client.Ref);

        // Past the address check: refused only because the learner's addition is not committed yet.
        Assert.Equal(MembershipRefusalReason.ChangeInProgress, client.ExpectMsg<MembershipRefused>(Bound).Reason);
        node.Tell(new AddMember("n5", null), client.Ref);
        Assert.Contains("needs the Akka address", client.ExpectMsg<RequestRejected>(Bound).Reason);
    }

    // A follower is not the leader: it points membership requests to the leader, like commands.
    [Fact]
    public void A_follower_points_membership_requests_and_transfers_to_the_leader()
    {
        var (node, peers) = StartNode(new InMemoryRaftStorage());
        node.Tell(new AppendEntries(1, "n2", 0, 0, [], 0));
        var client = CreateTestProbe();

        node.Tell(new AddMember("n4", "akka.tcp://raft@127.0.0.1:4054"), client.Ref);
        node.Tell(new TransferLeadership("n1"), client.Ref);

        Assert.Equal(new NotLeader("n2", peers["n2"].Ref.Path), client.ExpectMsg<NotLeader>(Bound));
        Assert.Equal(new NotLeader("n2", peers["n2"].Ref.Path), client.ExpectMsg<NotLeader>(Bound));
    }

    // Thesis §3.10: the leader sends TimeoutNow once the target holds its whole log, refuses new
    // commands meanwhile (pointing at the target), steps down when the target's election reaches
    // it, and answers the transfer once it hears from the new leader.
    [Fact]
    public void A_transfer_sends_TimeoutNow_to_the_caught_up_target_refuses_commands_meanwhile_and_is_answered_by_the_new_leader()
    {
        var (node, peers) = CommittedLeader();
        var client = CreateTestProbe();
        peers["n2"].ReceiveWhile(TimeSpan.FromMilliseconds(50), m => m);

        node.Tell(new TransferLeadership("n2"), client.Ref);

        var timeoutNow = peers["n2"].FishForMessage<TimeoutNow>(_ => true, Bound);
        Assert.Equal(new TimeoutNow(1, "n1"), timeoutNow);
        node.Tell(Command("during the transfer"), client.Ref);
        Assert.Equal(new NotLeader("n2", peers["n2"].Ref.Path), client.ExpectMsg<NotLeader>(Bound));

        node.Tell(new RequestVote(2, "n2", 1, 1, Transfer: true));
        Assert.True(peers["n2"].FishForMessage<RequestVoteResult>(_ => true, Bound).VoteGranted);
        Assert.Equal(RaftRole.Follower, Settle(node).Role);
        node.Tell(new AppendEntries(2, "n2", 1, 1, [], 1));

        Assert.Equal(new LeadershipTransferred("n2", 2), client.ExpectMsg<LeadershipTransferred>(Bound));
    }

    // Thesis §3.10: a transfer that does not finish within an election timeout is abandoned; the
    // old leader leads on and takes commands again.
    [Fact]
    public void A_transfer_to_a_target_that_never_catches_up_is_abandoned_after_an_election_timeout()
    {
        var (node, _) = CommittedLeader();
        var client = CreateTestProbe();

        node.Tell(new TransferLeadership("n3"), client.Ref);
        for (var elapsed = TimeSpan.Zero; elapsed <= ElectionMax + Heartbeat; elapsed += Heartbeat)
            Advance(node, Heartbeat);

        Assert.Equal(MembershipRefusalReason.TransferTimedOut, client.ExpectMsg<MembershipRefused>(Bound).Reason);
        Assert.Equal(RaftRole.Leader, Settle(node).Role);
        node.Tell(Command("after the transfer"), client.Ref);
        client.ExpectNoMsg(TimeSpan.FromMilliseconds(100)); // appended and waiting for its commit, not refused
        Assert.Equal(2, Settle(node).LastLogIndex);
    }

    // Thesis §4.2.2: a leader that removes itself keeps leading until the change commits, answers,
    // then hands over to its most up-to-date voter and steps down, never to campaign again.
    [Fact]
    public void A_leader_that_removes_itself_answers_once_committed_hands_over_and_steps_down_for_good()
    {
        var (node, peers) = CommittedLeader();
        var client = CreateTestProbe();

        node.Tell(new RemoveMember("n1"), client.Ref);
        var n2Log = new List<LogEntry>();
        Follow(node, peers["n2"], "n2", n2Log, () => n2Log.Count >= 2);
        Assert.False(n2Log[1].Configuration!.IsMember("n1"));
        Assert.Equal(RaftRole.Leader, Settle(node).Role); // its own vote no longer counts: n2 and n3 are the voters
        node.Tell(new AppendEntriesResult(1, "n3", true, MatchIndex: 2, Sequence: 99));

        Assert.Equal(["n2", "n3"], client.ExpectMsg<MembershipChanged>(Bound).Configuration.Voters);
        Assert.Equal(new TimeoutNow(1, "n1"), peers["n2"].FishForMessage<TimeoutNow>(_ => true, Bound));
        var status = Settle(node);
        Assert.Equal((RaftRole.Follower, false), (status.Role, status.IsVoter));

        TimeOutElection(node);
        TimeOutElection(node);
        Assert.Equal(RaftRole.Follower, Settle(node).Role);
        peers["n3"].FishForMessage<AppendEntries>(_ => true, TimeSpan.FromMilliseconds(100)); // what was in flight
        Assert.DoesNotContain(peers["n3"].ReceiveWhile(TimeSpan.FromMilliseconds(100), m => m), m => m is RequestVote);
    }

    // A server started with raft.join = on has no configuration: it never campaigns, and answers
    // a leader it has not heard of where its message came from; the leader's log tells it the
    // configuration, in which it becomes a voter.
    [Fact]
    public void A_joining_node_never_campaigns_and_learns_the_configuration_from_the_leader()
    {
        var membership = new RaftMembership("n4", []) { Join = true };
        var node = ActorOfAsTestFSMRef<RaftNode, RaftRole, RaftStatus>(RaftNode.Props(membership, Settings(), new InMemoryRaftStorage()), "n4");
        TimeOutElection(node);
        TimeOutElection(node);
        var status = Settle(node);
        Assert.Equal((RaftRole.Follower, 0L, false), (status.Role, status.Term, status.IsVoter));

        var leader = CreateTestProbe("leader");
        var withN4 = new ClusterConfiguration([
            new ClusterMember("n1", leader.Ref.Path.ToString(), true),
            new ClusterMember("n4", null, false),
        ]);
        node.Tell(new AppendEntries(1, "n1", 0, 0, [new LogEntry(1, 1, null), new LogEntry(2, 1, null, withN4)], 2, 1), leader.Ref);
        Assert.Equal(new AppendEntriesResult(1, "n4", true, MatchIndex: 2, Sequence: 1), leader.ExpectMsg<AppendEntriesResult>(Bound));
        Assert.False(Settle(node).IsVoter);

        var promoted = withN4.With(new ClusterMember("n4", null, true));
        node.Tell(new AppendEntries(1, "n1", 2, 1, [new LogEntry(3, 1, null, promoted)], 3, 2), leader.Ref);
        leader.ExpectMsg<AppendEntriesResult>(Bound);
        Assert.True(Settle(node).IsVoter);
        var configuration = ConfigurationOf(node);
        Assert.Equal(new CurrentConfiguration("n4", "n1", promoted, 3, true), configuration);
    }

    // A planned stop: when the ActorSystem shuts down, a leader hands its leadership to its most
    // up-to-date voter before it stops, so the cluster does not wait out an election timeout.
    [Fact]
    public void A_leader_hands_over_to_its_up_to_date_voter_when_its_ActorSystem_shuts_down()
    {
        var (node, peers) = StartLeader(new InMemoryRaftStorage(), settings: new RaftSettings(ElectionMin, ElectionMax, Heartbeat, 1, preVote: false, checkQuorum: false)
        {
            TransferLeadershipOnShutdown = TimeSpan.FromSeconds(1),
        });
        node.Tell(new AppendEntriesResult(1, "n2", true, MatchIndex: 1, Sequence: 1));
        AwaitCondition(() => Settle(node).CommitIndex == 1, Bound);

        _ = CoordinatedShutdown.Get(Sys).Run(CoordinatedShutdown.ClrExitReason.Instance);

        Assert.Equal(new TimeoutNow(1, "n1"), peers["n2"].FishForMessage<TimeoutNow>(_ => true, Bound));
    }
}
