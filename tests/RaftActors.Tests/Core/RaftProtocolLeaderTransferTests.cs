using RaftActors.Core;
using RaftActors.Messages;
using static RaftActors.Tests.Core.ProtocolTestKit;

namespace RaftActors.Tests.Core;

/// <summary>
/// Leadership transfer (Raft thesis §3.10), ported by name from etcd-io/raft's raft_test.go, then
/// rules of our own. The leader brings the target up to date, sends it TimeoutNow once the
/// target's log matches its own, and refuses new commands meanwhile; the target campaigns at once,
/// and voters that still believe in the leader answer it. A transfer that has not succeeded
/// within an election timeout is abandoned. etcd's MsgTransferLeader is
/// <see cref="RaftProtocol.TransferLeadership"/> here, asked of the leader (a follower's host
/// redirects the request to the leader), answered by effects; and where etcd lets a second request
/// redirect a transfer, or a membership change remove its target, ours refuses them.
/// </summary>
public class RaftProtocolLeaderTransferTests
{
    /// <summary>Heartbeat ticks in the maximum election timeout: 300 ms / 50 ms, the time a transfer has.</summary>
    private const int TransferTicks = 6;

    private static (ProtocolNetwork Network, Dictionary<string, RaftProtocol> Nodes) ThreeNodesLedByN1(bool checkQuorum = false)
    {
        var (network, nodes) = NewCluster(Config("n1 n2 n3"), checkQuorum: checkQuorum);
        Hup(network, nodes["n1"]);
        Assert.Equal(RaftRole.Leader, nodes["n1"].Role);
        return (network, nodes);
    }

    /// <summary>etcd's <c>checkLeaderTransferState</c>: the node's role, the leader it knows, and no transfer under way.</summary>
    private static void CheckLeaderTransferState(RaftProtocol node, RaftRole role, string leader)
    {
        Assert.Equal(role, node.Role);
        Assert.Equal(leader, node.LeaderId);
        Assert.Null(node.TransferTarget);
    }

    private static LeadershipTransferDone TransferDone(ProtocolNetwork network, string id) =>
        Assert.Single(network.EffectsOf(id).OfType<LeadershipTransferDone>());

    private static MembershipRequestRefused[] Refused(ProtocolNetwork network, string id) =>
        network.EffectsOf(id).OfType<MembershipRequestRefused>().ToArray();

    // etcd TestLeaderTransferToUpToDateNode: n2 holds n1's whole log, so n1 sends it TimeoutNow at
    // once; n2 wins term 2 and n1, hearing of it, reports the transfer done. After a command, the
    // leadership goes back to n1 the same way.
    [Fact]
    public void LeaderTransferToUpToDateNode()
    {
        var (network, nodes) = ThreeNodesLedByN1();
        var lead = nodes["n1"];
        Assert.Equal("n1", lead.LeaderId);

        Assert.Null(TransferLeadership(network, "n1", 1, "n2"));

        CheckLeaderTransferState(lead, RaftRole.Follower, "n2");
        var done = TransferDone(network, "n1");
        Assert.Equal(new long[] { 1 }, done.RequestIds);
        Assert.Equal(("n2", 2L), (done.LeaderId, done.Term));

        Assert.NotNull(ProposeAndReplicate(network, "n2"));
        Assert.Null(TransferLeadership(network, "n2", 2, "n1"));

        CheckLeaderTransferState(lead, RaftRole.Leader, "n1");
        Assert.Equal(3, lead.Term);
    }

    // etcd TestLeaderTransferToUpToDateNodeFromFollower sends the request to a follower, which
    // forwards it to the leader. Our protocol takes it only as the leader (RaftNode redirects a
    // follower's request there): a follower refuses it, NotLeader, and nothing changes.
    [Fact]
    public void LeaderTransferToUpToDateNodeFromFollower()
    {
        var (network, nodes) = ThreeNodesLedByN1();

        Assert.Equal(MembershipRefusalReason.NotLeader, TransferLeadership(network, "n2", 1, "n2")?.Reason);

        CheckLeaderTransferState(nodes["n1"], RaftRole.Leader, "n1");
        CheckLeaderTransferState(nodes["n2"], RaftRole.Follower, "n1");
    }

