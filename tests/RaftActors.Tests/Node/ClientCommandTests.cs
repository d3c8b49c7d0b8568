using System.Text;
using RaftActors.Configuration;
using RaftActors.Core;
using RaftActors.Messages;
using RaftActors.Storage;

namespace RaftActors.Tests.Node;

/// <summary>Clients' commands at the node (§5.3, §8; thesis §6.3): replicate, commit, apply, answer.</summary>
public sealed class ClientCommandTests : ReplicationNodeTestKit
{
    [Fact]
    public void A_command_to_the_leader_goes_to_every_peer_and_is_answered_once_a_majority_holds_it()
    {
        var machine = new ListStateMachine();
        var (node, peers) = StartLeader(new InMemoryRaftStorage(), () => machine);
        var client = CreateTestProbe();

        node.Tell(Command("a"), client.Ref);

        var appends = peers.ToDictionary(p => p.Key, p => p.Value.ExpectMsg<AppendEntries>());
        foreach (var append in appends.Values)
        {
            Assert.Equal((1L, "n1", 1L, 1L, 1L), (append.Term, append.LeaderId, append.PrevLogIndex, append.PrevLogTerm, append.LeaderCommit));
            var entry = Assert.Single(append.Entries);
            Assert.Equal((2L, 1L), (entry.Index, entry.Term));
            Assert.Equal("a", TextOf(entry));
        }

        SettleWithApplier(node);
        Assert.Equal(1, node.StateData.CommitIndex); // the no-op's
        Assert.False(client.HasMessages);
        Assert.Empty(machine.Applied);

        // n2's copy and the leader's durable one make two of three.
        Acknowledge(node, "n2", appends["n2"]);

        Assert.Equal(new CommandApplied(2, "a#1"), client.ExpectMsg<CommandApplied>());
        Assert.Equal([(2L, "a")], machine.Applied);
    }

    [Fact]
    public async Task Commands_taken_in_together_travel_in_one_AppendEntries()
    {
        var storage = new BlockingStorage();
        var (node, peers) = StartLeader(storage);
        var client = CreateTestProbe();

        // The node is held inside the write of "z" while a, b and c arrive: they are proposed in
        // one go, and the replication that follows carries all three.
        storage.BlockNextWrite();
        var first = Task.Run(() => node.Tell(Command("z"), client.Ref));
        Assert.True(storage.WaitUntilBlocked(Bound), "the node never started the write of z");
        foreach (var text in new[] { "a", "b", "c" })
            node.Tell(Command(text), client.Ref);
        storage.Release();
        await first.WaitAsync(Bound);
        Settle(node);

        foreach (var (id, peer) in peers)
        {
            var ofZ = peer.ExpectMsg<AppendEntries>();
            Assert.Equal(["z"], ofZ.Entries.Select(TextOf));
            Acknowledge(node, id, ofZ);
            var batch = peer.ExpectMsg<AppendEntries>();
            Assert.Equal(["a", "b", "c"], batch.Entries.Select(TextOf));
            Assert.Equal(2, batch.PrevLogIndex);
        }

        AssertSilent(peers.Values.ToArray());
    }

    [Fact]
    public void Commands_that_wait_for_a_full_window_travel_together_when_it_opens()
    {
        var settings = new RaftSettings(ElectionMin, ElectionMax, Heartbeat, 1, new ReplicationLimits(512, 1 << 20, MaxAppendsInFlight: 1), preVote: false, checkQuorum: false);
        var (node, peers) = StartLeader(new InMemoryRaftStorage(), settings: settings, acknowledgeNoOp: false);
        var noOpToN2 = peers["n2"].LastMessage as AppendEntries;
        Assert.NotNull(noOpToN2);
        var client = CreateTestProbe();

        foreach (var text in new[] { "a", "b", "c" })
            node.Tell(Command(text), client.Ref);
        Settle(node);
        AssertSilent(peers.Values.ToArray()); // the no-op is still unacknowledged everywhere

        Acknowledge(node, "n2", noOpToN2!);

        var batch = peers["n2"].ExpectMsg<AppendEntries>();
        Assert.Equal(["a", "b", "c"], batch.Entries.Select(TextOf));
        Assert.Equal(1, batch.PrevLogIndex);
        Settle(node);
        AssertSilent(peers["n3"]);
    }

