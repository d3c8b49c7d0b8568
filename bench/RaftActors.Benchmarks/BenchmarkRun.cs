using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace RaftActors.Benchmarks;

/// <summary>One run: start the cluster, measure latency, throughput and failover, print and write the results.</summary>
internal static class BenchmarkRun
{
    private const string WireMethod =
        "AppendEntries (heartbeats included) and their replies as RaftProtocolSerializer writes them for Akka.Remote, " +
        "per entry sent to a follower, counted in the throughput window; Akka.Remote's envelope and TCP framing not included";

    private static string ClientMethod(ClientPlacement placement) =>
        "RaftClientFacade (a RaftClient actor: leader finding, sessions, retries) per proposer, " +
        (placement == ClientPlacement.LeaderSystem ? "in the leader's ActorSystem" : "in an ActorSystem of their own, over Akka.Remote") +
        "; a command counts once its CommandApplied is back";

    public static async Task<int> RunAsync(BenchmarkOptions options, CancellationToken cancel)
    {
        var machine = Machine();
        Print("RaftActors benchmark");
        PrintMachine(machine);
        Print($"  parameters   nodes {options.Nodes}, clients {options.Clients}, payload {options.Payload} B, seconds {options.Seconds}, " +
              $"fsync {(options.Fsync ? "on" : "off")}, latency commands {options.LatencyCommands}, failover trials {options.FailoverTrials}, " +
              $"max appends in flight {options.MaxAppendsInFlight}{(options.PipelinePartialAppends ? " (partial ones pipelined)" : "")}, pre-vote {(options.PreVote ? "on" : "off")}, check-quorum {(options.CheckQuorum ? "on" : "off")}, lease reads {(options.LeaseReads ? "on" : "off")}, election timeouts {options.ElectionTimeoutMin.TotalMilliseconds:F0}-{options.ElectionTimeoutMax.TotalMilliseconds:F0} ms, heartbeat {options.HeartbeatInterval.TotalMilliseconds:F0} ms");
        Print($"  clients      {ClientMethod(options.ClientsIn)}");

        var payload = new byte[options.Payload];
        new Random(42).NextBytes(payload);
        var meter = new ReplicationTrafficMeter();
        var clock = Stopwatch.StartNew();
        await using var cluster = BenchmarkCluster.Start(options, meter);
        Print($"  cluster      {options.Nodes} ActorSystems over Akka.Remote: {string.Join(", ", cluster.Members.Select(m => $"{m.Id} {cluster.PathOf(m.Id).Address.Host}:{cluster.PathOf(m.Id).Address.Port}"))}");
        Print($"  storage      FileRaftStorage per node under {cluster.Root}");
        var first = await cluster.WaitUntilSettledAsync(TimeSpan.FromSeconds(30));
        Print($"  leader       {first.NodeId} of term {first.Term}, all following, after {clock.ElapsedMilliseconds} ms");
        Print("");

        var rounds = new List<RoundResult>();
        for (var round = 1; round <= options.Rounds; round++)
        {
            if (options.Rounds > 1)
                Print($"round {round} of {options.Rounds}");
            rounds.Add(await MeasureRoundAsync(cluster, options, meter, payload));
            cancel.ThrowIfCancellationRequested();
        }

        double Median(Func<RoundResult, double?> figure) => Percentiles.Median(rounds.Select(figure).OfType<double>().ToList());
        var commitsPerSecond = Median(r => r.Writes.RequestsPerSecond);
        var bytesPerEntry = Median(r => r.Writes.Traffic.BytesPerEntry);
        var readsMeasured = options.ReadSeconds > 0;

        Print($"latency: 1 client, {options.LatencyCommands} sequential commands (after 200 more)");
        var latencies = await LatencyWorkload.RunAsync(cluster, options, payload);
        Print($"  p50 {Percentiles.Of(latencies, 50):F3} ms   p99 {Percentiles.Of(latencies, 99):F3} ms   max {latencies.Max():F3} ms");
        cancel.ThrowIfCancellationRequested();

        var failovers = new List<double>();
        var failedTrials = 0;
        if (options.FailoverTrials > 0)
        {
            Print($"failover: {options.FailoverTrials} trials of terminating the leader's ActorSystem, timed until a new leader has applied a command");
            var trials = await FailoverWorkload.RunAsync(cluster, options, payload, trial => Print(trial.NewLeader is null
                ? $"  {trial.KilledLeader} (term {trial.KilledTerm}) killed -> FAILED after {trial.Milliseconds:F1} ms: {trial.Problem}"
                : $"  {trial.KilledLeader} (term {trial.KilledTerm}) killed -> {trial.NewLeader} leads term {trial.NewTerm}, committed after {trial.Milliseconds:F1} ms"));
            failovers.AddRange(trials.Select(t => t.Milliseconds));
            failedTrials = trials.Count(t => t.NewLeader is null);
            Print($"  p50 {Percentiles.Of(failovers, 50):F1} ms   p99 {Percentiles.Of(failovers, 99):F1} ms   max {failovers.Max():F1} ms");
        }

        machine["load_average_at_end"] = LoadAverage();
        var results = new JsonObject
        {
            ["commits_per_s"] = Round(commitsPerSecond, 0),
            ["commit_latency_ms_p50"] = Round(Percentiles.Of(latencies, 50), 3),
            ["commit_latency_ms_p99"] = Round(Percentiles.Of(latencies, 99), 3),
            ["failover_ms_p50"] = Round(Percentiles.Of(failovers, 50), 1),
            ["failover_ms_p99"] = Round(Percentiles.Of(failovers, 99), 1),
            ["bytes_per_entry_on_wire"] = Round(bytesPerEntry, 1),
            ["bytes_per_entry_on_wire_method"] = WireMethod,
            ["clients_method"] = ClientMethod(options.ClientsIn),
            ["commit_latency_ms_max"] = Round(latencies.Max(), 3),
            ["failover_ms_max"] = failovers.Count == 0 ? null : Round(failovers.Max(), 1),
            ["failover_trials_failed"] = failedTrials,
            ["failover_ms_trials"] = new JsonArray(failovers.Select(f => (JsonNode?)Round(f, 1)).ToArray()),
            ["commands_acknowledged"] = rounds.Sum(r => r.Writes.Acknowledged),
            ["client_failures"] = rounds.Sum(r => r.Writes.Failures + (r.Reads?.Failures ?? 0)),
            ["cpu_us_per_commit"] = Round(Median(r => r.Writes.CpuMicrosecondsPerRequest), 1),
            ["allocated_bytes_per_commit"] = Round(Median(r => r.Writes.AllocatedBytesPerRequest), 0),
            ["thread_pool_work_items_per_commit"] = Round(Median(r => r.Writes.ThreadPoolWorkItemsPerRequest), 1),
            ["reads_per_s"] = readsMeasured ? Round(Median(r => r.Reads?.RequestsPerSecond), 0) : null,
            ["cpu_us_per_read"] = readsMeasured ? Round(Median(r => r.Reads?.CpuMicrosecondsPerRequest), 1) : null,
            ["heartbeats_per_read"] = readsMeasured ? Round(Median(r => r.Reads?.HeartbeatsPerRequest), 3) : null,
            ["rounds"] = new JsonArray(rounds.Select(r => (JsonNode?)r.ToJson()).ToArray()),
            ["parameters"] = new JsonObject
            {
                ["nodes"] = options.Nodes,
                ["clients"] = options.Clients,
                ["clients_in"] = options.ClientsIn.ToString(),
                ["payload"] = options.Payload,
                ["seconds"] = options.Seconds,
                ["rounds"] = options.Rounds,
                ["warmup_seconds"] = options.WarmUpSeconds,
                ["fsync"] = options.Fsync,
                ["latency_commands"] = options.LatencyCommands,
                ["failover_trials"] = options.FailoverTrials,
                ["election_timeout_ms"] = $"{options.ElectionTimeoutMin.TotalMilliseconds:F0}-{options.ElectionTimeoutMax.TotalMilliseconds:F0}",
                ["heartbeat_ms"] = options.HeartbeatInterval.TotalMilliseconds,
                ["max_appends_in_flight"] = options.MaxAppendsInFlight,
                ["pipeline_partial_appends"] = options.PipelinePartialAppends,
                ["pre_vote"] = options.PreVote,
                ["check_quorum"] = options.CheckQuorum,
                ["lease_reads"] = options.LeaseReads,
            },
            ["machine"] = machine,
            ["date"] = DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
        };

        Print("");
        Print(options.Rounds > 1 ? $"results (throughput and reads: medians of {options.Rounds} rounds)" : "results");
        foreach (var key in new[] { "commits_per_s", "commit_latency_ms_p50", "commit_latency_ms_p99", "failover_ms_p50", "failover_ms_p99", "bytes_per_entry_on_wire" })
            Print($"  {key,-24} {results[key]?.ToJsonString() ?? "-"}");
        Print($"  (bytes_per_entry_on_wire: {WireMethod})");
        Print($"  load at end: {machine["load_average_at_end"]}");

        var text = results.ToJsonString(new JsonSerializerOptions { WriteIndented = false });
        Print(text);
        if (options.JsonFile is { } file)
            await File.WriteAllTextAsync(file, results.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + Environment.NewLine, cancel);
        return 0;
    }

