using Akka.TestKit;
using RaftActors.Core;
using RaftActors.Messages;
using RaftActors.Storage;

namespace RaftActors.Tests.Node;

/// <summary>Becoming candidate and leader, and falling back (§5.2), seen from outside the node.</summary>
public sealed class ElectionTests : RaftNodeTestKit
{
    [Fact]
    public void A_new_node_starts_as_follower_of_term_zero_with_no_vote()
    {
        var (node, peers) = StartNode(new InMemoryRaftStorage());

        Assert.Equal(RaftRole.Follower, node.StateName);
        Assert.Equal(new RaftStatus("n1", RaftRole.Follower, 0, null, null), Settle(node));
        AssertSilent(peers.Values.ToArray());
    }

    [Fact]
    public void A_restarted_node_starts_as_follower_with_its_persisted_term_and_vote()
    {
        var (node, _) = StartNode(new InMemoryRaftStorage(new HardState(7, "n3")));

        Assert.Equal(new RaftStatus("n1", RaftRole.Follower, 7, null, "n3"), Settle(node));
    }

    [Fact]
    public void On_timeout_a_follower_persists_term_plus_one_and_its_own_vote_before_requesting_votes()
    {
        var storage = new GatedStorage(new HardState(4, null));
        var (node, peers) = StartNode(storage);

        TimeOutElection(node);

        Assert.Equal(RaftRole.Candidate, node.StateName);
        Assert.Equal(new HardState(5, "n1"), Assert.Single(storage.Requested));
        AssertSilent(peers.Values.ToArray()); // nothing leaves before the write is durable

        storage.CompleteNext();
        foreach (var peer in peers.Values)
            Assert.Equal(new RequestVote(5, "n1", 0, 0), peer.ExpectMsg<RequestVote>());
    }

    [Theory]
    [InlineData(3, 1)]
    [InlineData(5, 2)]
    public void A_candidate_becomes_leader_with_votes_from_a_majority_of_the_whole_cluster(int clusterSize, int votesNeeded)
    {
        var (node, peers) = StartNode(new InMemoryRaftStorage(), clusterSize: clusterSize);
        TimeOutElection(node);
        var voters = peers.Keys.Order().ToList();

        for (var i = 0; i < votesNeeded - 1; i++)
            node.Tell(new RequestVoteResult(1, voters[i], true));
        Assert.Equal(RaftRole.Candidate, Settle(node).Role);

        node.Tell(new RequestVoteResult(1, voters[votesNeeded - 1], true));
        Assert.Equal(new RaftStatus("n1", RaftRole.Leader, 1, "n1", "n1", LastLogIndex: 1), Settle(node)); // its no-op, uncommitted
    }

    [Fact]
    public void Each_voter_counts_once_however_often_its_grant_arrives()
    {
        var (node, _) = StartNode(new InMemoryRaftStorage(), clusterSize: 5);
        TimeOutElection(node);

        for (var i = 0; i < 4; i++)
            node.Tell(new RequestVoteResult(1, "n2", true));

        Assert.Equal(RaftRole.Candidate, Settle(node).Role);
    }

    [Fact]
    public void Votes_granted_in_an_earlier_term_do_not_count()
    {
        var (node, _) = StartNode(new InMemoryRaftStorage());
        TimeOutElection(node);
        TimeOutElection(node); // split vote: a second election, term 2
        Assert.Equal(2, node.StateData.Term);

        node.Tell(new RequestVoteResult(1, "n2", true));
        node.Tell(new RequestVoteResult(1, "n3", true));

        Assert.Equal(new RaftStatus("n1", RaftRole.Candidate, 2, null, "n1"), Settle(node));
    }

    [Fact]
    public void A_votes_from_unknown_nodes_are_dropped()
    {
        var (node, _) = StartNode(new InMemoryRaftStorage());
        TimeOutElection(node);

        node.Tell(new RequestVoteResult(1, "intruder", true));

        Assert.Equal(RaftRole.Candidate, Settle(node).Role);
    }

