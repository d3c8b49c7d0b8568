using RaftActors.Core;
using RaftActors.Messages;

namespace RaftActors.Tests.Node;

/// <summary>
/// A node whose write to stable storage fails takes part in nothing more: it acknowledges no
/// entry and no vote, commits nothing, starts no election, sends no heartbeat, answers its clients
/// as a node that knows no leader, and reports the failure in its status and readiness — while it
/// keeps running to say so.
/// </summary>
public sealed class StorageFailureNodeTests : ReplicationNodeTestKit
{
    [Fact]
    public void A_leader_whose_write_fails_acknowledges_nothing_more_and_reports_why()
    {
        var events = CreateTestProbe();
        Sys.EventStream.Subscribe(events.Ref, typeof(RaftStateChanged));
        var storage = new GatedStorage();
        var (node, peers, noOps) = StartGatedLeader(storage);
        var client = CreateTestProbe();
        Acknowledge(node, "n2", noOps["n2"]); // n2 alone: the no-op is not committed, and n2 takes "a" at once
        node.Tell(Command("a"), client.Ref);
        var appendOfA = peers["n2"].FishForMessage<AppendEntries>(a => a.Entries.Count > 0, Bound);

        storage.FailNext(); // the leader's own write of its no-op

        AwaitCondition(() => Settle(node).StorageFailure is not null, Bound);
        Assert.IsType<CommandOutcomeUnknown>(client.ReceiveOne(Bound));
        events.FishForMessage<RaftStateChanged>(c => c is { Role: RaftRole.Follower, LeaderId: null, Previous.Role: RaftRole.Leader }, Bound);

        // Both followers hold everything: a working leader would commit and apply "a" now.
        foreach (var follower in new[] { "n2", "n3" })
        {
            Acknowledge(node, follower, noOps[follower]);
            Acknowledge(node, follower, appendOfA);
        }

        Advance(node, ElectionMax * 3); // heartbeats and elections would go out
        var status = Settle(node);
        Assert.Equal((RaftRole.Follower, (string?)null, 0L, 0L), (status.Role, status.LeaderId, status.CommitIndex, status.LastApplied));
        Assert.Equal("disk failed", status.StorageFailure);
        Assert.False(client.HasMessages);
        AssertSilent(peers.Values.ToArray());
        Assert.Equal(0, storage.PendingCount);

        // New clients are pointed nowhere, so they go to another member.
        node.Tell(Command("b"), client.Ref);
        node.Tell(new ClientQuery("read"), client.Ref);
        Assert.Equal(new NotLeader(null, null), client.ExpectMsg<NotLeader>(Bound));
        Assert.Equal(new NotLeader(null, null), client.ExpectMsg<NotLeader>(Bound));

        var readiness = RaftReadiness.Of(status);
        Assert.False(readiness.IsReady);
        Assert.StartsWith("stable storage failed: disk failed", readiness.Reason);
    }

    [Fact]
    public void A_follower_whose_write_fails_acknowledges_neither_the_entries_nor_any_vote()
    {
        var storage = new GatedStorage();
        var (node, peers) = StartNode(storage);
        node.Tell(new AppendEntries(1, "n2", 0, 0, [new LogEntry(1, 1, EntryOf("x"))], LeaderCommit: 0, Sequence: 1), peers["n2"].Ref);
        Settle(node);

        storage.FailNext();

        AwaitCondition(() => Settle(node).StorageFailure is not null, Bound);
        node.Tell(new AppendEntries(1, "n2", 0, 0, [new LogEntry(1, 1, EntryOf("x"))], LeaderCommit: 1, Sequence: 2), peers["n2"].Ref);
        node.Tell(new RequestVote(2, "n3", 1, 1), peers["n3"].Ref);
        TimeOutElection(node);
        TimeOutElection(node);
        AssertSilent(peers.Values.ToArray());
        Assert.Equal(0, storage.PendingCount);
        Assert.Equal((RaftRole.Follower, 1L, (string?)null), (Settle(node).Role, Settle(node).Term, Settle(node).LeaderId));
    }
}
