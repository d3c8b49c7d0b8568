using System.Diagnostics;

namespace RaftActors.IntegrationTests.Faults;

/// <summary>The faults the <see cref="ProcessNemesis"/> injects, one at a time, each undone before the next.</summary>
public enum Fault
{
    /// <summary>SIGKILL the leader, restart it from its directory.</summary>
    KillLeader,

    /// <summary>SIGKILL one or more random nodes (at most a minority), restart them.</summary>
    KillNodes,

    /// <summary>SIGSTOP the leader, SIGCONT it: it wakes up believing it still leads.</summary>
    PauseLeader,

    /// <summary>SIGSTOP a random node, SIGCONT it.</summary>
    PauseNode,

    /// <summary>Cut the leader (and maybe some followers, fewer than a majority) off from the majority, heal.</summary>
    IsolateLeader,

    /// <summary>Split the nodes into a random minority and majority, heal.</summary>
    SplitMinorityMajority,
}

/// <summary>
/// Injects faults into a <see cref="TestCluster"/> made with fault injection, on a seeded
/// schedule, until its time is up: every kind of <see cref="Fault"/> once in each round, in a
/// random order; each held for 1-3 s, then undone (restart, SIGCONT, heal), then 0.5-1.5 s of
/// calm. When it returns, every node runs, unpaused, and the network is whole.
/// </summary>
internal sealed class ProcessNemesis(TestCluster cluster, Random random)
{
    public Dictionary<Fault, int> Injected { get; } = Enum.GetValues<Fault>().ToDictionary(f => f, _ => 0);

    public int Total => Injected.Values.Sum();

    public async Task RunAsync(TimeSpan duration)
    {
        var clock = Stopwatch.StartNew();
        var round = new Queue<Fault>();
        while (clock.Elapsed < duration)
        {
            if (round.Count == 0)
            {
                foreach (var fault in Enum.GetValues<Fault>().OrderBy(_ => random.Next()))
                    round.Enqueue(fault);
            }

            var next = round.Dequeue();
            await InjectAsync(next, Hold());
            Injected[next]++;
            await Task.Delay(TimeSpan.FromMilliseconds(500 + random.Next(1000)));
        }
    }

    private TimeSpan Hold() => TimeSpan.FromMilliseconds(1000 + random.Next(2000));

    private async Task InjectAsync(Fault fault, TimeSpan hold)
    {
        var leader = await LeaderAsync();
        switch (fault)
        {
            case Fault.KillLeader:
            case Fault.KillNodes:
                var killed = fault == Fault.KillLeader ? [leader] : Pick(1 + random.Next(Minority));
                cluster.Log($">> nemesis: SIGKILL {Ids(killed)} for {hold.TotalMilliseconds:F0} ms");
                try
                {
                    foreach (var node in killed)
                        cluster.Kill(node);
                    await Task.Delay(hold);
                }
                finally
                {
                    foreach (var node in killed)
                        cluster.Start(node);
                }

                break;
            case Fault.PauseLeader:
            case Fault.PauseNode:
                var paused = fault == Fault.PauseLeader ? leader : Pick(1)[0];
                cluster.Log($">> nemesis: SIGSTOP {cluster.Servers[paused].Id} for {hold.TotalMilliseconds:F0} ms");
                try
                {
                    cluster.Pause(paused);
                    await Task.Delay(hold);
                }
                finally
                {
                    cluster.Resume(paused);
                }

                break;
            default:
                var side = fault == Fault.IsolateLeader
                    ? [leader, .. Pick(random.Next(Minority), except: leader)]
                    : Pick(Minority);
                cluster.Log($">> nemesis: {(fault == Fault.IsolateLeader ? "leader" : "minority")} {{{Ids(side)}}} cut off for {hold.TotalMilliseconds:F0} ms");
                try
                {
                    await cluster.PartitionAsync(side);
                    await Task.Delay(hold);
                }
                finally
                {
                    await cluster.HealAsync();
                }

                break;
        }
    }

    /// <summary>The most nodes that are not a majority.</summary>
    private int Minority => (cluster.Size - 1) / 2;

    private List<int> Pick(int count, int except = -1) =>
        cluster.Nodes.Where(n => n != except).OrderBy(_ => random.Next()).Take(count).ToList();

    private string Ids(IEnumerable<int> nodes) => string.Join(", ", nodes.Select(n => cluster.Servers[n].Id));

    /// <summary>The node that leads the highest term now, else (an election under way) a random node.</summary>
    private async Task<int> LeaderAsync()
    {
        var statuses = await Task.WhenAll(cluster.Nodes.Select(cluster.StatusAsync));
        var leader = statuses.Where(s => s is { Role: "Leader" }).MaxBy(s => s!.Term);
        return leader is null ? random.Next(cluster.Size) : cluster.IndexOf(leader.Id);
    }
}
