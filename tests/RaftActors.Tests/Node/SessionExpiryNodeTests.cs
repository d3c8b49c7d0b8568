using Akka.Actor;
using Akka.TestKit;
using RaftActors.Core;
using RaftActors.Messages;
using RaftActors.Storage;

namespace RaftActors.Tests.Node;

/// <summary>
/// Session expiry at the node (thesis §6.3), in virtual time: the leader stamps its entries with
/// the scheduler's clock and writes its session policy into its no-op, and the applier forgets a
/// session idle longer than that policy's expiry by those stamps.
/// </summary>
public sealed class SessionExpiryNodeTests : ReplicationNodeTestKit
{
    private static readonly SessionPolicy Minute = new(TimeSpan.FromMinutes(1), 1000);

    [Fact]
    public void The_leader_stamps_its_entries_and_its_no_op_carries_its_session_policy()
    {
        var storage = new InMemoryRaftStorage();
        var (node, _) = StartLeader(storage, settings: Settings() with { Sessions = Minute });
        var elected = Scheduler.Now.ToUnixTimeMilliseconds();
        Advance(node, TimeSpan.FromSeconds(3));

        node.Tell(Command("a", "c1", 1), CreateTestProbe().Ref);
        AwaitCondition(() => storage.Entries.Count == 2, Bound);

        var (noOp, command) = (storage.Entries[0], storage.Entries[1]);
        Assert.Equal(((long?)elected, Minute), (noOp.Timestamp, noOp.SessionPolicy));
        Assert.Equal(((long?)elected + 3000, (SessionPolicy?)null), (command.Timestamp, command.SessionPolicy));
    }

    [Fact]
    public void A_session_idle_longer_than_the_expiry_is_refused_with_SessionExpired_and_its_command_not_applied()
    {
        var machine = new ListStateMachine();
        var (node, peers) = StartLeader(new InMemoryRaftStorage(), () => machine, Settings() with { Sessions = Minute });
        var client = CreateTestProbe();

        node.Tell(Command("a", "c1", 1), client.Ref);
        AcknowledgeThrough(node, peers["n2"], 2);
        Assert.Equal(new CommandApplied(2, "a#1"), client.ExpectMsg<CommandApplied>());

        // A minute of silence is not longer than the expiry: command 2 applies.
        Advance(node, TimeSpan.FromMinutes(1));
        node.Tell(Command("b", "c1", 2), client.Ref);
        AcknowledgeThrough(node, peers["n2"], 3);
        Assert.Equal(new CommandApplied(3, "b#2"), client.ExpectMsg<CommandApplied>());

        // A minute and a millisecond is: the stamp of the next entry forgets the session before
        // command 3 is looked at, so it is refused, not applied.
        Advance(node, TimeSpan.FromMinutes(1) + TimeSpan.FromMilliseconds(1));
        node.Tell(Command("c", "c1", 3), client.Ref);
        AcknowledgeThrough(node, peers["n2"], 4);
        var refused = client.ExpectMsg<SessionExpired>();
        Assert.Equal(4, refused.Index);
        Assert.Equal([(2L, "a"), (3L, "b")], machine.Applied);
    }

    [Fact]
    public void A_timed_state_machine_applies_each_command_at_the_stamp_the_leader_wrote_into_its_entry()
    {
        var machine = new TimedStateMachine();
        var (node, peers) = StartLeader(new InMemoryRaftStorage(), () => machine);
        var elected = Scheduler.Now.ToUnixTimeMilliseconds();
        var client = CreateTestProbe();

        Advance(node, TimeSpan.FromSeconds(3));
        node.Tell(Command("a"), client.Ref);
        AcknowledgeThrough(node, peers["n2"], 2);
        client.ExpectMsg<CommandApplied>();

        Advance(node, TimeSpan.FromSeconds(2));
        node.Tell(Command("b"), client.Ref);
        AcknowledgeThrough(node, peers["n2"], 3);
        client.ExpectMsg<CommandApplied>();

        var expected = new (long, DateTimeOffset?)[]
        {
            (2, DateTimeOffset.FromUnixTimeMilliseconds(elected + 3000)),
            (3, DateTimeOffset.FromUnixTimeMilliseconds(elected + 5000)),
        };
        Assert.Equal(expected, machine.Applied);
    }

    /// <summary>Records the cluster's time each command is applied at.</summary>
    private sealed class TimedStateMachine : RaftActors.StateMachine.ITimedStateMachine
    {
        private readonly List<(long Index, DateTimeOffset? Time)> _applied = new();

        public IReadOnlyList<(long Index, DateTimeOffset? Time)> Applied
        {
            get
            {
                lock (_applied)
                    return _applied.ToArray();
            }
        }

        public object? Apply(long index, object command, DateTimeOffset? time)
        {
            lock (_applied)
                _applied.Add((index, time));
            return null;
        }

        public object? Query(object query) => null;
    }

    /// <summary>n2 acknowledges what it was sent until the leader's log through <paramref name="index"/> is in one of its acknowledgements.</summary>
    private static void AcknowledgeThrough(IActorRef node, TestProbe n2, long index)
    {
        AppendEntries append;
        do
            append = n2.ExpectMsg<AppendEntries>();
        while (append.PrevLogIndex + append.Entries.Count < index);
        Acknowledge(node, "n2", append);
    }
}