    /// <summary>One round's throughput phase and, unless --read-seconds is 0, its read phase.</summary>
    private sealed record RoundResult(ThroughputWorkload.Result Writes, ThroughputWorkload.Result? Reads)
    {
        public JsonObject ToJson() => new()
        {
            ["commits_per_s"] = BenchmarkRun.Round(Writes.RequestsPerSecond, 0),
            ["cpu_us_per_commit"] = BenchmarkRun.Round(Writes.CpuMicrosecondsPerRequest, 1),
            ["reads_per_s"] = Reads is null ? null : BenchmarkRun.Round(Reads.RequestsPerSecond, 0),
            ["cpu_us_per_read"] = Reads is null ? null : BenchmarkRun.Round(Reads.CpuMicrosecondsPerRequest, 1),
        };
    }

    private static async Task<RoundResult> MeasureRoundAsync(BenchmarkCluster cluster, BenchmarkOptions options, ReplicationTrafficMeter meter, byte[] payload)
    {
        Print($"throughput: {options.Clients} clients for {options.Seconds} s (after {options.WarmUpSeconds} s to warm up)");
        var throughput = await ThroughputWorkload.CommandsAsync(cluster, options, meter, payload);
        var traffic = throughput.Traffic;
        Print($"  {throughput.RequestsPerSecond:F0} commits/s: {throughput.Acknowledged} commands acknowledged in {throughput.Window.TotalSeconds:F2} s " +
              $"({throughput.EntriesCommitted} entries committed by the leader meanwhile, {throughput.Failures} client failures)");
        Print($"  cpu: {throughput.CpuMicrosecondsPerRequest:F1} us of processor time per commit (all nodes and clients of this process)");
        Print($"  per commit: {throughput.AllocatedBytesPerRequest:F0} bytes allocated, {throughput.ThreadPoolWorkItemsPerRequest:F1} thread-pool work items");
        Print($"  wire: {traffic.AppendMessages} AppendEntries carrying {traffic.Entries} entries ({(traffic.AppendMessages == 0 ? 0 : (double)traffic.Entries / traffic.AppendMessages):F1} per message), " +
              $"{traffic.AppendBytes} bytes; {traffic.Replies} replies, {traffic.ReplyBytes} bytes; {traffic.BytesPerEntry:F1} bytes per entry per follower");
        if (options.ReadSeconds <= 0)
            return new RoundResult(throughput, null);

        Print($"reads: {options.Clients} clients, linearizable queries (ReadIndex on the leader) for {options.ReadSeconds} s");
        var reads = await ThroughputWorkload.QueriesAsync(cluster, options, meter);
        Print($"  {reads.RequestsPerSecond:F0} reads/s: {reads.Acknowledged} queries answered in {reads.Window.TotalSeconds:F2} s ({reads.Failures} client failures)");
        Print($"  cpu: {reads.CpuMicrosecondsPerRequest:F1} us of processor time per read; {reads.AllocatedBytesPerRequest:F0} bytes allocated, {reads.ThreadPoolWorkItemsPerRequest:F1} thread-pool work items");
        Print($"  confirmation: {reads.Traffic.AppendMessages} AppendEntries (heartbeats) to followers, {reads.HeartbeatsPerRequest:F3} per read");
        return new RoundResult(throughput, reads);
    }

    internal static void Print(string line) => Console.WriteLine(line);

    internal static JsonNode? Round(double value, int digits) => double.IsFinite(value) ? JsonValue.Create(Math.Round(value, digits)) : null;

    /// <summary>The machine and its load, as every run's header shows them.</summary>
    internal static void PrintMachine(JsonObject machine)
    {
        Print($"  machine      {machine["cores"]} cores, {machine["cpu"]}, {machine["os"]}, {machine["dotnet"]}");
        Print($"  load         {machine["load_average_at_start"]} (1, 5, 15 min) at start");
    }

    internal static JsonObject Machine() => new()
    {
        ["cores"] = Environment.ProcessorCount,
        ["cpu"] = CpuModel(),
        ["os"] = RuntimeInformation.OSDescription,
        ["dotnet"] = RuntimeInformation.FrameworkDescription,
        ["load_average_at_start"] = LoadAverage(),
    };

    private static string CpuModel()
    {
        try
        {
            return File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim()
                   ?? RuntimeInformation.ProcessArchitecture.ToString();
        }
        catch (IOException)
        {
            return RuntimeInformation.ProcessArchitecture.ToString();
        }
    }

    internal static string LoadAverage()
    {
        try
        {
            return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "unknown";
        }
    }
}
