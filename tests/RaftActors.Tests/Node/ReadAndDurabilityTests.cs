using Akka.TestKit;
using RaftActors.Core;
using RaftActors.Messages;
using RaftActors.Node;
using RaftActors.Storage;

namespace RaftActors.Tests.Node;

/// <summary>
/// Linearizable queries at the node (ReadIndex), what waits for the disk and what does not, and a
/// restart over the same storage.
/// </summary>
public sealed class ReadAndDurabilityTests : ReplicationNodeTestKit
{
    [Fact]
    public void A_query_is_answered_only_after_the_new_leaders_noop_commits_and_a_majority_answers_a_later_heartbeat()
    {
        var storage = new GatedStorage();
        var machine = new ListStateMachine();
        var (node, peers, noOps) = StartGatedLeader(storage, () => machine);
        var client = CreateTestProbe();

        node.Tell(new ClientQuery("all"), client.Ref);

        // n2 holds the no-op and answers a heartbeat sent after the query: a majority (n2 and
        // the leader) says n1 still leads — but the leader's own no-op is not durable, so not
        // committed, and its commit index may be stale.
        Acknowledge(node, "n2", noOps["n2"]);
        Advance(node, Heartbeat);
        var heartbeat = peers["n2"].ExpectMsg<AppendEntries>();
        Assert.Empty(heartbeat.Entries);
        Acknowledge(node, "n2", heartbeat);
        SettleWithApplier(node);
        Assert.Equal(0, node.StateData.CommitIndex);
        Assert.False(client.HasMessages);

        // The no-op becomes durable, so committed: the query now waits for a round of its own.
        CompleteAllWrites(node, storage);
        SettleWithApplier(node);
        Assert.Equal(1, node.StateData.CommitIndex);
        Assert.False(client.HasMessages);
        var round = peers["n2"].ExpectMsg<AppendEntries>();
        Assert.True(round.Sequence > heartbeat.Sequence);
        peers["n3"].FishForMessage<AppendEntries>(a => a.Sequence > heartbeat.Sequence);

        Acknowledge(node, "n2", round);
        Assert.Equal(new QueryResult(""), client.ExpectMsg<QueryResult>());
    }

    [Fact]
    public void A_query_sees_every_command_committed_before_it_and_waits_for_a_majority()
    {
        var machine = new ListStateMachine();
        var (node, peers) = StartLeader(new InMemoryRaftStorage(), () => machine);
        var client = CreateTestProbe();
        node.Tell(Command("a"), client.Ref);
        var toN2 = peers["n2"].ExpectMsg<AppendEntries>();
        Acknowledge(node, "n2", toN2);
        client.ExpectMsg<CommandApplied>();
        peers["n3"].ExpectMsg<AppendEntries>();

        node.Tell(new ClientQuery("all"), client.Ref);

        // The round goes to every peer; late answers to earlier messages do not count.
        var rounds = peers.ToDictionary(p => p.Key, p => p.Value.ExpectMsg<AppendEntries>());
        Assert.All(rounds.Values, r => Assert.True(r.Sequence > toN2.Sequence));
        Acknowledge(node, "n2", toN2);
        SettleWithApplier(node);
        Assert.False(client.HasMessages);

        Acknowledge(node, "n3", rounds["n3"]);
        Assert.Equal(new QueryResult("a"), client.ExpectMsg<QueryResult>());
    }

    [Fact]
    public void A_single_node_cluster_commits_on_its_own_write_and_serves_queries_at_once()
    {
        var storage = new GatedStorage();
        var (node, _) = StartNode(storage, clusterSize: 1, stateMachineFactory: () => new ListStateMachine());
        TimeOutElection(node);
        CompleteAllWrites(node, storage);
        SettleWithApplier(node);
        Assert.Equal(new RaftStatus("n1", RaftRole.Leader, 1, "n1", "n1", LastLogIndex: 1, CommitIndex: 1, LastApplied: 1), Settle(node));
        var client = CreateTestProbe();

        node.Tell(Command("a"), client.Ref);
        SettleWithApplier(node);
        Assert.False(client.HasMessages); // its own copy is not durable yet

        storage.CompleteNext();
        Assert.Equal(new CommandApplied(2, "a#1"), client.ExpectMsg<CommandApplied>());
        node.Tell(new ClientQuery("all"), client.Ref);
        Assert.Equal(new QueryResult("a"), client.ExpectMsg<QueryResult>());
    }

