using Akka.TestKit;
using RaftActors.Core;
using RaftActors.Messages;
using RaftActors.Node;
using RaftActors.Storage;

namespace RaftActors.Tests.Node;

/// <summary>The term rule (§5.1) in every role, and the RequestVote receiver rules (§5.2, §5.4.1).</summary>
public sealed class TermAndVoteTests : RaftNodeTestKit
{
    public static TheoryData<string, RaftRole> HigherTermMessages()
    {
        var data = new TheoryData<string, RaftRole>();
        foreach (var message in new[] { "RequestVote", "RequestVoteResult", "AppendEntries", "AppendEntriesResult" })
            foreach (var role in Enum.GetValues<RaftRole>())
                data.Add(message, role);
        return data;
    }

    [Theory]
    [MemberData(nameof(HigherTermMessages))]
    public void Any_message_with_a_higher_term_makes_any_role_a_follower_of_that_term_persisted_before_it_answers(
        string messageType, RaftRole role)
    {
        var storage = new GatedStorage();
        var (node, peers) = StartNode(storage);
        BringTo(node, peers, storage, role); // term 1
        var persistedBefore = storage.Requested.Count;
        IRaftProtocolMessage message = messageType switch
        {
            "RequestVote" => new RequestVote(5, "n3", 1, 1), // as up to date as a leader holding its no-op
            "RequestVoteResult" => new RequestVoteResult(5, "n3", false),
            "AppendEntries" => new AppendEntries(5, "n3", 0, 0, [], 0),
            _ => new AppendEntriesResult(5, "n3", false),
        };

        node.Tell(message);
        Settle(node);

        Assert.Equal(RaftRole.Follower, node.StateName);
        Assert.Equal(5, node.StateData.Term);
        var written = storage.Requested.Skip(persistedBefore).ToList();
        // The vote is cleared with the new term; a RequestVote then grants it, and the two
        // decisions of one message travel in one (coalesced) write.
        Assert.Equal(new HardState(5, message is RequestVote ? "n3" : null), Assert.Single(written));
        AssertSilent(peers["n3"]);

        CompleteAllWrites(node, storage);
        switch (message)
        {
            case RequestVote:
                Assert.True(peers["n3"].ExpectMsg<RequestVoteResult>().VoteGranted);
                Assert.Equal(new HardState(5, "n3"), storage.HardState);
                break;
            case AppendEntries:
                Assert.Equal(new AppendEntriesResult(5, "n1", true), peers["n3"].ExpectMsg<AppendEntriesResult>());
                Assert.Equal("n3", node.StateData.LeaderId);
                break;
            default:
                Assert.Null(node.StateData.LeaderId);
                break;
        }
    }

    [Fact]
    public void An_old_leader_steps_down_at_the_first_message_of_the_new_term()
    {
        var (node, peers) = StartLeader(new InMemoryRaftStorage(), acknowledgeNoOp: false);

        node.Tell(new AppendEntries(2, "n3", 0, 0, [], 0));

        Assert.Equal(new RaftStatus("n1", RaftRole.Follower, 2, "n3", null, LastLogIndex: 1), Settle(node));
        Assert.Equal(new AppendEntriesResult(2, "n1", true), peers["n3"].FishForMessage<AppendEntriesResult>(_ => true));
    }

    [Fact]
    public void A_vote_request_of_a_stale_term_is_refused_with_the_current_term()
    {
        var (node, peers) = StartNode(new InMemoryRaftStorage(new HardState(3, null)));

        node.Tell(new RequestVote(2, "n2", 10, 2));

        Assert.Equal(new RequestVoteResult(3, "n1", false), peers["n2"].ExpectMsg<RequestVoteResult>());
        Assert.Null(Settle(node).VotedFor);
    }

    [Fact]
    public void A_node_grants_one_vote_per_term_first_come_first_served()
    {
        var (node, peers) = StartNode(new InMemoryRaftStorage(), clusterSize: 5);

        node.Tell(new RequestVote(1, "n2", 0, 0));
        node.Tell(new RequestVote(1, "n3", 0, 0));
        node.Tell(new RequestVote(1, "n4", 0, 0));

        Assert.True(peers["n2"].ExpectMsg<RequestVoteResult>().VoteGranted);
        Assert.False(peers["n3"].ExpectMsg<RequestVoteResult>().VoteGranted);
        Assert.False(peers["n4"].ExpectMsg<RequestVoteResult>().VoteGranted);
        Assert.Equal("n2", Settle(node).VotedFor);
    }

