using System.Diagnostics;
using Akka.Actor;
using RaftActors.Client;
using RaftActors.Messages;

namespace RaftActors.Benchmarks;

/// <summary>
/// Throughput: many clients at once, each sending its next request when the last is answered —
/// commands (each counts once applied), or linearizable queries (each counts once answered).
/// </summary>
internal static class ThroughputWorkload
{
    public sealed record Result(
        double RequestsPerSecond, long Acknowledged, TimeSpan Window, long EntriesCommitted, long Failures, ReplicationTrafficMeter.Traffic Traffic,
        TimeSpan ProcessorTime, long AllocatedBytes, long ThreadPoolWorkItems)
    {
        /// <summary>CPU time the whole process (every node, every client) spent per request answered: less sensitive to a busy machine than the rate.</summary>
        public double CpuMicrosecondsPerRequest => Acknowledged == 0 ? double.NaN : ProcessorTime.TotalMicroseconds / Acknowledged;

        /// <summary>Managed memory the whole process allocated per request answered: what the collector has to clear up; independent of the machine's load.</summary>
        public double AllocatedBytesPerRequest => Acknowledged == 0 ? double.NaN : (double)AllocatedBytes / Acknowledged;

        /// <summary>Work items the .NET thread pool ran per request answered (actor mailbox runs, task continuations, socket completions): each is a hand-off between threads, and may wake one.</summary>
        public double ThreadPoolWorkItemsPerRequest => Acknowledged == 0 ? double.NaN : (double)ThreadPoolWorkItems / Acknowledged;

        /// <summary>AppendEntries sent to followers per request answered: for reads, the confirmation rounds they shared.</summary>
        public double HeartbeatsPerRequest => Acknowledged == 0 ? double.NaN : (double)Traffic.AppendMessages / Acknowledged;
    }

    /// <summary>Commands for <see cref="BenchmarkOptions.Seconds"/> after <see cref="BenchmarkOptions.WarmUpSeconds"/>.</summary>
    public static Task<Result> CommandsAsync(BenchmarkCluster cluster, BenchmarkOptions options, ReplicationTrafficMeter meter, byte[] payload) =>
        RunAsync(cluster, options, meter, "proposer", client => client.SendAsync(payload), TimeSpan.FromSeconds(options.WarmUpSeconds), TimeSpan.FromSeconds(options.Seconds));

    /// <summary>Linearizable queries (ReadIndex on the leader) for <see cref="BenchmarkOptions.ReadSeconds"/>, after a second's warm-up (the write phase warmed the rest).</summary>
    public static Task<Result> QueriesAsync(BenchmarkCluster cluster, BenchmarkOptions options, ReplicationTrafficMeter meter) =>
        RunAsync(cluster, options, meter, "reader", client => client.QueryAsync(CountQuery), TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(options.ReadSeconds));

    private static readonly object CountQuery = "count";
    private static int _runs;

    private static async Task<Result> RunAsync(
        BenchmarkCluster cluster, BenchmarkOptions options, ReplicationTrafficMeter meter, string name, Func<RaftClientFacade, Task> request, TimeSpan warmUp, TimeSpan measured)
    {
        var leader = await cluster.WaitUntilSettledAsync(TimeSpan.FromSeconds(30));
        // Every run's clients are new sessions: a client id used before would have its commands
        // taken for retries of the earlier client's.
        var run = Interlocked.Increment(ref _runs);
        var clients = Enumerable.Range(1, options.Clients).Select(i => cluster.StartClient($"{name}-{run}-{i}", seed: i, leader.NodeId)).ToList();
        long acknowledged = 0, failures = 0;
        using var stop = new CancellationTokenSource();
        var proposers = clients.Select(client => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    await request(client);
                    Interlocked.Increment(ref acknowledged);
                }
                catch (RaftClientException)
                {
                    Interlocked.Increment(ref failures);
                }
            }
        })).ToList();

        // Warm up: every client has found the leader, and the JIT's tiered compilation (which
        // keeps a core busy for seconds recompiling hot methods) has settled.
        await Task.Delay(warmUp);
        var process = Process.GetCurrentProcess();
        var before = (Count: Interlocked.Read(ref acknowledged), Failures: Interlocked.Read(ref failures), Traffic: meter.Read(), Commit: await LeaderCommitAsync(cluster), Cpu: process.TotalProcessorTime,
            Allocated: GC.GetTotalAllocatedBytes(), WorkItems: ThreadPool.CompletedWorkItemCount);
        var clock = Stopwatch.StartNew();
        await Task.Delay(measured);
        process.Refresh();
        var after = (Count: Interlocked.Read(ref acknowledged), Failures: Interlocked.Read(ref failures), Traffic: meter.Read(), Commit: await LeaderCommitAsync(cluster), Cpu: process.TotalProcessorTime,
            Allocated: GC.GetTotalAllocatedBytes(), WorkItems: ThreadPool.CompletedWorkItemCount);
        var window = clock.Elapsed;
        stop.Cancel();
        await Task.WhenAll(proposers);
        foreach (var client in clients)
            client.Actor.Tell(PoisonPill.Instance);

        var count = after.Count - before.Count;
        return new Result(count / window.TotalSeconds, count, window, after.Commit - before.Commit, after.Failures - before.Failures, after.Traffic - before.Traffic, after.Cpu - before.Cpu,
            after.Allocated - before.Allocated, after.WorkItems - before.WorkItems);
    }

    private static async Task<long> LeaderCommitAsync(BenchmarkCluster cluster) =>
        (await cluster.StatusesAsync(TimeSpan.FromSeconds(2))).Where(s => s?.Role == Core.RaftRole.Leader).Select(s => s!.CommitIndex).DefaultIfEmpty(0).Max();
}