    [Fact]
    public void A_leader_that_steps_down_before_confirming_a_query_answers_NotLeader()
    {
        var (node, peers) = StartLeader(new InMemoryRaftStorage());
        var client = CreateTestProbe();
        node.Tell(new ClientQuery("all"), client.Ref);
        Settle(node);

        node.Tell(new AppendEntries(2, "n3", 0, 0, [], 0));

        Assert.Equal(new NotLeader("n3", peers["n3"].Ref.Path), client.ExpectMsg<NotLeader>());
    }

    [Fact]
    public void A_follower_serves_a_query_itself_once_it_has_applied_the_read_index_its_leader_confirmed()
    {
        var (node, peers) = StartNode(new InMemoryRaftStorage(), stateMachineFactory: () => new ListStateMachine());
        node.Tell(new AppendEntries(1, "n2", 0, 0, [new LogEntry(1, 1, EntryOf("a"))], LeaderCommit: 0));
        peers["n2"].ExpectMsg<AppendEntriesResult>();
        var client = CreateTestProbe();

        node.Tell(new ClientQuery("all"), client.Ref);
        node.Tell(new ClientQuery("all"), client.Ref);

        // One request stands for the reads waiting; the second waits for its answer.
        var request = peers["n2"].ExpectMsg<ReadIndexRequest>();
        Assert.Equal(new ReadIndexRequest(1, "n1", request.RequestId), request);
        SettleWithApplier(node);
        AssertSilent(peers.Values.ToArray());

        // Entry 1 was committed when the leader took the request: not before this follower knows so.
        node.Tell(new ReadIndexResult(1, "n2", request.RequestId, ReadIndex: 1));
        var next = peers["n2"].ExpectMsg<ReadIndexRequest>();
        Assert.True(next.RequestId > request.RequestId);
        SettleWithApplier(node);
        Assert.False(client.HasMessages);

        node.Tell(new AppendEntries(1, "n2", 1, 1, [], LeaderCommit: 1));
        Assert.Equal(new QueryResult("a"), client.ExpectMsg<QueryResult>());
        Assert.False(client.HasMessages);
        node.Tell(new ReadIndexResult(1, "n2", next.RequestId, ReadIndex: 1));
        Assert.Equal(new QueryResult("a"), client.ExpectMsg<QueryResult>());
    }

    [Fact]
    public void A_followers_unanswered_read_index_request_goes_again_and_its_reads_fail_when_another_leader_is_heard()
    {
        var (node, peers) = StartNode(new InMemoryRaftStorage(), stateMachineFactory: () => new ListStateMachine());
        node.Tell(new AppendEntries(1, "n2", 0, 0, [], LeaderCommit: 0));
        peers["n2"].ExpectMsg<AppendEntriesResult>();
        var client = CreateTestProbe();
        node.Tell(new ClientQuery("all"), client.Ref);
        var request = peers["n2"].ExpectMsg<ReadIndexRequest>();

        // Lost with a broken connection: the follower's heartbeat ticks send it again.
        for (var tick = 0; tick < FollowerReads.ResendTicks; tick++)
            Advance(node, Heartbeat);
        Assert.Equal(request, peers["n2"].ExpectMsg<ReadIndexRequest>());

        node.Tell(new AppendEntries(2, "n3", 0, 0, [], LeaderCommit: 0));
        Assert.Equal(new NotLeader("n3", peers["n3"].Ref.Path), client.ExpectMsg<NotLeader>());

        // An answer of the former leader serves nothing.
        node.Tell(new ReadIndexResult(1, "n2", request.RequestId, ReadIndex: 0));
        SettleWithApplier(node);
        Assert.False(client.HasMessages);
    }

