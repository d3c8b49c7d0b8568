using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Akka.Actor;
using RaftActors.Client;
using RaftActors.Messages;
using static RaftActors.Benchmarks.BenchmarkRun;

namespace RaftActors.Benchmarks;

/// <summary>
/// Operating a running cluster: how long a leadership transfer takes (from the request to the old
/// leader's answer, which comes once it hears from the new one), and how long writes pause when the
/// leader is restarted as planned (its ActorSystem's CoordinatedShutdown, as SIGTERM runs it: it
/// hands over first) against a crash (its node stops at once: an election).
/// </summary>
internal static class MembershipRun
{
    private static readonly TimeSpan SettleTimeout = TimeSpan.FromSeconds(30);

    public static async Task<int> RunAsync(BenchmarkOptions options, CancellationToken cancel)
    {
        var machine = Machine();
        Print("RaftActors benchmark: membership operations");
        PrintMachine(machine);
        Print($"  parameters   nodes {options.Nodes}, transfer trials {options.TransferTrials}, restart trials {options.RestartTrials}, payload {options.Payload} B, " +
              $"fsync {(options.Fsync ? "on" : "off")}, election timeouts {options.ElectionTimeoutMin.TotalMilliseconds:F0}-{options.ElectionTimeoutMax.TotalMilliseconds:F0} ms, " +
              $"heartbeat {options.HeartbeatInterval.TotalMilliseconds:F0} ms, pre-vote {(options.PreVote ? "on" : "off")}, check-quorum {(options.CheckQuorum ? "on" : "off")}");

        var payload = new byte[options.Payload];
        new Random(42).NextBytes(payload);
        await using var cluster = BenchmarkCluster.Start(options, new ReplicationTrafficMeter());
        var first = await cluster.WaitUntilSettledAsync(SettleTimeout);
        Print($"  leader       {first.NodeId} of term {first.Term}, all following");
        Print("");

        Print($"leadership transfer: {options.TransferTrials} transfers, each to the next node, timed until the old leader hears of the new one");
        var transfers = new List<double>();
        for (var trial = 0; trial < options.TransferTrials; trial++)
        {
            var leader = await cluster.WaitUntilSettledAsync(SettleTimeout);
            var ids = cluster.Members.Select(m => m.Id).ToList();
            var target = ids[(ids.IndexOf(leader.NodeId) + 1) % ids.Count];
            var start = Stopwatch.GetTimestamp();
            var answer = await cluster.ClientSystem.ActorSelection(cluster.PathOf(leader.NodeId)).Ask<object>(new TransferLeadership(target), TimeSpan.FromSeconds(5));
            var milliseconds = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            if (answer is LeadershipTransferred transferred)
            {
                transfers.Add(milliseconds);
                Print($"  {leader.NodeId} -> {transferred.LeaderId} (term {transferred.Term}) in {milliseconds:F1} ms");
            }
            else
            {
                Print($"  {leader.NodeId} -> {target}: FAILED after {milliseconds:F1} ms: {answer}");
            }

            cancel.ThrowIfCancellationRequested();
        }

        Print($"  p50 {Percentiles.Of(transfers, 50):F1} ms   p99 {Percentiles.Of(transfers, 99):F1} ms   max {transfers.DefaultIfEmpty(double.NaN).Max():F1} ms   failed {options.TransferTrials - transfers.Count}");
        Print("");

        var planned = new List<double>();
        var crashed = new List<double>();
        if (options.RestartTrials > 0)
        {
            Print($"leader restarts under one sequential writer: {options.RestartTrials} planned (CoordinatedShutdown: hands over) and {options.RestartTrials} crashes, alternating; " +
                  "the pause is the longest time without an acknowledged write");
            for (var trial = 0; trial < options.RestartTrials; trial++)
            {
                foreach (var plannedStop in new[] { true, false })
                {
                    var pause = await WritePauseAsync(cluster, payload, plannedStop, trial);
                    (plannedStop ? planned : crashed).Add(pause.Milliseconds);
                    Print($"  {(plannedStop ? "planned" : "crash  ")} {pause.Leader} stopped: writes paused {pause.Milliseconds:F1} ms ({pause.Writes} writes acknowledged around it, {pause.Failures} failed)");
                    cancel.ThrowIfCancellationRequested();
                }
            }

            Print($"  planned: p50 {Percentiles.Of(planned, 50):F1} ms   p99 {Percentiles.Of(planned, 99):F1} ms");
            Print($"  crash:   p50 {Percentiles.Of(crashed, 50):F1} ms   p99 {Percentiles.Of(crashed, 99):F1} ms");
        }

        machine["load_average_at_end"] = LoadAverage();
        var results = new JsonObject
        {
            ["transfer_ms_p50"] = Round(Percentiles.Of(transfers, 50), 1),
            ["transfer_ms_p99"] = Round(Percentiles.Of(transfers, 99), 1),
            ["transfers_failed"] = options.TransferTrials - transfers.Count,
            ["planned_restart_pause_ms_p50"] = Round(Percentiles.Of(planned, 50), 1),
            ["planned_restart_pause_ms_p99"] = Round(Percentiles.Of(planned, 99), 1),
            ["crash_pause_ms_p50"] = Round(Percentiles.Of(crashed, 50), 1),
            ["crash_pause_ms_p99"] = Round(Percentiles.Of(crashed, 99), 1),
            ["transfer_ms_trials"] = new JsonArray(transfers.Select(t => (JsonNode?)Round(t, 1)).ToArray()),
            ["planned_restart_pause_ms_trials"] = new JsonArray(planned.Select(t => (JsonNode?)Round(t, 1)).ToArray()),
            ["crash_pause_ms_trials"] = new JsonArray(crashed.Select(t => (JsonNode?)Round(t, 1)).ToArray()),
            ["machine"] = machine,
        };
        Print("");
        Print(results.ToJsonString());
        if (options.JsonFile is { } file)
            await File.WriteAllTextAsync(file, results.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + Environment.NewLine, cancel);
        return 0;
    }