/// <summary>Latency: one proposer, one command at a time.</summary>
internal static class LatencyWorkload
{
    private const int WarmUpCommands = 200;

    public static async Task<double[]> RunAsync(BenchmarkCluster cluster, BenchmarkOptions options, byte[] payload)
    {
        var leader = await cluster.WaitUntilSettledAsync(TimeSpan.FromSeconds(30));
        var client = cluster.StartClient("latency", seed: 0, leader.NodeId);
        for (var i = 0; i < WarmUpCommands; i++)
            await client.SendAsync(payload);

        var milliseconds = new double[options.LatencyCommands];
        for (var i = 0; i < milliseconds.Length; i++)
        {
            var start = Stopwatch.GetTimestamp();
            await client.SendAsync(payload);
            milliseconds[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }

        client.Actor.Tell(PoisonPill.Instance);
        return milliseconds;
    }
}

/// <summary>
/// Failover: terminate the leader's ActorSystem and time until a new leader has committed and
/// applied a command; then restart the killed node from its directory and let it catch up, so
/// that every trial starts from a whole cluster.
/// </summary>
internal static class FailoverWorkload
{
    private static readonly TimeSpan SettleTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(2);

    /// <summary>One kill; <see cref="NewLeader"/> is null when no new leader applied a command within the time allowed, and then <see cref="Milliseconds"/> is that time.</summary>
    public sealed record Trial(string KilledLeader, long KilledTerm, string? NewLeader, long NewTerm, double Milliseconds, string? Problem = null);

    public static async Task<IReadOnlyList<Trial>> RunAsync(BenchmarkCluster cluster, BenchmarkOptions options, byte[] payload, Action<Trial> report)
    {
        var trials = new List<Trial>();
        for (var i = 0; i < options.FailoverTrials; i++)
        {
            var leader = await cluster.WaitUntilSettledAsync(SettleTimeout);
            await cluster.ConnectClientSystemAsync();
            var start = Stopwatch.GetTimestamp();
            var killed = cluster.KillAsync(leader.NodeId);
            Trial trial;
            try
            {
                var (newLeader, newTerm) = await CommitThroughNewLeaderAsync(cluster, leader.Term, payload);
                trial = new Trial(leader.NodeId, leader.Term, newLeader, newTerm, Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            }
            catch (TimeoutException)
            {
                // Counted at the time given up after, so the percentiles show it; the survivors' state says why.
                var statuses = await cluster.StatusesAsync(TimeSpan.FromSeconds(2));
                trial = new Trial(leader.NodeId, leader.Term, null, 0, Stopwatch.GetElapsedTime(start).TotalMilliseconds,
                    "no new leader applied a command; survivors: " + string.Join("; ", statuses.Select(st => st is null
                        ? "no answer"
                        : $"{st.NodeId} {st.Role} term {st.Term} voted {st.VotedFor ?? "-"} leader {st.LeaderId ?? "-"} last {st.LastLogIndex}")));
            }

            trials.Add(trial);
            report(trial);

            await killed;
            cluster.Restart(leader.NodeId);
        }

        await cluster.WaitUntilSettledAsync(SettleTimeout);
        return trials;
    }

    /// <summary>
    /// Sends a command to each node that announces itself leader of a term above
    /// <paramref name="oldTerm"/>, the moment it does, until one answers that it applied it.
    /// </summary>
    private static async Task<(string NodeId, long Term)> CommitThroughNewLeaderAsync(BenchmarkCluster cluster, long oldTerm, byte[] payload)
    {
        var aboveTerm = oldTerm;
        while (true)
        {
            var (nodeId, term) = await cluster.LeaderAboveAsync(aboveTerm).WaitAsync(SettleTimeout);
            try
            {
                var reply = await cluster.ClientSystem.ActorSelection(cluster.PathOf(nodeId)).Ask<object>(new ClientCommand(payload), ProbeTimeout);
                if (reply is CommandApplied)
                    return (nodeId, term);

                // NotLeader or outcome unknown: deposed before it committed; wait for the next leader.
                aboveTerm = term;
            }
            catch (AskTimeoutException)
            {
                // No answer: ask whichever node leads now (maybe this one again).
            }
        }
    }
}

internal static class Percentiles
{
    /// <summary>The nearest-rank percentile: the smallest value with at least <paramref name="percent"/>% of the values at or below it.</summary>
    public static double Of(IReadOnlyCollection<double> values, double percent)
    {
        if (values.Count == 0)
            return double.NaN;
        var sorted = values.Order().ToArray();
        var rank = (int)Math.Ceiling(percent / 100 * sorted.Length);
        return sorted[Math.Clamp(rank, 1, sorted.Length) - 1];
    }

    /// <summary>The middle value, or the mean of the two middle ones (NaN for none): what a figure of several rounds reports.</summary>
    public static double Median(IReadOnlyCollection<double> values)
    {
        if (values.Count == 0)
            return double.NaN;
        var sorted = values.Order().ToArray();
        var middle = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    }
}
