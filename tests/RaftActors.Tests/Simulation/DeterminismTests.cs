using RaftActors.Simulation;

namespace RaftActors.Tests.Simulation;

/// <summary>One seed, one run, step for step: no wall clock, no thread, no hash order in the simulation.</summary>
[Collection(SimulationCollection.Name)]
public sealed class DeterminismTests
{
    [Theory]
    [InlineData(3)]
    [InlineData(5)]
    [InlineData(7)]
    public void TheSameSeed_ReplaysTheSameRun(int clusterSize)
    {
        var options = SimulationOptions.ForSeed(42, clusterSize: clusterSize);

        var first = ClusterSimulation.Run(options);
        var second = ClusterSimulation.Run(options);

        Assert.Null(first.Failure);
        Assert.Equal(first.Events, second.Events);
        Assert.Equal(first.Fingerprint, second.Fingerprint);
        Assert.Equal(first.History, second.History);
    }

    [Fact]
    public void TracingARun_DoesNotChangeIt()
    {
        // The runner replays a seed with its trace on; the batch ran it with the trace off.
        var quiet = ClusterSimulation.Run(SimulationOptions.ForSeed(42));
        var traced = ClusterSimulation.Run(SimulationOptions.ForSeed(42) with { Trace = true });

        Assert.Equal(quiet.Fingerprint, traced.Fingerprint);
        Assert.NotEmpty(traced.Trace);
    }

    [Fact]
    public void AnotherSeed_RunsAnotherSchedule()
    {
        var first = ClusterSimulation.Run(SimulationOptions.ForSeed(42));
        var second = ClusterSimulation.Run(SimulationOptions.ForSeed(43, clusterSize: first.Options.ClusterSize));

        Assert.NotEqual(first.Fingerprint, second.Fingerprint);
    }

    [Fact]
    public void TheReplayCommand_NamesTheSeedAndWhatDiffersFromItsDefaults()
    {
        Assert.Equal("dotnet run -c Release --project tests/tools/RaftActors.SimulationRunner -- --seed 1234",
            SimulationOptions.ForSeed(1234).ReplayCommand());
        Assert.Equal("dotnet run -c Release --project tests/tools/RaftActors.SimulationRunner -- --seed 7 --nodes 3 --bug SendVoteBeforeDurable",
            SimulationOptions.ForSeed(7, SimulatedBug.SendVoteBeforeDurable, clusterSize: 3).ReplayCommand());
        Assert.Equal("dotnet run -c Release --project tests/tools/RaftActors.SimulationRunner -- --seed 8 --no-membership",
            (SimulationOptions.ForSeed(8) with { Membership = false }).ReplayCommand());
        Assert.Equal("dotnet run -c Release --project tests/tools/RaftActors.SimulationRunner -- --seed 9 --session-expiry-ms 5000 --max-sessions 3",
            (SimulationOptions.ForSeed(9) with { Sessions = new RaftActors.Core.SessionPolicy(TimeSpan.FromSeconds(5), 3, SimulationOptions.DefaultSessions.MinIdle) }).ReplayCommand());
        Assert.Equal("dotnet run -c Release --project tests/tools/RaftActors.SimulationRunner -- --seed 9 --session-expiry-ms 1000 --max-sessions 3 --session-min-idle-ms 0",
            (SimulationOptions.ForSeed(9) with { Sessions = new RaftActors.Core.SessionPolicy(TimeSpan.FromSeconds(1), maxSessions: 3) }).ReplayCommand());
    }
}