    private sealed record Pause(string Leader, double Milliseconds, int Writes, int Failures);

    /// <summary>
    /// A writer sends one command after another through a RaftClient; the leader is stopped
    /// (planned or crashed) once it is writing steadily; the writer goes on until it has written a
    /// while under the new leader. The longest gap between two acknowledgements is the pause.
    /// </summary>
    private static async Task<Pause> WritePauseAsync(BenchmarkCluster cluster, byte[] payload, bool planned, int trial)
    {
        var leader = await cluster.WaitUntilSettledAsync(SettleTimeout);
        await cluster.ConnectClientSystemAsync();
        // The writer runs in an ActorSystem of its own: the leader's goes down.
        var client = cluster.StartClient($"restart-writer-{trial}-{(planned ? "planned" : "crash")}", seed: trial, leader.NodeId, ClientPlacement.OwnSystem);
        var acknowledged = new List<long>();
        var failures = 0;
        using var stop = new CancellationTokenSource();
        var writer = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    await client.SendAsync(payload);
                    lock (acknowledged)
                        acknowledged.Add(Stopwatch.GetTimestamp());
                }
                catch (RaftClientException)
                {
                    failures++;
                }
            }
        });

        await Task.Delay(300);
        var stopped = planned ? cluster.StopGracefullyAsync(leader.NodeId) : cluster.KillAsync(leader.NodeId);
        await stopped;
        await Task.Delay(TimeSpan.FromSeconds(1)); // writing under the new leader

        var ended = Stopwatch.GetTimestamp();
        stop.Cancel();
        await writer;
        client.Actor.Tell(PoisonPill.Instance);
        cluster.Restart(leader.NodeId);

        long[] times;
        lock (acknowledged)
            times = acknowledged.ToArray();
        // The end of the run counts as an acknowledgement: a writer that never resumed paused until then.
        var longest = times.Append(ended).Zip(times.Skip(1).Append(ended), (a, b) => Stopwatch.GetElapsedTime(a, b).TotalMilliseconds).Max();
        return new Pause(leader.NodeId, longest, times.Length, failures);
    }
}