    // etcd TestLeaderTransferWithCheckQuorum: with CheckQuorum, voters that heard from their leader
    // within the minimum election timeout ignore RequestVote of a higher term — but not the
    // target's, which says it comes from a transfer (RequestVote.Transfer): the transfer succeeds
    // while n3, and n1 itself, still believe in n1, and back again while they believe in n2.
    [Fact]
    public void LeaderTransferWithCheckQuorum()
    {
        var (network, nodes) = ThreeNodesLedByN1(checkQuorum: true);
        var lead = nodes["n1"];
        Assert.True(nodes["n3"].LeaderIsAlive);

        Assert.Null(TransferLeadership(network, "n1", 1, "n2"));

        CheckLeaderTransferState(lead, RaftRole.Follower, "n2");

        Assert.NotNull(ProposeAndReplicate(network, "n2"));
        Assert.True(nodes["n3"].LeaderIsAlive);
        Assert.Null(TransferLeadership(network, "n2", 2, "n1"));

        CheckLeaderTransferState(lead, RaftRole.Leader, "n1");
    }

    // etcd TestLeaderTransferToSlowFollower: n3 missed a command (entry 2). The transfer brings it
    // up to date first, then sends TimeoutNow. (The entries n1 sent n3 were lost, and n1 believes
    // them in flight, so as in any replication a heartbeat finds the gap; etcd probes at once.)
    [Fact]
    public void LeaderTransferToSlowFollower()
    {
        var (network, nodes) = ThreeNodesLedByN1();
        network.Isolate("n3");
        ProposeAndReplicate(network, "n1");
        network.Recover();
        var lead = nodes["n1"];
        Assert.Equal(1, nodes["n3"].LastLog.Index);

        Assert.Null(TransferLeadership(network, "n1", 1, "n3"));
        Assert.Equal("n3", lead.TransferTarget);
        Assert.DoesNotContain(network.EffectsOf("n1"), e => e is SendMessage { Message: TimeoutNow });
        Beat(network, "n1");

        CheckLeaderTransferState(lead, RaftRole.Follower, "n3");
        Assert.Equal(RaftRole.Leader, nodes["n3"].Role);
        Assert.Equal(lead.LastLog.Index, nodes["n3"].CommitIndex);
    }

    // etcd TestLeaderTransferAfterSnapshot: n3 missed entry 2, which n1 then compacted into a
    // snapshot; the transfer brings n3 up to date with the snapshot. While n3's answer that it
    // installed it is held back, n1 leads on, transferring; once it arrives, n3's log matches n1's
    // and n1 sends TimeoutNow.
    [Fact]
    public void LeaderTransferAfterSnapshot()
    {
        var (network, nodes) = ThreeNodesLedByN1();
        var lead = nodes["n1"];
        network.Isolate("n3");
        ProposeAndReplicate(network, "n1");
        Assert.True(lead.SnapshotTaken(new LogPosition(2, 1)));
        Assert.True(lead.Log.IsCompacted(1));
        network.Recover();
        Assert.Equal(1, nodes["n3"].LastLog.Index);

        InstallSnapshotResult? filtered = null;
        network.Drop = (_, message) =>
        {
            if (message is not InstallSnapshotResult { Done: true, FollowerId: "n3" } installed)
                return false;
            filtered = installed;
            return true;
        };
        Assert.Null(TransferLeadership(network, "n1", 1, "n3"));
        Beat(network, "n1"); // (as for the slow follower: n1 believes entry 2 in flight to n3)

        Assert.Equal(RaftRole.Leader, lead.Role);
        Assert.Equal("n3", lead.TransferTarget);
        Assert.NotNull(filtered);
        Assert.Equal(new LogPosition(2, 1), nodes["n3"].Snapshot);

        network.Drop = null;
        network.Send("n1", filtered!);
        network.RunUntilQuiet();

        CheckLeaderTransferState(lead, RaftRole.Follower, "n3");
    }

