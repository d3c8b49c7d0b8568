using RaftActors.Simulation;
using Xunit.Abstractions;

namespace RaftActors.Tests.Simulation;

/// <summary>
/// The simulator proves it catches bugs: each known Raft bug, given to every node's protocol as a
/// faulty rule (the simulation's <c>FaultyRules</c>), to a host component the simulator shares with RaftNode, or to its
/// simulated host, must make the CI budget's schedules
/// report a broken invariant — one of Raft's properties, not merely a guard of the protocol
/// throwing (a follower asked to cut a committed entry refuses). The batch stops at the first
/// seed that breaks one.
/// </summary>
[Collection(SimulationCollection.Name)]
public sealed class BugInjectionTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(SimulatedBug.CommitOldTermByCounting)]
    [InlineData(SimulatedBug.SendVoteBeforeDurable)]
    [InlineData(SimulatedBug.StayLeaderOnHigherTerm)]
    [InlineData(SimulatedBug.TruncateOnStaleAppend)]
    [InlineData(SimulatedBug.ServeReadsLocally)]
    [InlineData(SimulatedBug.SnapshotAnswerAfterProtocol)]
    [InlineData(SimulatedBug.ApplyConfigurationOnCommit)]
    [InlineData(SimulatedBug.AllowConcurrentMembershipChanges)]
    [InlineData(SimulatedBug.WriteDuplicateSnapshotChunks)]
    [InlineData(SimulatedBug.ServeFollowerReadsBeforeCommit)]
    [InlineData(SimulatedBug.LeaseOutlivesElectionTimeout)]
    public void TheBudget_FindsTheInjectedBug(SimulatedBug bug)
    {
        var report = SimulationBatch.Run(SimulationBudgetTests.Budget(bug), Environment.ProcessorCount, stopWhen: SimulationBatch.BrokeAnInvariant);

        var first = report.Failures.FirstOrDefault(SimulationBatch.BrokeAnInvariant);
        Assert.True(first is not null, $"{report.Schedules} schedules with {bug} broke no invariant");
        output.WriteLine($"{bug}: found after {report.Schedules} schedules ({report.Elapsed.TotalSeconds:0.0} s) by seed {first.Options.Seed}: " +
                         $"{first.Failure!.Message}{Environment.NewLine}replay: {first.Options.ReplayCommand()}");
    }

    [Fact]
    public void WithoutBugs_TheSeedsThatFindThemPass()
    {
        // The failures above come from the bugs, not from the schedules: the first seeds pass clean.
        var report = SimulationBatch.Run(SimulationBudgetTests.Budget().Take(50), Environment.ProcessorCount);

        Assert.Empty(report.Failures.Select(f => $"seed {f.Options.Seed}: {f.Failure!.Message}"));
    }
}