    [Fact]
    public void A_followers_acknowledgement_leaves_only_once_its_write_is_durable()
    {
        var storage = new GatedStorage(new HardState(1, null));
        var (node, peers) = StartNode(storage);
        var entries = new[] { new LogEntry(1, 1, null), new LogEntry(2, 1, null) };

        // The term is durable already: only the log waits for the disk.
        node.Tell(new AppendEntries(1, "n2", 0, 0, entries, LeaderCommit: 0, Sequence: 5));
        Settle(node);

        Assert.Equal(1, storage.PendingCount);
        Assert.Empty(storage.Requested); // no hard state in it
        AssertSilent(peers.Values.ToArray());

        // A refusal depends on nothing unwritten: it leaves at once, even while the write is pending.
        node.Tell(new AppendEntries(1, "n2", 7, 1, [], LeaderCommit: 0, Sequence: 6));
        Assert.Equal(new AppendEntriesResult(1, "n1", false, ConflictIndex: 3, Sequence: 6), peers["n2"].ExpectMsg<AppendEntriesResult>());

        storage.CompleteNext();
        Assert.Equal(new AppendEntriesResult(1, "n1", true, MatchIndex: 2, Sequence: 5), peers["n2"].ExpectMsg<AppendEntriesResult>());
        Assert.Equal(entries, storage.Entries);
    }

    [Fact]
    public void A_leader_replicates_before_its_own_write_is_durable_and_counts_itself_only_once_it_is()
    {
        var storage = new GatedStorage();
        var (node, peers, noOps) = StartGatedLeader(storage, () => new ListStateMachine());
        Assert.Equal(1, storage.PendingCount); // the no-op went out while its write is pending
        CompleteAllWrites(node, storage);
        Acknowledge(node, "n2", noOps["n2"]);
        Assert.Equal(1, Settle(node).CommitIndex);
        var client = CreateTestProbe();

        node.Tell(Command("a"), client.Ref);

        var toN2 = peers["n2"].ExpectMsg<AppendEntries>();
        Assert.Equal(1, storage.PendingCount);
        Acknowledge(node, "n2", toN2);
        SettleWithApplier(node);
        AssertSilent(peers["n3"]); // its no-op is unanswered: "a" waits for that answer
        Assert.Equal(1, node.StateData.CommitIndex); // n2 alone is not a majority
        Assert.False(client.HasMessages);

        storage.CompleteNext();
        Assert.Equal(new CommandApplied(2, "a#1"), client.ExpectMsg<CommandApplied>());
        Assert.Equal(2, Settle(node).CommitIndex);
    }

    [Fact]
    public void A_restarted_node_starts_with_its_log_and_applies_each_entry_once_to_its_fresh_state_machine()
    {
        var storage = new InMemoryRaftStorage();
        var machines = new List<ListStateMachine>();
        Func<ListStateMachine> factory = () =>
        {
            var machine = new ListStateMachine();
            lock (machines)
                machines.Add(machine);
            return machine;
        };
        var (node, peers) = StartNode(storage, stateMachineFactory: factory);
        var entries = new[] { "a", "b", "c" }.Select((t, i) => new LogEntry(i + 1, 1, EntryOf(t))).ToList();
        node.Tell(new AppendEntries(1, "n2", 0, 0, entries, LeaderCommit: 2));
        peers["n2"].ExpectMsg<AppendEntriesResult>(r => r.Success && r.MatchIndex == 3);
        SettleWithApplier(node);
        Assert.Equal(2, Settle(node).LastApplied);

        Watch(node);
        Sys.Stop(node);
        ExpectTerminated(node);
        var (restarted, newPeers) = StartNode(storage, name: "n1-restarted", stateMachineFactory: factory);

        // Term and log come back from storage; the commit index is volatile and starts over.
        Assert.Equal(new RaftStatus("n1", RaftRole.Follower, 1, null, null, LastLogIndex: 3, CommitIndex: 0, LastApplied: 0), Settle(restarted));
        Assert.Equal(2, machines.Count);
        Assert.Empty(machines[1].Applied);

        restarted.Tell(new AppendEntries(1, "n2", 3, 1, [], LeaderCommit: 3));
        newPeers["n2"].ExpectMsg<AppendEntriesResult>(r => r.Success);
        restarted.Tell(new AppendEntries(1, "n2", 3, 1, [], LeaderCommit: 3)); // the next heartbeat says the same
        newPeers["n2"].ExpectMsg<AppendEntriesResult>(r => r.Success);
        SettleWithApplier(restarted);

        Assert.Equal([(1L, "a"), (2L, "b"), (3L, "c")], machines[1].Applied);
        Assert.Equal([(1L, "a"), (2L, "b")], machines[0].Applied);
        Assert.Equal(new RaftStatus("n1", RaftRole.Follower, 1, "n2", null, LastLogIndex: 3, CommitIndex: 3, LastApplied: 3), Settle(restarted));
    }
}
