using RaftActors.Core;
using static RaftActors.Tests.Core.ProtocolTestKit;

namespace RaftActors.Tests.Core;

/// <summary>
/// Thesis §6.3: a leader stamps the entries it appends with cluster time (the highest stamp in its
/// log, else the host's wall clock, advanced by a monotonic clock), and its term's no-op carries its
/// client session policy; one switch (StampEntries) turns both off, and a policy held back goes on
/// the first entry stamped in the term.
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

    [Fact]
    public void A_leader_s_stamps_advance_by_the_monotonic_clock_and_ignore_a_wall_clock_jump()
    {
        var (wall, monotonic) = (1_000_000L, 50L);
        var leader = Leader(() => wall, stamp: true, monotonic: () => monotonic);
        (wall, monotonic) = (wall + 3_600_000, monotonic + 2_000); // the wall clock jumps an hour ahead

        leader.Propose(Command("x"));
        wall -= 7_200_000; // and two hours back
        monotonic += 500;
        leader.Propose(Command("y"));

        Assert.Equal([1_000_000L, 1_002_000, 1_002_500], [leader.Log[1].Timestamp!.Value, leader.Log[2].Timestamp!.Value, leader.Log[3].Timestamp!.Value]);
    }

    [Fact]
    public void A_new_leader_continues_from_the_highest_stamp_in_its_log_whatever_its_wall_clock_says()
    {
        // The log a first leader stamped, as the next one holds it (itself a voter of the cluster
        // it restarts into, the only one, so it elects itself).
        var log = new List<LogEntry>
        {
            new(1, 1, null) { Timestamp = 5_000, SessionPolicy = Policy },
            new(2, 1, Command("x")) { Timestamp = 9_000 },
            new(3, 1, Command("y")),
        };
        foreach (var wall in new[] { 1_000L, 3_600_000_000L }) // its wall clock far behind, then far ahead
        {
            var monotonic = 777L;
            var leader = Leader(() => wall, stamp: true, monotonic: () => monotonic, log: log, term: 1);
            monotonic += 250;
            leader.Propose(Command("z"));

            Assert.Equal([9_000L, 9_250], [leader.Log[4].Timestamp!.Value, leader.Log[5].Timestamp!.Value]);
        }
    }

    [Fact]
    public void A_new_leader_whose_wall_clock_is_far_ahead_does_not_expire_a_session_early()
    {
        var minute = new SessionPolicy(TimeSpan.FromMinutes(1), 1000);
        var log = new List<LogEntry>
        {
            new(1, 1, null) { Timestamp = 5_000, SessionPolicy = minute },
            new(2, 1, new EntryCommand(0, "text", [1], "c", 1)) { Timestamp = 9_000 },
        };
        var monotonic = 0L;
        var leader = Leader(() => 9_000 + 3_600_000, stamp: true, monotonic: () => monotonic, log: log, term: 1);
        monotonic += 250;
        leader.Propose(new EntryCommand(0, "text", [2], "c", 2));

        var sessions = new RaftActors.StateMachine.ClientSessions();
        var replies = Enumerable.Range(1, (int)leader.Log.LastIndex)
            .Select(index => sessions.Apply(leader.Log[index], (_, _) => new RaftActors.Messages.CommandApplied(index, null)))
            .ToList();

        Assert.Equal(new RaftActors.Messages.CommandApplied(4, null), replies[^1]);
        Assert.Equal(9_250, sessions.Now);
    }

    [Fact]
    public void Stamps_never_decrease_across_leader_changes()
    {
        var log = new List<LogEntry>();
        var random = new Random(7);
        var lastStamp = 0L;
        for (var term = 0; term < 20; term++)
        {
            // Each leader's wall clock is anywhere within a day of the truth, and its monotonic clock
            // has an origin of its own.
            var wall = 1_767_225_600_000L + random.NextInt64(-86_400_000, 86_400_000);
            var monotonic = random.NextInt64(0, 1L << 40);
            var leader = Leader(() => wall, stamp: true, monotonic: () => monotonic, log: log, term: term);
            for (var i = 0; i < 3; i++)
            {
                monotonic += random.Next(0, 1000);
                leader.Propose(Command($"t{term}-{i}"));
            }

            log = Enumerable.Range(1, (int)leader.Log.LastIndex).Select(index => leader.Log[index]).ToList();
            var stamps = log.Select(e => e.Timestamp!.Value).ToList();
            Assert.True(stamps.Zip(stamps.Skip(1)).All(p => p.First <= p.Second), $"term {term}: stamps {string.Join(", ", stamps)}");
            Assert.True(stamps[^1] >= lastStamp);
            lastStamp = stamps[^1];
        }
    }

    [Fact]
    public void The_minimum_idle_age_is_left_out_of_the_policy_until_every_member_reads_it_then_written()
    {
        var minIdle = new SessionPolicy(TimeSpan.FromMinutes(5), 42, TimeSpan.FromSeconds(15));
        var readable = false;
        var leader = Leader(() => 1_000, () => true, policy: minIdle, minIdleReadable: () => readable);
        leader.Propose(Command("x"));
        readable = true; // every member now reads the minimum idle age

        leader.Propose(Command("y"));
        leader.Propose(Command("z"));

        Assert.Equal(new SessionPolicy(TimeSpan.FromMinutes(5), 42), leader.Log[1].SessionPolicy);
        Assert.Null(leader.Log[2].SessionPolicy);
        Assert.Equal(minIdle, leader.Log[3].SessionPolicy);
        Assert.Null(leader.Log[4].SessionPolicy);
    }

    private static RaftProtocol Leader(Func<long>? clock, bool stamp, Func<long>? monotonic = null, IReadOnlyList<LogEntry>? log = null, long term = 0) =>
        Leader(clock, () => stamp, monotonic: monotonic, log: log, term: term);

    private static RaftProtocol Leader(
        Func<long>? clock, Func<bool> stamp, SessionPolicy? policy = null, Func<bool>? minIdleReadable = null, Func<long>? monotonic = null,
        IReadOnlyList<LogEntry>? log = null, long term = 0)
    {
        var node = new RaftProtocol(Self, ClusterConfiguration.OfVoters([Self]), new HardState(term, null), Timeouts(), Heartbeat, log ?? [])
        {
            Clock = clock,
            MonotonicClock = monotonic,
            SessionPolicy = policy ?? Policy,
            StampEntries = stamp,
            SessionMinIdle = minIdleReadable ?? (() => true),
        };
        node.Start();
        node.ElectionTimeoutElapsed();
        Assert.Equal(RaftRole.Leader, node.Role);
        return node;
    }
}
