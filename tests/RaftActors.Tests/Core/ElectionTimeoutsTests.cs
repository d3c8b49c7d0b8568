using RaftActors.Core;

namespace RaftActors.Tests.Core;

/// <summary>Randomized election timeouts: the mechanism that makes split votes rare (§5.2).</summary>
public class ElectionTimeoutsTests
{
    private static readonly TimeSpan Min = TimeSpan.FromMilliseconds(150);
    private static readonly TimeSpan Max = TimeSpan.FromMilliseconds(300);

    // Raft §5.2: "election timeouts are chosen randomly from a fixed interval (e.g., 150-300ms)".
    // Every draw lies in [min, max); max itself is never drawn.
    [Theory]
    [InlineData(1)]
    [InlineData(42)]
    [InlineData(20240601)]
    public void EveryTimeout_LiesInMinInclusiveMaxExclusive_5_2(int seed)
    {
        var timeouts = new ElectionTimeouts(Min, Max, new Random(seed));

        for (var i = 0; i < 10_000; i++)
        {
            var t = timeouts.Next();
            Assert.True(t >= Min && t < Max, $"seed {seed}, draw {i}: {t.TotalMilliseconds} ms is outside [150, 300) ms");
        }
    }

    // Raft §5.2, after etcd testNonleaderElectionTimeoutRandomized ("every timeout value in
    // [et, 2et) occurs"): the draws spread over the whole interval. 10,000 draws in 10 buckets of
    // 15 ms: each bucket expects 1,000 (standard deviation ~30); every bucket must be hit and none
    // may hold fewer than 800 or more than 1,200, which a uniform draw misses with probability
    // ~1e-10 while a skewed or truncated range (e.g. only [min, (min+max)/2)) fails at once.
    [Theory]
    [InlineData(1)]
    [InlineData(42)]
    [InlineData(20240601)]
    public void Timeouts_SpreadUniformlyOverTheWholeInterval_5_2(int seed)
    {
        const int draws = 10_000;
        const int buckets = 10;
        var timeouts = new ElectionTimeouts(Min, Max, new Random(seed));
        var counts = new int[buckets];
        var width = (Max - Min).Ticks / buckets;

        for (var i = 0; i < draws; i++)
            counts[(int)((timeouts.Next() - Min).Ticks / width)]++;

        var histogram = string.Join(", ", counts);
        for (var b = 0; b < buckets; b++)
        {
            Assert.True(counts[b] >= 800 && counts[b] <= 1_200,
                $"seed {seed}: bucket {b} ([{150 + 15 * b}, {165 + 15 * b}) ms) got {counts[b]} of {draws} draws; histogram {histogram}");
        }
    }

    // Raft §5.2, etcd's "every timeout value in [et, 2et) occurs" at millisecond resolution: all
    // 150 whole-millisecond values of [150, 300) occur in 10,000 draws (~67 expected each).
    [Theory]
    [InlineData(1)]
    [InlineData(42)]
    public void EveryMillisecondOfTheInterval_Occurs_5_2(int seed)
    {
        var timeouts = new ElectionTimeouts(Min, Max, new Random(seed));
        var seen = new HashSet<int>();

        for (var i = 0; i < 10_000; i++)
            seen.Add((int)Math.Floor(timeouts.Next().TotalMilliseconds));

        var missing = Enumerable.Range(150, 150).Where(ms => !seen.Contains(ms)).ToList();
        Assert.True(missing.Count == 0, $"seed {seed}: never drew {string.Join(", ", missing)} ms");
        Assert.True(seen.Count == 150, $"seed {seed}: drew values outside [150, 300) ms");
    }

    // Successive draws differ: the timeout is drawn anew for every reset, not once per node.
    [Fact]
    public void EachResetDrawsAFreshTimeout_5_2()
    {
        const int seed = 3;
        var timeouts = new ElectionTimeouts(Min, Max, new Random(seed));

        var draws = Enumerable.Range(0, 100).Select(_ => timeouts.Next()).ToList();

        Assert.True(draws.Distinct().Count() > 90, $"seed {seed}: only {draws.Distinct().Count()} distinct values in 100 draws");
    }

    [Fact]
    public void AOneTickInterval_AlwaysYieldsMin()
    {
        var min = TimeSpan.FromMilliseconds(10);
        var timeouts = new ElectionTimeouts(min, min + TimeSpan.FromTicks(1), new Random(5));

        for (var i = 0; i < 100; i++)
            Assert.Equal(min, timeouts.Next());
    }

    [Theory]
    [InlineData(0, 300)]    // min must be positive
    [InlineData(-5, 300)]
    [InlineData(300, 300)]  // the interval must not be empty
    [InlineData(300, 150)]  // nor reversed
    [InlineData(150, 0)]
    public void InvalidMinOrMax_IsRejected(int minMs, int maxMs)
    {
        var e = Assert.Throws<ArgumentException>(() =>
            new ElectionTimeouts(TimeSpan.FromMilliseconds(minMs), TimeSpan.FromMilliseconds(maxMs), new Random(1)));
        Assert.Contains("min", e.Message);
    }

