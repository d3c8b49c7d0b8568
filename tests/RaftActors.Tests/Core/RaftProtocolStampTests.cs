using RaftActors.Core;
using static RaftActors.Tests.Core.ProtocolTestKit;

namespace RaftActors.Tests.Core;

/// <summary>
/// Thesis §6.3: a leader stamps the entries it appends with the host's clock, and its term's no-op
/// carries its client session policy; one switch (StampEntries) turns both off, and a policy held
/// back goes on the first entry stamped in the term.
/// </summary>
public class RaftProtocolStampTests
{
    private static readonly SessionPolicy Policy = new(TimeSpan.FromMinutes(5), 42);

    [Fact]
    public void A_leader_stamps_each_entry_with_the_host_s_clock_and_its_no_op_carries_its_policy()
    {
        var now = 1_000L;
        var leader = Leader(() => now, stamp: true);
        now = 2_000;

        leader.Propose(Command("x"));

        var (noOp, command) = (leader.Log[1], leader.Log[2]);
        Assert.Equal(((long?)1_000, Policy), (noOp.Timestamp, noOp.SessionPolicy));
        Assert.Equal(((long?)2_000, (SessionPolicy?)null), (command.Timestamp, command.SessionPolicy));
    }

    [Fact]
    public void With_stamping_switched_off_a_leader_writes_neither_stamps_nor_its_policy()
    {
        var leader = Leader(() => 1_000, stamp: false);

        leader.Propose(Command("x"));

        Assert.All([leader.Log[1], leader.Log[2]], e => Assert.Equal((null, null), (e.Timestamp, e.SessionPolicy)));
    }

    [Fact]
    public void A_policy_held_back_with_the_stamps_rides_on_the_first_stamped_entry_of_the_term()
    {
        var stamp = false;
        var leader = Leader(() => 1_000, () => stamp);
        leader.Propose(Command("x"));
        stamp = true; // every member now reads the session fields

        leader.Propose(Command("y"));
        leader.Propose(Command("z"));

        Assert.Equal((null, null), (leader.Log[2].Timestamp, leader.Log[2].SessionPolicy));
        Assert.Equal(((long?)1_000, Policy), (leader.Log[3].Timestamp, leader.Log[3].SessionPolicy));
        Assert.Equal(((long?)1_000, (SessionPolicy?)null), (leader.Log[4].Timestamp, leader.Log[4].SessionPolicy));
    }

    [Fact]
    public void Without_a_clock_entries_are_not_stamped()
    {
        var leader = Leader(clock: null, stamp: true);

        leader.Propose(Command("x"));

        Assert.All([leader.Log[1], leader.Log[2]], e => Assert.Null(e.Timestamp));
    }

    private static RaftProtocol Leader(Func<long>? clock, bool stamp) => Leader(clock, () => stamp);

    private static RaftProtocol Leader(Func<long>? clock, Func<bool> stamp)
    {
        var node = new RaftProtocol(Self, ClusterConfiguration.OfVoters([Self]), HardState.Initial, Timeouts(), Heartbeat)
        {
            Clock = clock,
            SessionPolicy = Policy,
            StampEntries = stamp,
        };
        node.Start();
        node.ElectionTimeoutElapsed();
        Assert.Equal(RaftRole.Leader, node.Role);
        return node;
    }
}
