using RaftActors.Core;
using RaftActors.Simulation;
using Xunit.Abstractions;

namespace RaftActors.Tests.Simulation;

/// <summary>
/// Client sessions under faults, with a table smaller than the clients (three sessions, four
/// clients), so that the cap is under pressure all the time: a client's retried first command,
/// logged by two leaders, must still apply once. Seeds 20 and 38 are schedules that apply one
/// twice when the cap evicts any session.
/// </summary>
[Collection(SimulationCollection.Name)]
public sealed class SessionSimulationTests(ITestOutputHelper output)
{
    private static readonly int[] Seeds = [7, 10, 17, 18, 20, 22, 38, 1, 2, 3];

    private static SimulationOptions TightTable(int seed, TimeSpan minIdle) =>
        SimulationOptions.ForSeed(seed) with { Sessions = new SessionPolicy(TimeSpan.FromMinutes(10), 3, minIdle) };

    [Fact]
    public void With_a_table_smaller_than_the_clients_every_history_is_linearizable()
    {
        var report = SimulationBatch.Run(Seeds.Select(seed => TightTable(seed, SimulationOptions.DefaultSessions.MinIdle)), Environment.ProcessorCount);

        Assert.Empty(report.Failures.Select(f => $"seed {f.Options.Seed}: {f.Failure!.Message}{Environment.NewLine}replay: {f.Options.ReplayCommand()}"));
        Assert.Equal(Seeds.Length, report.HistoriesLinearizable);
    }

    [Fact]
    public void Without_a_minimum_idle_age_the_same_schedules_apply_a_retried_first_command_twice()
    {
        // The policy of logs written before the minimum idle age: the cap evicts any session. That
        // the checker catches it here is what makes the test above mean something.
        var report = SimulationBatch.Run(Seeds.Select(seed => TightTable(seed, TimeSpan.Zero)), Environment.ProcessorCount);

        var caught = report.Failures.Where(f => f.Failure!.Invariant == "Linearizability").ToList();
        Assert.True(caught.Count > 0, $"{report.Schedules} schedules without a minimum idle age stayed linearizable");
        output.WriteLine($"not linearizable without a minimum idle age: seeds {string.Join(", ", caught.Select(f => f.Options.Seed))}");
    }
}
