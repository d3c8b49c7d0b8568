using System.Diagnostics;
using RaftActors.Linearizability;
using Xunit.Abstractions;

namespace RaftActors.Tests.Linearizability;

/// <summary>
/// Histories recorded from a real sequential execution with random overlaps must pass; the same
/// histories with one read made impossible must fail, with a counterexample that holds the bad
/// read. Seeds are printed; RAFT_TEST_SEED replays one.
/// </summary>
public sealed class RandomHistoryTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(20);

    [Fact]
    public void Histories_of_a_sequential_execution_are_linearizable_and_one_impossible_read_makes_them_fail()
    {
        var baseSeed = Seed();
        var shrunk = new List<int>();
        for (var run = 0; run < 150; run++)
        {
            var seed = baseSeed + run;
            var random = new Random(seed);
            var options = new RandomHistories.Options(
                Operations: 20 + random.Next(180), Keys: 1 + random.Next(3), Clients: 2 + random.Next(6), UnknownRate: random.Next(3) * 0.05);
            var history = RandomHistories.Generate(random, options);
            var replay = $"seed {seed} ({options}); replay with RAFT_TEST_SEED={seed}";

            var result = LinearizabilityChecker.Check(history, Budget);
            Assert.True(result.Verdict == LinearizabilityVerdict.Ok, $"{replay}\n{result}");

            var (mutated, bad) = RandomHistories.MutateARead(random, history);
            var failure = LinearizabilityChecker.Check(mutated, Budget);
            Assert.True(failure.Verdict == LinearizabilityVerdict.NotLinearizable, $"{replay}: mutated {bad}\n{failure}");
            Assert.True(failure.Key == bad.Key, $"{replay}: mutated {bad}\n{failure}");
            Assert.True(failure.Counterexample.Contains(bad), $"{replay}: the counterexample misses the impossible read {bad}\n{failure}");
            var alone = LinearizabilityChecker.Check(failure.Counterexample, Budget);
            Assert.True(alone.Verdict == LinearizabilityVerdict.NotLinearizable, $"{replay}: the counterexample alone is {alone}");
            shrunk.Add(failure.Counterexample.Count);
        }

        output.WriteLine($"seeds {baseSeed}..{baseSeed + 149}: every history linearizable, every mutated one not; " +
                         $"counterexamples of {shrunk.Min()}-{shrunk.Max()} operations (mean {shrunk.Average():F1})");
        Assert.True(shrunk.Average() < 5, $"seeds {baseSeed}..{baseSeed + 149}: counterexamples of {shrunk.Average():F1} operations on average are not small");
    }

    [Fact]
    public void Two_thousand_operations_of_ten_clients_on_five_keys_check_within_a_second()
    {
        var seed = Seed();
        var history = RandomHistories.Generate(new Random(seed), new RandomHistories.Options(Operations: 2000, Keys: 5, Clients: 10, UnknownRate: 0.02));
        LinearizabilityChecker.Check(history, Budget); // the code is compiled before the clock starts

        var clock = Stopwatch.StartNew();
        var result = LinearizabilityChecker.Check(history, TimeSpan.FromSeconds(1));
        output.WriteLine($"seed {seed}: {result.Summary} (wall clock {clock.ElapsedMilliseconds} ms)");
        Assert.True(result.Verdict == LinearizabilityVerdict.Ok, $"seed {seed} (replay with RAFT_TEST_SEED={seed}): {result}");
    }

    /// <summary>RAFT_TEST_SEED when set (to replay a run), else a fresh seed.</summary>
    private static int Seed() =>
        int.TryParse(Environment.GetEnvironmentVariable("RAFT_TEST_SEED"), out var seed) ? seed : Random.Shared.Next(1, int.MaxValue / 2);
}
