using System.Diagnostics;
using System.Globalization;
using System.Text;
using RaftActors.Linearizability;

namespace RaftActors.IntegrationTests.Faults;

/// <summary>
/// Jepsen-style, on this machine: a cluster of server processes with fault injection on, clients
/// (<see cref="KvWorkload"/>) recording a history through every node's HTTP API while the
/// <see cref="ProcessNemesis"/> kills, restarts, freezes and partitions nodes; then, with the network
/// whole and every node up, a final read of every key through every node, and the checks: the
/// history is linearizable (the checker's verdict Ok; Unknown fails too) and every acknowledged
/// write of a fresh key is there. The test and the <c>RaftActors.FaultRunner</c> both run this.
/// </summary>
public static class FaultRun
{
    private static readonly TimeSpan Recovery = TimeSpan.FromSeconds(30);

    public static async Task<FaultRunReport> RunAsync(FaultRunOptions options, ITestOutputHelper output)
    {
        var clock = Stopwatch.StartNew();
        using var cluster = new TestCluster(output, options.Nodes, requestTimeout: "2s", faultInjection: true);
        cluster.Log($"fault run: {options}; replay with: {options.ReplayCommand}");
        cluster.StartAll();
        await cluster.WaitForAgreedLeaderAsync(cluster.Nodes, TimeSpan.FromSeconds(60));

        var recorder = new HistoryRecorder();
        var workload = new KvWorkload(cluster, options, recorder);
        var nemesis = new ProcessNemesis(cluster, new Random(options.Seed));
        using (var stop = new CancellationTokenSource())
        {
            var clients = workload.RunAsync(stop.Token);
            try
            {
                await nemesis.RunAsync(options.Duration);
            }
            finally
            {
                stop.Cancel();
                await clients;
            }
        }

        cluster.Log($">> nemesis done after {nemesis.Total} faults; operations answered/unknown/not done through {workload.ByNodeSummary}");
        var problems = new List<string>();
        try
        {
            await cluster.WaitForAgreedLeaderAsync(cluster.Nodes, Recovery);
        }
        catch (Xunit.Sdk.XunitException e)
        {
            problems.Add($"no agreed leader within {Recovery.TotalSeconds:F0} s of the final heal: {e.Message}");
        }

        problems.AddRange(await FinalReadsAsync(cluster, workload));
        problems.AddRange(workload.Unexpected.Select(u => $"unexpected answer: {u}"));
        var history = recorder.History;
        var check = LinearizabilityChecker.Check(history, options.CheckBudget, Stopwatch.Frequency); // the recorder's clock
        cluster.Log($">> linearizability: {check.Summary}");
        if (check.Verdict != LinearizabilityVerdict.Ok)
            problems.Add($"the history is not known to be linearizable: {check}");

        return new FaultRunReport(options, nemesis.Injected, recorder.Counts, history, check, workload.AcknowledgedFreshWrites.Count, problems, clock.Elapsed);
    }

    /// <summary>
    /// Reads every register through every node, and every acknowledged fresh key through one node
    /// each (in turn), linearizably, recorded in the history; returns what is missing or wrong.
    /// </summary>
    private static async Task<List<string>> FinalReadsAsync(TestCluster cluster, KvWorkload workload)
    {
        var problems = new List<string>();
        var registerReads = workload.Registers.SelectMany(key => cluster.Nodes.Select(node => (Key: key, Node: node, Expected: (string?)null)));
        var freshReads = workload.AcknowledgedFreshWrites.OrderBy(w => w.Key, StringComparer.Ordinal)
            .Select((w, i) => (w.Key, Node: i % cluster.Size, Expected: (string?)w.Value));
        using var readers = new SemaphoreSlim(8);
        await Task.WhenAll(registerReads.Concat(freshReads).Select(async read =>
        {
            await readers.WaitAsync();
            try
            {
                var outcome = await workload.ReadUntilAnsweredAsync(read.Node, read.Key, Recovery);
                lock (problems)
                {
                    if (!outcome.Answered)
                        problems.Add($"GET {read.Key} through {cluster.Servers[read.Node].Id}: no answer within {Recovery.TotalSeconds:F0} s (last: {outcome.Answer})");
                    else if (read.Expected is { } expected && outcome.Seen != expected)
                        problems.Add($"acknowledged write lost: {read.Key} = \"{expected}\", but {cluster.Servers[read.Node].Id} reads {(outcome.Seen is null ? "nothing" : $"\"{outcome.Seen}\"")}");
                }
            }
            finally
            {
                readers.Release();
            }
        }));
        cluster.Log($">> final reads: {workload.Registers.Count()} registers through every node, {workload.AcknowledgedFreshWrites.Count} acknowledged fresh keys; {problems.Count} problems");
        return problems;
    }
}

/// <summary>What a fault run did and found; <see cref="ToString"/> is the report printed by the test and the runner.</summary>
public sealed record FaultRunReport(
    FaultRunOptions Options,
    IReadOnlyDictionary<Fault, int> Faults,
    (int Completed, int Unknown, int Failed) Operations,
    IReadOnlyList<KvOperation> History,
    LinearizabilityResult Check,
    int AcknowledgedFreshWrites,
    IReadOnlyList<string> Problems,
    TimeSpan Elapsed)
{
    public bool Passed => Problems.Count == 0;

    public int FaultsInjected => Faults.Values.Sum();

    public override string ToString()
    {
        var text = new StringBuilder();
        var invariant = CultureInfo.InvariantCulture;
        text.AppendLine(invariant, $"fault run {(Passed ? "passed" : "FAILED")}: {Options} ({Elapsed.TotalSeconds:F0} s in all)");
        text.AppendLine(invariant, $"  faults injected: {FaultsInjected} ({string.Join(", ", Faults.Select(f => $"{f.Key} {f.Value}"))})");
        text.AppendLine(invariant, $"  operations: {Operations.Completed} completed, {Operations.Unknown} of unknown outcome, {Operations.Failed} certainly not applied (left out)");
        text.AppendLine(invariant, $"  history checked: {Check.Summary}");
        text.AppendLine(invariant, $"  acknowledged writes of fresh keys: {AcknowledgedFreshWrites}, each read back after the final heal");
        foreach (var problem in Problems)
            text.AppendLine(invariant, $"  PROBLEM: {problem}");
        text.Append(invariant, $"  replay: {Options.ReplayCommand}");
        return text.ToString();
    }
}