    [Theory]
    [InlineData(RaftRole.Follower)]
    [InlineData(RaftRole.Candidate)]
    public void A_node_that_knows_no_leader_answers_NotLeader_without_one(RaftRole role)
    {
        var (node, _) = StartNode(new InMemoryRaftStorage());
        if (role == RaftRole.Candidate)
            TimeOutElection(node);
        Assert.Equal(role, Settle(node).Role);
        var client = CreateTestProbe();

        node.Tell(Command("a"), client.Ref);
        Assert.Equal(new NotLeader(null, null), client.ExpectMsg<NotLeader>());
        node.Tell(new ClientQuery("q"), client.Ref);
        Assert.Equal(new NotLeader(null, null), client.ExpectMsg<NotLeader>());
        Assert.Equal(0, Settle(node).LastLogIndex);
    }

    [Fact]
    public void A_follower_answers_NotLeader_with_the_leaders_id_and_path()
    {
        var (node, peers) = StartNode(new InMemoryRaftStorage());
        node.Tell(new AppendEntries(1, "n2", 0, 0, [], 0));
        peers["n2"].ExpectMsg<AppendEntriesResult>();
        var client = CreateTestProbe();

        node.Tell(Command("a"), client.Ref);
        Assert.Equal(new NotLeader("n2", peers["n2"].Ref.Path), client.ExpectMsg<NotLeader>());
        node.Tell(new AddMember("n4", null), client.Ref);
        Assert.Equal(new NotLeader("n2", peers["n2"].Ref.Path), client.ExpectMsg<NotLeader>());

        Assert.Equal(0, Settle(node).LastLogIndex);
        AssertSilent(peers.Values.ToArray());
    }

    [Fact]
    public void With_forward_to_leader_a_follower_forwards_so_that_the_leader_answers_the_original_sender()
    {
        var settings = new RaftSettings(ElectionMin, ElectionMax, Heartbeat, 1, forwardToLeader: true);
        var (node, peers) = StartNode(new InMemoryRaftStorage(), settings);
        var client = CreateTestProbe();

        // No leader known yet: nothing to forward to.
        node.Tell(Command("a"), client.Ref);
        Assert.Equal(new NotLeader(null, null), client.ExpectMsg<NotLeader>());

        node.Tell(new AppendEntries(1, "n2", 0, 0, [], 0));
        peers["n2"].ExpectMsg<AppendEntriesResult>();

        var command = Command("b", "c1", 1);
        node.Tell(command, client.Ref);
        Assert.Same(command, peers["n2"].ExpectMsg<ClientCommand>());
        Assert.Equal(client.Ref, peers["n2"].LastSender);
        peers["n2"].Reply(new CommandApplied(1, "b#1")); // the leader answers whoever sent it
        Assert.Equal(new CommandApplied(1, "b#1"), client.ExpectMsg<CommandApplied>());

        var change = new RemoveMember("n3");
        node.Tell(change, client.Ref);
        Assert.Same(change, peers["n2"].ExpectMsg<RemoveMember>());
        Assert.Equal(client.Ref, peers["n2"].LastSender);
        Assert.False(client.HasMessages);
    }

    [Fact]
    public void A_leader_that_steps_down_answers_every_pending_command_with_CommandOutcomeUnknown()
    {
        var (node, peers) = StartLeader(new InMemoryRaftStorage());
        var first = CreateTestProbe();
        var second = CreateTestProbe();
        node.Tell(Command("a"), first.Ref);
        node.Tell(Command("b"), second.Ref);
        Assert.Equal(3, Settle(node).LastLogIndex);

        node.Tell(new AppendEntries(2, "n3", 0, 0, [], 0));

        first.ExpectMsg<CommandOutcomeUnknown>();
        second.ExpectMsg<CommandOutcomeUnknown>();
        Assert.Equal(new RaftStatus("n1", RaftRole.Follower, 2, "n3", null, LastLogIndex: 3, CommitIndex: 1), Settle(node) with { LastApplied = 0 });

        // Later entries are committed by the new leader; the old clients were answered once.
        node.Tell(new AppendEntries(2, "n3", 3, 1, [], LeaderCommit: 3));
        SettleWithApplier(node);
        Assert.False(first.HasMessages);
        Assert.False(second.HasMessages);
    }