    [Fact]
    public void MinAndMax_AreExposedAsGiven()
    {
        var timeouts = new ElectionTimeouts(Min, Max, new Random(1));

        Assert.Equal(Min, timeouts.Min);
        Assert.Equal(Max, timeouts.Max);
    }

    // ---- etcd TestFollowersElectionTimeoutNonconflict / TestCandidatesElectionTimeoutNonconflict ----
    //
    // Raft §5.2: "in most cases only a single server will time out; it wins the election and sends
    // heartbeats before any other servers time out". Five nodes (each with its own seed) draw a
    // timeout per round; the round is a conflict when another node times out "together" with the
    // first one, i.e. before the first candidate's RequestVote can reach it and reset its timer.
    //
    // What "together" means is the whole question, so it is a parameter:
    //
    // * etcd counts time in ticks and draws from [et, 2et) with et = 10 ticks, i.e. 10 distinct
    //   values; nodes conflict when the earliest tick is shared. With [150, 300) ms that is 15 ms
    //   ticks. P(conflict) = 1 - 5/10 * sum_{j<10} (j/10)^4 = 23.3%, hence etcd's 30% bound.
    // * Our timers are not ticked: a node's timer fires at its own drawn instant, so the honest
    //   window is the one-way delivery time of a RequestVote. 1 ms is generous for loopback or a
    //   LAN. Two nodes conflict when the second-earliest timeout is within 1 ms of the earliest:
    //   P = 1 - (1 - 1/150)^5 = 3.3%. We keep etcd's 30% as the documented bar and also require
    //   10%, which is 3 times the expectation and still ~12 standard deviations away for 1,000
    //   rounds, so the bound is deterministic for these seeds yet fails for a coarse or shared
    //   random source (see IdenticalSeeds_AlwaysConflict below).

    /// <summary>Counts the rounds in which the two earliest of the nodes' timeouts collide.</summary>
    private static int CountConflicts(IReadOnlyList<ElectionTimeouts> nodes, int rounds, Func<TimeSpan, TimeSpan, bool> together)
    {
        var conflicts = 0;
        for (var round = 0; round < rounds; round++)
        {
            var drawn = nodes.Select(n => n.Next()).Order().ToList();
            if (together(drawn[0], drawn[1]))
                conflicts++;
        }

        return conflicts;
    }

    private static List<ElectionTimeouts> FiveNodes(int baseSeed) =>
        Enumerable.Range(0, 5).Select(k => new ElectionTimeouts(Min, Max, new Random(baseSeed * 7919 + k))).ToList();

    private static bool SameEtcdTick(TimeSpan first, TimeSpan second)
    {
        var tick = TimeSpan.FromMilliseconds(15); // (max - min) / 10: etcd's 10 ticks per [et, 2et)
        return (first - Min).Ticks / tick.Ticks == (second - Min).Ticks / tick.Ticks;
    }

    private static bool WithinOneMillisecond(TimeSpan first, TimeSpan second) =>
        second - first < TimeSpan.FromMilliseconds(1);

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public void ElectionTimeoutNonConflict_AtEtcdTickResolution_AtMost30Percent_5_2(int baseSeed)
    {
        const int rounds = 1_000;

        var conflicts = CountConflicts(FiveNodes(baseSeed), rounds, SameEtcdTick);

        Assert.True(conflicts <= 0.30 * rounds,
            $"base seed {baseSeed}: {conflicts} of {rounds} rounds had two nodes time out in the same 15 ms tick (expected ~233, bound 300)");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public void ElectionTimeoutNonConflict_AtMillisecondResolution_5_2(int baseSeed)
    {
        const int rounds = 1_000;

        var conflicts = CountConflicts(FiveNodes(baseSeed), rounds, WithinOneMillisecond);

        Assert.True(conflicts <= 0.30 * rounds,
            $"base seed {baseSeed}: {conflicts} of {rounds} rounds had two nodes time out within 1 ms (etcd bound 30%)");
        Assert.True(conflicts <= 0.10 * rounds,
            $"base seed {baseSeed}: {conflicts} of {rounds} rounds had two nodes time out within 1 ms (expected ~33, bound 100)");
    }

    // The conflict detector above is able to fail: nodes sharing a seed draw identical timeouts
    // and collide in every round. (This is why raft.random-seed must differ between nodes.)
    [Fact]
    public void IdenticalSeeds_AlwaysConflict_5_2()
    {
        const int seed = 11;
        var nodes = Enumerable.Range(0, 5).Select(_ => new ElectionTimeouts(Min, Max, new Random(seed))).ToList();

        Assert.Equal(100, CountConflicts(nodes, 100, WithinOneMillisecond));
        Assert.Equal(100, CountConflicts(nodes, 100, SameEtcdTick));
    }
}
