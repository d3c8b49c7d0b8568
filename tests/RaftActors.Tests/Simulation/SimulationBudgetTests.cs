using RaftActors.Simulation;
using Xunit.Abstractions;

namespace RaftActors.Tests.Simulation;

/// <summary>
/// The CI budget of the deterministic simulator: 2,000 seeded schedules over clusters that start
/// with 3, 5 and 7 nodes, each with at least 200 client operations and 20 faults, every invariant
/// checked after every step, liveness whenever a majority is left alone and after the final heal,
/// and every history linearizable — within 3 minutes on 2 cores. A failing seed prints the command
/// that replays it. Nodes snapshot and compact their logs every 5 to 40 entries, so the budget also
/// runs log compaction: snapshots taken, sent through InstallSnapshot and installed, and restarts
/// from a snapshot, all of which must happen. Every schedule also changes its membership among its
/// faults: servers join and are added as learners and promoted to voters, members (leaders too) are
/// removed, servers replaced, leadership handed over — all of which must happen too.
/// </summary>
[Collection(SimulationCollection.Name)]
public sealed class SimulationBudgetTests(ITestOutputHelper output)
{
    public const int Schedules = 2000;
    private static readonly TimeSpan TimeBudget = TimeSpan.FromMinutes(3);

    /// <summary>The budget's schedules: seeds 1..2000, the cluster size cycling 3, 5, 7.</summary>
    public static IEnumerable<SimulationOptions> Budget(SimulatedBug bug = SimulatedBug.None) =>
        Enumerable.Range(1, Schedules).Select(seed => SimulationOptions.ForSeed(seed, bug));

    [Fact]
    public void TwoThousandSchedules_WithCrashesPartitionsAndStorms_KeepEveryInvariant()
    {
        var report = SimulationBatch.Run(Budget(), Environment.ProcessorCount);

        output.WriteLine(report.Summary);
        foreach (var failure in report.Failures)
            output.WriteLine($"seed {failure.Options.Seed}: {failure.Failure!.Message}{Environment.NewLine}  replay: {failure.Options.ReplayCommand()}");
        Assert.True(report.Failures.Count == 0,
            $"{report.Failures.Count} schedules failed; the first: seed {report.Failures.FirstOrDefault()?.Options.Seed}: " +
            $"{report.Failures.FirstOrDefault()?.Failure!.Message}{Environment.NewLine}replay: {report.Failures.FirstOrDefault()?.Options.ReplayCommand()}");
        Assert.Equal(Schedules, report.Schedules);
        Assert.True(report.MinClientOperations >= 200, $"a schedule ran only {report.MinClientOperations} client operations");
        Assert.True(report.MinFaults >= 20, $"a schedule injected only {report.MinFaults} faults");
        Assert.All(report.FaultsByKind, count => Assert.True(count > 0, "every kind of fault is injected"));
        AssertCompactionExercised(report.Snapshots, Schedules);
        Assert.True(report.Reads.ByFollowers >= 10L * Schedules, $"followers served only {report.Reads.ByFollowers} reads in {Schedules} schedules");
        Assert.True(report.Reads.ByLeaders >= 10L * Schedules, $"leaders served only {report.Reads.ByLeaders} reads in {Schedules} schedules");
        Assert.Equal(Schedules, report.SchedulesWithMembership);
        AssertMembershipExercised(report.Membership, Schedules);
        Assert.True(report.Elapsed < TimeBudget, $"the budget took {report.Elapsed.TotalSeconds:0} s, over {TimeBudget.TotalSeconds:0} s");
    }

    /// <summary>
    /// Log compaction is not a corner of the budget: most schedules take snapshots many times, and
    /// leaders send them to followers that lag or restarted, and nodes restart from them.
    /// </summary>
    internal static void AssertCompactionExercised(SnapshotCounts snapshots, int schedules)
    {
        Assert.True(snapshots.Taken >= 10L * schedules, $"only {snapshots.Taken} snapshots taken in {schedules} schedules");
        Assert.True(snapshots.Installed >= schedules / 2, $"only {snapshots.Installed} snapshots installed through InstallSnapshot in {schedules} schedules");
        Assert.True(snapshots.RestartsFromSnapshot >= schedules, $"only {snapshots.RestartsFromSnapshot} restarts from a snapshot in {schedules} schedules");
    }

    /// <summary>
    /// Membership is not a corner either: most schedules add and promote servers, remove members
    /// (the leader itself in a good share of them) and hand leadership over, several times each.
    /// </summary>
    internal static void AssertMembershipExercised(MembershipCounts membership, int schedules)
    {
        Assert.True(membership.Added >= 2L * schedules, $"only {membership.Added} servers added in {schedules} schedules");
        Assert.True(membership.Promoted >= 2L * schedules, $"only {membership.Promoted} learners promoted in {schedules} schedules");
        Assert.True(membership.Removed >= 2L * schedules, $"only {membership.Removed} members removed in {schedules} schedules");
        Assert.True(membership.LeadersRemoved >= schedules / 2, $"only {membership.LeadersRemoved} leaders removed in {schedules} schedules");
        Assert.True(membership.Transfers >= schedules, $"only {membership.Transfers} leadership transfers in {schedules} schedules");
    }
}
