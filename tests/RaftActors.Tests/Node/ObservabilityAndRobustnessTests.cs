using Akka.Actor;
using RaftActors.Core;
using RaftActors.Messages;
using RaftActors.Storage;

namespace RaftActors.Tests.Node;

/// <summary>Role, term and leader changes published as events; bad input dropped; a failed disk silences the node.</summary>
public sealed class ObservabilityAndRobustnessTests : RaftNodeTestKit
{
    [Fact]
    public void Every_role_term_and_leader_change_is_published_on_the_event_stream()
    {
        var events = CreateTestProbe();
        Sys.EventStream.Subscribe(events.Ref, typeof(RaftStateChanged));
        var (node, _) = StartNode(new InMemoryRaftStorage());

        TimeOutElection(node);
        var candidate = events.ExpectMsg<RaftStateChanged>();
        Assert.Equal(("n1", RaftRole.Candidate, 1L, (string?)null), (candidate.NodeId, candidate.Role, candidate.Term, candidate.LeaderId));
        Assert.Equal(new RaftStatus("n1", RaftRole.Follower, 0, null, null), candidate.Previous);

        node.Tell(new RequestVoteResult(1, "n2", true));
        var leader = events.ExpectMsg<RaftStateChanged>();
        Assert.Equal((RaftRole.Leader, 1L, "n1"), (leader.Role, leader.Term, leader.LeaderId));

        node.Tell(new AppendEntries(2, "n3", 0, 0, [], 0));
        var follower = events.ExpectMsg<RaftStateChanged>();
        Assert.Equal((RaftRole.Follower, 2L, "n3"), (follower.Role, follower.Term, follower.LeaderId));

        // A heartbeat from the leader already known changes nothing and publishes nothing.
        node.Tell(new AppendEntries(2, "n3", 0, 0, [], 0));
        Settle(node);
        Assert.False(events.HasMessages);
    }

    [Fact]
    public void A_subscriber_gets_the_current_status_then_every_change_until_it_unsubscribes()
    {
        var subscriber = CreateTestProbe();
        var (node, _) = StartNode(new InMemoryRaftStorage(new HardState(2, null)));

        node.Tell(new SubscribeRaftEvents(subscriber.Ref));
        Assert.Equal(new RaftStatus("n1", RaftRole.Follower, 2, null, null), subscriber.ExpectMsg<RaftStatus>());

        node.Tell(new AppendEntries(2, "n2", 0, 0, [], 0));
        Assert.Equal("n2", subscriber.ExpectMsg<RaftStateChanged>().LeaderId);

        node.Tell(new UnsubscribeRaftEvents(subscriber.Ref));
        TimeOutElection(node);
        Assert.False(subscriber.HasMessages);
    }

    [Fact]
    public void A_status_query_returns_role_term_leader_and_vote()
    {
        var (node, _) = StartNode(new InMemoryRaftStorage());
        node.Tell(new RequestVote(3, "n2", 0, 0));
        node.Tell(new AppendEntries(3, "n2", 0, 0, [], 0));

        Assert.Equal(new RaftStatus("n1", RaftRole.Follower, 3, "n2", "n2"), Settle(node));
    }

    [Fact]
    public void Unknown_messages_and_answers_from_non_members_are_dropped_and_the_node_goes_on()
    {
        var (node, peers) = StartNode(new InMemoryRaftStorage());

        node.Tell("garbage");
        node.Tell(new RequestVoteResult(9, "stranger", VoteGranted: true));
        node.Tell(new AppendEntriesResult(9, "stranger", Success: true, MatchIndex: 100));

        Assert.Equal(new RaftStatus("n1", RaftRole.Follower, 0, null, null), Settle(node));
        AssertSilent(peers.Values.ToArray());
        TimeOutElection(node);
        Assert.Equal(RaftRole.Candidate, node.StateName);
    }

    // A server outside the configuration this node knows may be a leader it has not heard of yet
    // (it lags behind a membership change, or joins): its request is answered where it came from.
    [Fact]
    public void A_request_from_a_server_outside_the_configuration_is_answered_where_it_came_from()
    {
        var (node, peers) = StartNode(new InMemoryRaftStorage());
        var stranger = CreateTestProbe();

        node.Tell(new AppendEntries(9, "n9", 0, 0, [], 0), stranger.Ref);

        var answer = stranger.ExpectMsg<AppendEntriesResult>();
        Assert.Equal(new AppendEntriesResult(9, "n1", true), answer);
        Assert.Equal(new RaftStatus("n1", RaftRole.Follower, 9, "n9", null), Settle(node));
        AssertSilent(peers.Values.ToArray());
    }

    [Fact]
    public void A_candidate_whose_storage_fails_sends_nothing_that_depended_on_the_write_and_reports_why()
    {
        var storage = new GatedStorage();
        var (node, peers) = StartNode(storage);

        TimeOutElection(node);
        storage.FailNext();

        AwaitCondition(() => Settle(node).StorageFailure is not null, TimeSpan.FromSeconds(5));
        Assert.Equal(new RaftStatus("n1", RaftRole.Follower, 1, null, "n1", StorageFailure: "disk failed"), Settle(node));
        AssertSilent(peers.Values.ToArray());
    }
}