    // Thesis §6.3: a command retried in its client session — the same (clientId, sequence) — is
    // applied once; every copy is answered with the first application's result.
    [Fact]
    public void The_same_session_command_proposed_twice_applies_once_and_both_get_the_first_result()
    {
        var machine = new ListStateMachine();
        var (node, peers) = StartLeader(new InMemoryRaftStorage(), () => machine);
        var first = CreateTestProbe();
        var retry = CreateTestProbe();
        var other = CreateTestProbe();

        node.Tell(Command("a", "c1", 1), first.Ref);
        node.Tell(Command("a", "c1", 1), retry.Ref);
        node.Tell(Command("a", "c2", 1), other.Ref); // another session: a command of its own
        Assert.Equal(4, Settle(node).LastLogIndex);

        // n2 acknowledges each message; the entries that wait for an answer follow it.
        AppendEntries last;
        do
        {
            last = peers["n2"].ExpectMsg<AppendEntries>();
            Acknowledge(node, "n2", last);
        }
        while (last.PrevLogIndex + last.Entries.Count < 4);

        Assert.Equal(new CommandApplied(2, "a#1"), first.ExpectMsg<CommandApplied>());
        Assert.Equal(new CommandApplied(2, "a#1"), retry.ExpectMsg<CommandApplied>());
        Assert.Equal(new CommandApplied(4, "a#2"), other.ExpectMsg<CommandApplied>());
        Assert.Equal([(2L, "a"), (4L, "a")], machine.Applied);
    }

    [Fact]
    public void RaftStatus_reports_the_last_log_index_the_commit_index_and_the_last_applied_index()
    {
        var (node, peers) = StartLeader(new InMemoryRaftStorage(), () => new ListStateMachine());
        Assert.Equal(new RaftStatus("n1", RaftRole.Leader, 1, "n1", "n1", LastLogIndex: 1, CommitIndex: 1), Settle(node) with { LastApplied = 0 });
        var client = CreateTestProbe();

        node.Tell(Command("a"), client.Ref);
        var toN2 = peers["n2"].ExpectMsg<AppendEntries>();
        Assert.Equal(2, toN2.Entries.Single().Index);
        node.Tell(Command("b"), client.Ref); // waits for the answer to "a"'s message
        Assert.Equal(new RaftStatus("n1", RaftRole.Leader, 1, "n1", "n1", LastLogIndex: 3, CommitIndex: 1), Settle(node) with { LastApplied = 0 });

        Acknowledge(node, "n2", toN2);
        client.ExpectMsg<CommandApplied>();
        SettleWithApplier(node);
        Assert.Equal(new RaftStatus("n1", RaftRole.Leader, 1, "n1", "n1", LastLogIndex: 3, CommitIndex: 2, LastApplied: 2), Settle(node));

        // A follower's view: what it holds, what the leader said is committed, what it applied.
        var (follower, followerPeers) = StartNode(new InMemoryRaftStorage(), name: "f1", stateMachineFactory: () => new ListStateMachine());
        var entries = new[] { "x", "y", "z" }.Select((t, i) => new LogEntry(i + 1, 1, EntryOf(t))).ToList();
        follower.Tell(new AppendEntries(1, "n2", 0, 0, entries, LeaderCommit: 2));
        followerPeers["n2"].ExpectMsg<AppendEntriesResult>();
        SettleWithApplier(follower);
        Assert.Equal(new RaftStatus("n1", RaftRole.Follower, 1, "n2", null, LastLogIndex: 3, CommitIndex: 2, LastApplied: 2), Settle(follower));
    }
}