    [Fact]
    public void A_repeated_request_from_the_candidate_it_voted_for_is_granted_again()
    {
        var (node, peers) = StartNode(new InMemoryRaftStorage());

        node.Tell(new RequestVote(1, "n2", 0, 0));
        node.Tell(new RequestVote(1, "n2", 0, 0));

        Assert.True(peers["n2"].ExpectMsg<RequestVoteResult>().VoteGranted);
        Assert.True(peers["n2"].ExpectMsg<RequestVoteResult>().VoteGranted);
    }

    [Fact]
    public void A_candidate_refuses_other_candidates_of_its_own_term()
    {
        var (node, peers) = StartNode(new InMemoryRaftStorage());
        TimeOutElection(node);

        node.Tell(new RequestVote(1, "n2", 0, 0));

        Assert.False(peers["n2"].FishForMessage<RequestVoteResult>(_ => true).VoteGranted);
        Assert.Equal(RaftRole.Candidate, Settle(node).Role);
    }

    [Fact]
    public void The_vote_is_durable_before_the_grant_is_sent()
    {
        var storage = new GatedStorage();
        var (node, peers) = StartNode(storage);

        node.Tell(new RequestVote(1, "n2", 0, 0));
        Settle(node);

        Assert.Equal(new HardState(1, "n2"), storage.Requested.Last());
        AssertSilent(peers["n2"]);
        while (storage.PendingCount > 0)
            storage.CompleteNext();
        Assert.True(peers["n2"].ExpectMsg<RequestVoteResult>().VoteGranted);
        Assert.Equal(new HardState(1, "n2"), storage.HardState);
    }

    [Fact]
    public void A_node_never_votes_twice_in_a_term_also_across_a_restart_from_its_store()
    {
        var directory = Directory.CreateTempSubdirectory("raft-vote-").FullName;
        try
        {
            var storage = FileRaftStorage.Open(directory);
            var (node, peers) = StartNode(storage, name: "before-restart");
            node.Tell(new RequestVote(1, "n2", 0, 0));
            Assert.True(peers["n2"].ExpectMsg<RequestVoteResult>().VoteGranted);
            Watch(node);
            Sys.Stop(node);
            ExpectTerminated(node);
            storage.Dispose(); // the process is gone, and with it its hold on the directory

            using var reopened = FileRaftStorage.Open(directory);
            var (restarted, newPeers) = StartNode(reopened, name: "after-restart");
            Assert.Equal(new RaftStatus("n1", RaftRole.Follower, 1, null, "n2"), Settle(restarted));
            restarted.Tell(new RequestVote(1, "n3", 0, 0));

            Assert.Equal(new RequestVoteResult(1, "n1", false), newPeers["n3"].ExpectMsg<RequestVoteResult>());
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>Puts n1 in <paramref name="role"/> at term 1, with all writes completed.</summary>
    private void BringTo(
        TestFSMRef<RaftNode, RaftRole, RaftStatus> node, Dictionary<string, TestProbe> peers, GatedStorage storage, RaftRole role)
    {
        switch (role)
        {
            case RaftRole.Follower:
                node.Tell(new AppendEntries(1, "n2", 0, 0, [], 0));
                break;
            case RaftRole.Candidate:
                TimeOutElection(node);
                break;
            case RaftRole.Leader:
                TimeOutElection(node);
                node.Tell(new RequestVoteResult(1, "n2", true));
                break;
        }

        CompleteAllWrites(node, storage);

        // Take what the setup sent, once the writes release it, so the test sees only its own.
        if (role == RaftRole.Follower)
            peers["n2"].ExpectMsg<AppendEntriesResult>();
        if (role != RaftRole.Follower)
            peers["n3"].ExpectMsg<RequestVote>();
        if (role == RaftRole.Leader)
            peers["n3"].ExpectMsg<AppendEntries>();
        var status = Settle(node);
        Assert.Equal((role, 1L), (status.Role, status.Term));
    }
}