    // etcd TestLeaderTransferToSelf: a transfer to the leader itself does nothing; ours answers it
    // done at once (the leader is the one asked for).
    [Fact]
    public void LeaderTransferToSelf()
    {
        var (network, nodes) = ThreeNodesLedByN1();

        Assert.Null(TransferLeadership(network, "n1", 1, "n1"));

        CheckLeaderTransferState(nodes["n1"], RaftRole.Leader, "n1");
        var done = TransferDone(network, "n1");
        Assert.Equal(new long[] { 1 }, done.RequestIds);
        Assert.Equal(("n1", 1L), (done.LeaderId, done.Term));
    }

    // etcd TestLeaderTransferToNonExistingNode: a transfer to a server that is not a member does
    // nothing (etcd ignores it); ours refuses it NotAVoter — and one to a learner too, which
    // could not campaign.
    [Theory]
    [InlineData("n5")]
    [InlineData("n4")]
    public void LeaderTransferToNonExistingNode(string target)
    {
        var (network, nodes) = NewCluster(Config("n1 n2 n3", learners: "n4"));
        Hup(network, nodes["n1"]);

        Assert.Equal(MembershipRefusalReason.NotAVoter, TransferLeadership(network, "n1", 1, target)?.Reason);

        CheckLeaderTransferState(nodes["n1"], RaftRole.Leader, "n1");
        Assert.DoesNotContain(network.EffectsOf("n1"), e => e is SendMessage { Message: TimeoutNow });
    }

    // etcd TestLeaderTransferTimeout: the target n3 is cut off. The transfer waits through a
    // heartbeat and on; it is abandoned (refused TransferTimedOut, and n1 takes commands again)
    // once a whole maximum election timeout has surely passed: the request came between two
    // ticks, so that is at the seventh tick of 50 ms after it (etcd, counting ticks from the
    // request, abandons at its tenth of ten).
    [Fact]
    public void LeaderTransferTimeout()
    {
        var (network, nodes) = ThreeNodesLedByN1();
        network.Isolate("n3");
        var lead = nodes["n1"];

        Assert.Null(TransferLeadership(network, "n1", 1, "n3"));
        Assert.Equal("n3", lead.TransferTarget);

        Beat(network, "n1");
        Assert.Equal("n3", lead.TransferTarget);

        for (var tick = 2; tick <= TransferTicks; tick++)
            Beat(network, "n1");
        Assert.Equal("n3", lead.TransferTarget);
        Assert.Empty(Refused(network, "n1"));

        Beat(network, "n1");

        CheckLeaderTransferState(lead, RaftRole.Leader, "n1");
        var refused = Assert.Single(Refused(network, "n1"));
        Assert.Equal((1L, MembershipRefusalReason.TransferTimedOut), (refused.RequestId, refused.Refusal.Reason));
        Assert.NotNull(ProposeAndReplicate(network, "n1"));
    }

    // etcd TestLeaderTransferIgnoreProposal: while a transfer is pending, the leader takes no new
    // command (thesis §3.10: they would only delay the transfer): Propose returns null, and its log
    // does not grow.
    [Fact]
    public void LeaderTransferIgnoreProposal()
    {
        var (network, nodes) = ThreeNodesLedByN1();
        network.Isolate("n3");
        var lead = nodes["n1"];

        Assert.Null(TransferLeadership(network, "n1", 1, "n3"));
        Assert.Equal("n3", lead.TransferTarget);

        Assert.Null(ProposeAndReplicate(network, "n1"));
        Assert.Null(lead.Propose(Command("somedata")));

        Assert.Equal(1, lead.LastLog.Index);
    }

