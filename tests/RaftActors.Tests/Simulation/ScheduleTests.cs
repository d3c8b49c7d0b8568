using RaftActors.Simulation;

namespace RaftActors.Tests.Simulation;

/// <summary>What one schedule does, and that its checks can fail.</summary>
[Collection(SimulationCollection.Name)]
public sealed class ScheduleTests
{
    [Fact]
    public void OneSchedule_RunsEveryKindOfOperationThroughFaults()
    {
        var result = ClusterSimulation.Run(SimulationOptions.ForSeed(1));

        Assert.Null(result.Failure);
        Assert.InRange(result.ClientOperations, 200, int.MaxValue);
        Assert.InRange(result.Faults, 20, int.MaxValue);
        Assert.True(result.LeaderTerms > 3, $"only {result.LeaderTerms} leader terms");
        var answered = result.History.Where(o => o.Result is not null).ToList();
        Assert.Contains(answered, o => o.Command.Kind == KvKind.Get && o.Result!.Value.Value is not null);
        Assert.Contains(answered, o => o.Command.Kind == KvKind.Put);
        Assert.Contains(answered, o => o.Command.Kind == KvKind.Delete);
        Assert.Contains(answered, o => o.Command.Kind == KvKind.CompareAndSet && o.Result!.Value.Ok);
        Assert.Contains(answered, o => o.Command.Kind == KvKind.CompareAndSet && !o.Result!.Value.Ok);
    }

    [Fact]
    public void TheSchedules_CompactLogsSendSnapshotsAndRestartFromThem()
    {
        // A few seeds' worth of the budget: snapshots taken, InstallSnapshot transfers completed,
        // restarts from a snapshot, and every invariant kept through them.
        var report = SimulationBatch.Run(SimulationBudgetTests.Budget().Take(40), Environment.ProcessorCount);

        Assert.Empty(report.Failures.Select(f => $"seed {f.Options.Seed}: {f.Failure!.Message}"));
        SimulationBudgetTests.AssertCompactionExercised(report.Snapshots, report.Schedules);
    }

    [Fact]
    public void TheSchedules_AddPromoteRemoveAndReplaceServersAndHandLeadershipOver()
    {
        // A few seeds' worth of the budget: servers join as learners and are promoted, members and
        // leaders are removed, leadership is handed over, and every invariant holds through it.
        var report = SimulationBatch.Run(SimulationBudgetTests.Budget().Take(40), Environment.ProcessorCount);

        Assert.Empty(report.Failures.Select(f => $"seed {f.Options.Seed}: {f.Failure!.Message}"));
        Assert.Equal(40, report.SchedulesWithMembership);
        SimulationBudgetTests.AssertMembershipExercised(report.Membership, report.Schedules);
    }

    [Fact]
    public void WithoutMembership_NoServerJoinsOrLeaves()
    {
        var result = ClusterSimulation.Run(SimulationOptions.ForSeed(1) with { Membership = false });

        Assert.Null(result.Failure);
        Assert.Equal(default, result.Membership);
        Assert.All(new[] { FaultKind.AddLearner, FaultKind.AddVoter, FaultKind.RemoveMember, FaultKind.ReplaceServer, FaultKind.TransferLeadership },
            kind => Assert.Equal(0, result.FaultsByKind[(int)kind]));
    }

    [Fact]
    public void WithoutSnapshots_NoNodeCompactsItsLog()
    {
        var result = ClusterSimulation.Run(SimulationOptions.ForSeed(1) with { Snapshots = RaftActors.Configuration.SnapshotSettings.Never });

        Assert.Null(result.Failure);
        Assert.Equal(default, result.Snapshots);
    }

    [Fact]
    public void TheLivenessCheck_FailsARunThatCannotElectALeaderInTime()
    {
        // No cluster elects a leader and commits within 10 ms of being left alone, or within 10 ms
        // more at the second look (timeouts are 150-300 ms).
        var result = ClusterSimulation.Run(SimulationOptions.ForSeed(1) with
        {
            LivenessBound = TimeSpan.FromMilliseconds(10),
            LivenessRecheck = TimeSpan.FromMilliseconds(10),
        });

        Assert.Equal("Liveness", result.Failure?.Invariant);
    }

    [Fact]
    public void TheLivenessCheck_LooksAgainOnce_BeforeItFailsARun()
    {
        // Left alone for 10 ms, no cluster has a leader yet; two election timeouts later it has.
        var result = ClusterSimulation.Run(SimulationOptions.ForSeed(1) with { LivenessBound = TimeSpan.FromMilliseconds(10) });

        Assert.Null(result.Failure);
    }

    [Fact]
    public void TheFinalOperations_MustBeAnsweredInTime()
    {
        var result = ClusterSimulation.Run(SimulationOptions.ForSeed(1) with
        {
            LivenessBound = TimeSpan.FromMinutes(1),
            FinalOperationBound = TimeSpan.FromMilliseconds(1),
        });

        Assert.Equal("Liveness", result.Failure?.Invariant);
        Assert.Contains("final heal", result.Failure!.Detail);
    }
}
