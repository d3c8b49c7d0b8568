using RaftActors.IntegrationTests.Faults;

namespace RaftActors.IntegrationTests;

/// <summary>
/// Five server processes under a nemesis — SIGKILL and restart (the leader too), SIGSTOP and
/// SIGCONT, the leader cut off from the majority, minority/majority splits — while clients
/// record a history of gets, puts and compare-and-sets through every node: the history must be
/// linearizable and every acknowledged write readable after the final heal. RAFT_TEST_SEED
/// replays a schedule; <c>tests/tools/RaftActors.FaultRunner</c> runs the same for longer.
/// </summary>
public sealed class FaultTests(ITestOutputHelper output)
{
    [Fact(Timeout = 120_000)]
    public async Task The_nemesis_faults_do_what_they_say_a_partition_cuts_a_leader_off_and_a_paused_leader_is_replaced()
    {
        using var cluster = new TestCluster(output, faultInjection: true);
        cluster.StartAll();
        var leader = await cluster.WaitForAgreedLeaderAsync(cluster.Nodes, TimeSpan.FromSeconds(60));
        var cut = cluster.IndexOf(leader.Id);
        var others = cluster.Nodes.Where(n => n != cut).ToList();

        // Cut off, the leader hears nothing of the election the others hold (it goes on leading
        // its old term: there is no CheckQuorum yet), and what it is asked to write cannot commit.
        await cluster.PartitionAsync([cut]);
        var successor = await cluster.WaitForAgreedLeaderAsync(others, TimeSpan.FromSeconds(20), aboveTerm: leader.Term);
        var stranded = await cluster.PutAsync(cut, "stranded", "cut off", retry: false);
        Assert.True(stranded.Status is 503 or 504, stranded.ToString());
        var alone = (await cluster.StatusAsync(cut))!;
        cluster.Log($"{leader.Id} cut off: {alone}");
        Assert.NotEqual(successor.Id, alone.Leader);

        // Healed, it hears the new term and follows.
        await cluster.HealAsync();
        successor = await cluster.WaitForAgreedLeaderAsync(cluster.Nodes, TimeSpan.FromSeconds(20), aboveTerm: leader.Term);

        // A leader frozen by SIGSTOP is replaced; woken by SIGCONT, it follows the new one.
        var paused = cluster.IndexOf(successor.Id);
        cluster.Pause(paused);
        await cluster.WaitForAgreedLeaderAsync(cluster.Nodes.Where(n => n != paused), TimeSpan.FromSeconds(20), aboveTerm: successor.Term);
        cluster.Resume(paused);
        await cluster.WaitForAgreedLeaderAsync(cluster.Nodes, TimeSpan.FromSeconds(20), aboveTerm: successor.Term);
    }

    [Fact(Timeout = 180_000)]
    public async Task Histories_stay_linearizable_and_acknowledged_writes_survive_kills_pauses_and_partitions()
    {
        var seed = int.TryParse(Environment.GetEnvironmentVariable("RAFT_TEST_SEED"), out var s) ? s : Random.Shared.Next(1, int.MaxValue);
        var options = new FaultRunOptions { Seed = seed, Duration = TimeSpan.FromSeconds(60) };
        output.WriteLine($"{options}; replay with RAFT_TEST_SEED={seed}, or longer: {options.ReplayCommand}");

        var report = await FaultRun.RunAsync(options, output);
        output.WriteLine(report.ToString());
        Assert.True(report.Passed, report.ToString());

        // The run did what it claims: every kind of fault, and a history with enough in it.
        Assert.All(report.Faults, f => Assert.True(f.Value > 0, $"no {f.Key} injected: {report}"));
        Assert.True(report.Check.Operations >= 1000, $"only {report.Check.Operations} operations checked: {report}");
        Assert.True(report.AcknowledgedFreshWrites >= 50, $"only {report.AcknowledgedFreshWrites} fresh writes acknowledged: {report}");
    }
}