    [Fact]
    public void A_split_vote_is_resolved_by_a_later_election_with_a_higher_term()
    {
        var (node, peers) = StartNode(new InMemoryRaftStorage());
        TimeOutElection(node);
        node.Tell(new RequestVoteResult(1, "n2", false));
        node.Tell(new RequestVoteResult(1, "n3", false));
        Assert.Equal(RaftRole.Candidate, Settle(node).Role);

        TimeOutElection(node);

        foreach (var peer in peers.Values)
        {
            peer.ExpectMsg<RequestVote>(r => r.Term == 1);
            peer.ExpectMsg<RequestVote>(r => r.Term == 2);
        }

        node.Tell(new RequestVoteResult(2, "n3", true));
        Assert.Equal(new RaftStatus("n1", RaftRole.Leader, 2, "n1", "n1", LastLogIndex: 1), Settle(node));
    }

    [Theory]
    [InlineData(1)] // same term as the candidate
    [InlineData(3)] // a later term
    public void A_candidate_becomes_follower_on_AppendEntries_from_a_leader_of_at_least_its_term(long leaderTerm)
    {
        var (node, peers) = StartNode(new InMemoryRaftStorage());
        TimeOutElection(node);

        node.Tell(new AppendEntries(leaderTerm, "n2", 0, 0, [], 0));

        Assert.Equal(RaftRole.Follower, Settle(node).Role);
        Assert.Equal(leaderTerm, node.StateData.Term);
        Assert.Equal("n2", node.StateData.LeaderId);
        peers["n2"].FishForMessage<AppendEntriesResult>(r => r.Success && r.Term == leaderTerm);
    }

    [Fact]
    public void A_candidate_ignores_AppendEntries_of_an_older_term_and_tells_the_sender_its_term()
    {
        var (node, peers) = StartNode(new InMemoryRaftStorage(new HardState(4, null)));
        TimeOutElection(node);
        peers["n2"].ExpectMsg<RequestVote>();

        node.Tell(new AppendEntries(3, "n2", 0, 0, [], 0));

        Assert.Equal(new AppendEntriesResult(5, "n1", false), peers["n2"].ExpectMsg<AppendEntriesResult>());
        Assert.Equal(RaftRole.Candidate, node.StateName);
    }

    [Fact]
    public void A_single_node_cluster_elects_itself()
    {
        var storage = new InMemoryRaftStorage();
        var (node, _) = StartNode(storage, clusterSize: 1);

        TimeOutElection(node);

        // Alone, it commits its no-op as soon as the no-op is durable, and applies it.
        Assert.Equal(new RaftStatus("n1", RaftRole.Leader, 1, "n1", "n1", LastLogIndex: 1, CommitIndex: 1), Settle(node) with { LastApplied = 0 });
        Assert.Equal(new HardState(1, "n1"), storage.HardState);
        AwaitCondition(() => Settle(node).LastApplied == 1, TimeSpan.FromSeconds(5));
    }

    [Fact]
    public void A_leader_sends_heartbeats_to_every_peer_at_once_and_then_every_interval()
    {
        var (node, peers) = StartLeader(new InMemoryRaftStorage(), acknowledgeNoOp: false);

        AssertSilent(peers.Values.ToArray());
        Advance(node, Heartbeat);
        foreach (var peer in peers.Values)
            Assert.Equal(new AppendEntries(1, "n1", 1, 1, [], 0), peer.ExpectMsg<AppendEntries>() with { Sequence = 0 });
        Advance(node, Heartbeat);
        foreach (var peer in peers.Values)
            peer.ExpectMsg<AppendEntries>();
        AssertSilent(peers.Values.ToArray());
    }

    [Fact]
    public void A_leader_stops_its_heartbeats_when_it_steps_down()
    {
        var (node, peers) = StartLeader(new InMemoryRaftStorage());

        node.Tell(new AppendEntriesResult(2, "n3", false));
        Settle(node);

        Assert.False(node.IsTimerActive("heartbeat"));
        Assert.True(node.IsTimerActive("election"));
        Advance(node, Heartbeat * 2);
        AssertSilent(peers.Values.ToArray());
    }
}