    // etcd TestLeaderTransferReceiveHigherTermVote: while n1 transfers to the cut-off n3, n2
    // campaigns in term 2 and wins: n1 steps down, the transfer is over, and n1 follows n2. (Ours
    // then reports the transfer done, with the leader it heard of: n2 of term 2.)
    [Fact]
    public void LeaderTransferReceiveHigherTermVote()
    {
        var (network, nodes) = ThreeNodesLedByN1();
        network.Isolate("n3");
        var lead = nodes["n1"];
        Assert.Null(TransferLeadership(network, "n1", 1, "n3"));
        Assert.Equal("n3", lead.TransferTarget);

        Hup(network, nodes["n2"]);

        CheckLeaderTransferState(lead, RaftRole.Follower, "n2");
        var done = TransferDone(network, "n1");
        Assert.Equal(("n2", 2L), (done.LeaderId, done.Term));
    }

    // etcd TestLeaderTransferRemoveNode removes the target while the transfer is pending, which
    // calls the transfer off. Ours takes no membership change during a transfer (it would change
    // who may take over): removing n3 is refused TransferInProgress and the transfer goes on; once
    // it is abandoned (n3 never receives TimeoutNow), the removal is accepted.
    [Fact]
    public void LeaderTransferRemoveNode()
    {
        var (network, nodes) = ThreeNodesLedByN1();
        network.Drop = (_, message) => message is TimeoutNow;
        var lead = nodes["n1"];

        Assert.Null(TransferLeadership(network, "n1", 1, "n3"));
        Assert.Equal("n3", lead.TransferTarget);

        Assert.Equal(MembershipRefusalReason.TransferInProgress, ChangeMembership(network, "n1", 2, MembershipChange.Remove("n3"))?.Reason);
        Assert.Equal("n3", lead.TransferTarget);
        Assert.Equal(Config("n1 n2 n3"), lead.Configuration);

        for (var tick = 0; tick <= TransferTicks; tick++)
            Beat(network, "n1");
        CheckLeaderTransferState(lead, RaftRole.Leader, "n1");

        Assert.Null(ChangeMembership(network, "n1", 3, MembershipChange.Remove("n3")));
        Assert.Equal(Config("n1 n2"), lead.Configuration);
    }

    // etcd TestLeaderTransferBack: a transfer to the leader itself while one to n3 is pending calls
    // that one off: n1 leads on and takes commands; the pending request is refused
    // TransferCancelled, the new one done.
    [Fact]
    public void LeaderTransferBack()
    {
        var (network, nodes) = ThreeNodesLedByN1();
        network.Isolate("n3");
        var lead = nodes["n1"];
        Assert.Null(TransferLeadership(network, "n1", 1, "n3"));
        Assert.Equal("n3", lead.TransferTarget);

        Assert.Null(TransferLeadership(network, "n1", 2, "n1"));

        CheckLeaderTransferState(lead, RaftRole.Leader, "n1");
        var refused = Assert.Single(Refused(network, "n1"));
        Assert.Equal((1L, MembershipRefusalReason.TransferCancelled), (refused.RequestId, refused.Refusal.Reason));
        Assert.Equal(new long[] { 2 }, TransferDone(network, "n1").RequestIds);
        Assert.NotNull(ProposeAndReplicate(network, "n1"));
    }

    // etcd TestLeaderTransferSecondTransferToAnotherNode redirects a pending transfer to n2. Ours
    // refuses a second transfer to another target while one runs (TransferInProgress): the
    // first goes on, to n3.
    [Fact]
    public void LeaderTransferSecondTransferToAnotherNode()
    {
        var (network, nodes) = ThreeNodesLedByN1();
        network.Isolate("n3");
        var lead = nodes["n1"];
        Assert.Null(TransferLeadership(network, "n1", 1, "n3"));

        Assert.Equal(MembershipRefusalReason.TransferInProgress, TransferLeadership(network, "n1", 2, "n2")?.Reason);

        Assert.Equal((RaftRole.Leader, "n3"), (lead.Role, lead.TransferTarget));
        Assert.Equal(RaftRole.Follower, nodes["n2"].Role);
    }

