using Akka.Actor;
using RaftActors.Client;
using RaftActors.Configuration;
using RaftActors.Core;
using RaftActors.Messages;

namespace RaftActors.Tests.Client;

/// <summary>
/// What the client does beyond one session of its own, against stand-in nodes in virtual time: a
/// command in the caller's session, a deadline of the request's own, snapshot exports, and
/// moving requests to a new leader that a node in the client's ActorSystem names.
/// </summary>
public sealed class RaftClientRequestTests : RaftClientTestKit
{
    [Fact]
    public void A_pending_command_moves_to_the_leader_a_node_in_its_system_names_at_once_and_in_its_session()
    {
        var client = StartClient();
        var requester = CreateTestProbe();
        client.Tell(new SendCommand("set x"), requester.Ref);
        var (first, _, command) = ExpectAtSomeNode<ClientCommand>();
        var newLeader = Nodes.Keys.First(id => id != first);

        // No time passes: the event alone sends it again, with the same session sequence.
        PublishLeader(newLeader, term: 2);
        Assert.Equal(command, Nodes[newLeader].ExpectMsg<ClientCommand>());
        Nodes[newLeader].Reply(new CommandApplied(4, "once"));
        Assert.Equal(new CommandApplied(4, "once"), requester.ExpectMsg<CommandApplied>());
        Assert.Equal(Nodes[newLeader].Ref.Path, Settle(client).Leader);

        // The other nodes' events of the same term, and older terms, move nothing.
        client.Tell(new SendCommand("set y"), requester.Ref);
        Nodes[newLeader].ExpectMsg<ClientCommand>();
        PublishLeader(newLeader, term: 2, from: first);
        PublishLeader(first, term: 1);
        Settle(client);
        AssertNoNodeReceivedAnything();
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void A_query_goes_first_to_the_one_member_in_the_clients_own_system(int seed)
    {
        // n1 is here; n2 and n3 are in other ActorSystems (their messages are lost: none is running).
        var elsewhere = new[] { "n2", "n3" }.Select(id => new RaftMember(id, ActorPath.Parse($"akka.tcp://raft@10.0.0.{id[1]}:4051/user/raft")));
        var client = Sys.ActorOf(RaftClient.Props([new RaftMember("n1", Nodes["n1"].Ref.Path), .. elsewhere], Options(seed)));
        var requester = CreateTestProbe();

        client.Tell(new SendQuery("get x"), requester.Ref);
        Assert.Equal(new ClientQuery("get x"), Nodes["n1"].ExpectMsg<ClientQuery>());
        Nodes["n1"].Reply(new QueryResult(1));
        Assert.Equal(new QueryResult(1), requester.ExpectMsg<QueryResult>());

        // Its retries follow the usual rules: here, the leader n1 names.
        client.Tell(new SendQuery("get y"), requester.Ref);
        Nodes["n1"].ExpectMsg<ClientQuery>();
        var leader = CreateTestProbe("leader");
        Nodes["n1"].Reply(new NotLeader("n9", leader.Ref.Path));
        Assert.Equal(new ClientQuery("get y"), leader.ExpectMsg<ClientQuery>());
    }

    [Fact]
    public void A_request_backing_off_for_want_of_a_leader_goes_as_soon_as_one_is_named()
    {
        var client = StartClient();
        var requester = CreateTestProbe();
        client.Tell(new SendQuery("get x"), requester.Ref);
        var (first, node, _) = ExpectAtSomeNode<ClientQuery>();
        node.Reply(new NotLeader(null, null));
        AwaitStatus(client, s => s.BackingOff == 1, "the client to back off after NotLeader without a hint");

        PublishLeader(first, term: 3);
        Assert.Equal(new ClientQuery("get x"), Nodes[first].ExpectMsg<ClientQuery>());
        Nodes[first].Reply(new QueryResult(1));
        requester.ExpectMsg<QueryResult>();

        // The cancelled backoff sends nothing later.
        Advance(client, BackoffMax);
        AssertNoNodeReceivedAnything();
    }

    [Fact]
    public void A_leader_named_outside_the_members_is_reached_through_a_member()
    {
        var client = StartClient();
        var requester = CreateTestProbe();
        var outside = CreateTestProbe("outside");
        client.Tell(new SendQuery("get x"), requester.Ref);
        var (_, node, _) = ExpectAtSomeNode<ClientQuery>();
        node.Reply(new NotLeader("n9", outside.Ref.Path));
        outside.ExpectMsg<ClientQuery>();

        // The hinted node is not a member: once another leader is named, the query goes to a member.
        PublishLeader("n7", term: 2);
        var (member, memberNode, _) = ExpectAtSomeNode<ClientQuery>();
        outside.ExpectNoMsg(TimeSpan.FromMilliseconds(50));
        memberNode.Reply(new QueryResult(1));
        requester.ExpectMsg<QueryResult>();

        // A member the client goes to stays its choice when the leader named is not a member.
        PublishLeader("n8", term: 3);
        Assert.Equal(Nodes[member].Ref.Path, Settle(client).Leader);
    }

    [Fact]
    public void A_membership_change_is_not_moved_to_a_new_leader()
    {
        var client = StartClient();
        var requester = CreateTestProbe();
        client.Tell(new SendMembershipRequest(new RemoveMember("n3")), requester.Ref);
        var (first, _, _) = ExpectAtSomeNode<RemoveMember>();

        PublishLeader(Nodes.Keys.First(id => id != first), term: 2);
        Settle(client);
        AssertNoNodeReceivedAnything();
        Assert.Equal(1, Settle(client).InFlight);
    }

    [Fact]
    public void A_command_in_a_session_of_its_own_is_its_first_retried_there_and_leaves_the_clients_session_alone()
    {
        var client = StartClient();
        var requester = CreateTestProbe();

        // Two at once, before the client's own session is open: neither waits for the other.
        client.Tell(new SendCommand("put a", SessionId: "http:a"), requester.Ref);
        client.Tell(new SendCommand("put b", SessionId: "http:b"), requester.Ref);
        var (_, node, a) = ExpectAtSomeNode<ClientCommand>();
        Assert.Equal(new ClientCommand("put a", "http:a", 1), a);
        Assert.Equal(new ClientCommand("put b", "http:b", 1), node.ExpectMsg<ClientCommand>());
        var attemptOfB = node.LastSender;

        // An unknown outcome is retried in the same session, so at most once.
        attemptOfB.Tell(new CommandOutcomeUnknown("leadership lost"), node.Ref);
        AwaitStatus(client, s => s.BackingOff == 1, "the client to back off after CommandOutcomeUnknown");
        Advance(client, BackoffMax);
        var (_, retryNode, retry) = ExpectAtSomeNode<ClientCommand>();
        Assert.Equal(new ClientCommand("put b", "http:b", 1), retry);
        retryNode.Reply(new CommandApplied(8, "b"));
        Assert.Equal(new CommandApplied(8, "b"), requester.ExpectMsg<CommandApplied>());

        // The client's own session still starts at 1.
        client.Tell(new SendCommand("own"), requester.Ref);
        Assert.Equal(new ClientCommand("own", ClientId, 1), retryNode.ExpectMsg<ClientCommand>());
        Assert.Equal(1, Settle(client).LastSequence);
    }

    [Fact]
    public void A_command_in_its_own_session_that_may_have_been_applied_fails_as_unknown_naming_that_session()
    {
        var client = StartClient(Options() with { MaxAttempts = 1 });
        var requester = CreateTestProbe();
        client.Tell(new SendCommand("put a", SessionId: "http:a"), requester.Ref);
        ExpectAtSomeNode<ClientCommand>();
        Advance(client, RequestTimeout);

        var failure = ExpectFailure<RaftCommandOutcomeUnknownException>(requester);
        Assert.Equal(("http:a", 1L), (failure.ClientId, failure.Sequence));
    }

    [Fact]
    public void A_request_with_a_deadline_of_its_own_gives_up_then()
    {
        var client = StartClient();
        var requester = CreateTestProbe();
        var deadline = TimeSpan.FromSeconds(2);
        client.Tell(new SendQuery("get x", deadline), requester.Ref);
        ExpectAtSomeNode<ClientQuery>();

        Assert.Equal(deadline, AdvanceUntilAnswered(client, requester, Deadline, TimeSpan.FromMilliseconds(100)));
        Assert.Contains("deadline of 2 s passed", ExpectFailure<RaftUnavailableException>(requester).Message);
    }

    [Fact]
    public void A_command_refused_near_its_deadline_is_not_sent_again_into_an_unknown_outcome()
    {
        var client = StartClient();
        var requester = CreateTestProbe();

        // The first backoff is the shortest, 50 ms: with 90 ms left no answer could come in time.
        client.Tell(new SendCommand("set x", Deadline: TimeSpan.FromMilliseconds(90)), requester.Ref);
        var (_, node, _) = ExpectAtSomeNode<ClientCommand>();
        node.Reply(new NotLeader(null, null));

        var failure = ExpectFailure<RaftUnavailableException>(requester);
        Assert.Contains("the deadline comes before the next attempt could be made", failure.Message);
        Advance(client, TimeSpan.FromSeconds(1));
        AssertNoNodeReceivedAnything();
    }

    [Fact]
    public void A_snapshot_export_waits_for_its_answer_and_comes_back_with_a_leader_outside_the_members()
    {
        var client = StartClient();
        var requester = CreateTestProbe();
        client.Tell(new SendSnapshotExport("/backups/b1"), requester.Ref);
        var (_, node, export) = ExpectAtSomeNode<ExportSnapshot>();
        Assert.Equal(new ExportSnapshot("/backups/b1"), export);

        // The leader writes the whole state first: no attempt timeout, and a new leader does not move it.
        Advance(client, RequestTimeout + RequestTimeout);
        PublishLeader("n2", term: 2);
        Settle(client);
        AssertNoNodeReceivedAnything();

        var elsewhere = new NotLeader("n9", ActorPath.Parse("akka.tcp://raft@10.0.0.9:4051/user/raft"));
        node.Reply(elsewhere);
        Assert.Equal(elsewhere, requester.ExpectMsg<NotLeader>());
        AssertNoNodeReceivedAnything();
    }

    [Fact]
    public void A_snapshot_export_asks_again_while_no_leader_is_known_and_follows_a_member_named_leader()
    {
        var client = StartClient();
        var requester = CreateTestProbe();
        client.Tell(new SendSnapshotExport("/backups/b1"), requester.Ref);
        var (_, node, _) = ExpectAtSomeNode<ExportSnapshot>();
        node.Reply(new NotLeader(null, null));
        AwaitStatus(client, s => s.BackingOff == 1, "the client to back off while no leader is known");
        Advance(client, BackoffMax);

        var (second, secondNode, _) = ExpectAtSomeNode<ExportSnapshot>();
        var leader = Nodes.Keys.First(id => id != second);
        secondNode.Reply(new NotLeader(leader, null));
        Nodes[leader].ExpectMsg<ExportSnapshot>();
        var exported = new SnapshotExported("/backups/b1", new LogPosition(12, 3), 4096);
        Nodes[leader].Reply(exported);
        Assert.Equal(exported, requester.ExpectMsg<SnapshotExported>());
    }

    private void PublishLeader(string leaderId, long term, string? from = null) =>
        Sys.EventStream.Publish(new RaftStateChanged(from ?? leaderId, from is null || from == leaderId ? RaftRole.Leader : RaftRole.Follower, term, leaderId,
            new RaftStatus(from ?? leaderId, RaftRole.Follower, term - 1, null, null)));
}