    // etcd TestLeaderTransferSecondTransferToSameNode: a second request for the pending target
    // joins the first and does not extend its time: both are refused TransferTimedOut at the tick
    // the first alone would have been (see LeaderTransferTimeout).
    [Fact]
    public void LeaderTransferSecondTransferToSameNode()
    {
        var (network, nodes) = ThreeNodesLedByN1();
        network.Isolate("n3");
        var lead = nodes["n1"];
        Assert.Null(TransferLeadership(network, "n1", 1, "n3"));

        Beat(network, "n1");
        Assert.Null(TransferLeadership(network, "n1", 2, "n3"));

        for (var tick = 2; tick <= TransferTicks; tick++)
            Beat(network, "n1");
        Assert.Equal("n3", lead.TransferTarget);
        Beat(network, "n1");

        CheckLeaderTransferState(lead, RaftRole.Leader, "n1");
        var refused = Refused(network, "n1");
        Assert.Equal(new long[] { 1, 2 }, refused.Select(r => r.RequestId));
        Assert.All(refused, r => Assert.Equal(MembershipRefusalReason.TransferTimedOut, r.Refusal.Reason));
    }

    // Ours (thesis §3.10, "the most up-to-date server"): a transfer that names no target goes to
    // the voter whose log matches the leader's furthest — n3 here, n2 having missed entry 2 —
    // whatever the order of ids.
    [Fact]
    public void ATransferWithNoTarget_GoesToTheMostUpToDateVoter()
    {
        var (network, nodes) = ThreeNodesLedByN1();
        network.Isolate("n2");
        ProposeAndReplicate(network, "n1");
        network.Recover();

        Assert.Null(TransferLeadership(network, "n1", 1, target: null));

        CheckLeaderTransferState(nodes["n1"], RaftRole.Follower, "n3");
        Assert.Equal(RaftRole.Leader, nodes["n3"].Role);
    }

    // etcd TestLearnerCampaign: a learner does not campaign when its timer runs out, nor when it
    // receives TimeoutNow (a transfer can be decided before its target became a learner).
    [Fact]
    public void LearnerCampaign()
    {
        var (network, nodes) = NewCluster(Config("n1", learners: "n2"));
        var n2 = nodes["n2"];

        Hup(network, n2);
        Assert.False(n2.IsVoter);
        Assert.Equal((RaftRole.Follower, 0L), (n2.Role, n2.Term));

        Hup(network, nodes["n1"]);
        Assert.Equal((RaftRole.Leader, "n1"), (nodes["n1"].Role, nodes["n1"].LeaderId));

        network.Send("n2", new TimeoutNow(nodes["n1"].Term, "n1"));
        network.RunUntilQuiet();

        Assert.Equal((RaftRole.Follower, 1L), (n2.Role, n2.Term));
        Assert.Equal(RaftRole.Leader, nodes["n1"].Role);
    }

    // etcd TestTransferNonMember: TimeoutNow reaching a server that is not a voter of its
    // configuration (removed) starts nothing, and votes it receives make it no candidate.
    [Fact]
    public void TransferNonMember()
    {
        var node = NewNode("n1", Config("n2 n3 n4"));
        node.Start();

        node.Step(new TimeoutNow(0, "n2"));
        node.Step(new RequestVoteResult(0, "n2", VoteGranted: true));
        node.Step(new RequestVoteResult(0, "n3", VoteGranted: true));

        Assert.Equal((RaftRole.Follower, 0L), (node.Role, node.Term));
        Assert.DoesNotContain(node.DrainEffects(), e => e is SendMessage or PersistHardState);
    }
}
