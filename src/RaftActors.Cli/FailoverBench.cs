using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;

namespace RaftActors.Cli;

/// <summary>How <c>bench failover</c> runs: trials per kind of PUT, the servers' node configs, the server program.</summary>
/// <param name="Trials">Trials without an Idempotency-Key, and as many with one.</param>
/// <param name="ConfigFiles">node1.conf, node2.conf, ...: one server process each.</param>
/// <param name="Server">The server program: RaftActors.Server.dll (run with dotnet) or an executable.</param>
public sealed record FailoverOptions(int Trials, IReadOnlyList<string> ConfigFiles, string Server);

/// <summary>One trial: the leader SIGKILLed, and at that moment one PUT sent to a survivor.</summary>
/// <param name="Number">The trial's number, from 1.</param>
/// <param name="WithKey">Whether the PUT carried an Idempotency-Key.</param>
/// <param name="Killed">The leader killed.</param>
/// <param name="Via">The surviving node the PUT went to.</param>
/// <param name="Status">The PUT's status code; 0 when it got no answer.</param>
/// <param name="Milliseconds">From the kill to the PUT's answer.</param>
/// <param name="Applied">A linearizable read after the answer found the value.</param>
/// <param name="AppliedOnce">Applied, and not applied again later: the write that followed it is what every node holds once the killed server is back and caught up.</param>
/// <param name="Problem">The error body or the failure, when the PUT did not succeed.</param>
public sealed record FailoverTrial(int Number, bool WithKey, string Killed, string Via, int Status, double Milliseconds, bool Applied, bool AppliedOnce, string? Problem);

/// <summary>The trials of one kind of PUT (with or without an Idempotency-Key), and their latency.</summary>
public sealed record FailoverSummary(bool WithKey, int Trials, int Succeeded, int AppliedOnce, double P50Ms, double P99Ms, double MaxMs)
{
    public static FailoverSummary Of(bool withKey, IReadOnlyList<FailoverTrial> trials)
    {
        var latencies = trials.Select(t => (long)(t.Milliseconds * TimeSpan.TicksPerMillisecond)).Order().ToArray();
        return new FailoverSummary(
            withKey, trials.Count, trials.Count(t => t.Status == 200), trials.Count(t => t.AppliedOnce),
            Bench.Percentile(latencies, 0.50), Bench.Percentile(latencies, 0.99), Bench.Percentile(latencies, 1.0));
    }

    public bool AllApplied => Trials > 0 && Succeeded == Trials && AppliedOnce == Trials;
}

/// <summary>
/// Failover as an HTTP client sees it. It starts one server process per node config, and in each
/// trial SIGKILLs the leader's process and at that moment sends one PUT to a surviving node, once
/// (no client-side retry), half the trials without an Idempotency-Key and half with one. It times
/// the answer, reads the value back (linearizably) and writes over it, restarts the killed server,
/// and once every node has caught up checks that each holds the later write: the PUT was applied,
/// and not applied again after its answer.
/// </summary>
public static class FailoverBench
{
    private static readonly TimeSpan SettleBound = TimeSpan.FromSeconds(90);
    private static readonly TimeSpan PutTimeout = TimeSpan.FromSeconds(30);

    public static async Task<IReadOnlyList<FailoverTrial>> RunAsync(FailoverOptions options, Action<string> say, CancellationToken cancel)
    {
        var endpoints = options.ConfigFiles.Select(ClusterNodes.FromConfig).ToList();
        using var kv = new KvClient(endpoints, TimeSpan.FromSeconds(30));
        foreach (var status in await kv.StatusAsync(cancel))
        {
            if (status.Up)
                throw new CliException($"a server already answers at {status.Node.Url}: bench failover starts its own servers from the node configs; stop it first");
        }

        await using var servers = new ServerProcesses(options, endpoints);
        using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false, ActivityHeadersPropagator = null }) { Timeout = PutTimeout };
        servers.StartAll();
        say($"started {endpoints.Count} servers ({string.Join(", ", endpoints.Select(e => $"{e.Name} {e.Url.Authority}"))}); their logs go to {servers.Directory}");

        var trials = new List<FailoverTrial>();
        for (var number = 1; number <= options.Trials * 2; number++)
        {
            var withKey = number > options.Trials;
            var leader = await SettledLeaderAsync(kv, cancel);
            var killed = endpoints.FindIndex(e => e.Id == leader);
            if (killed < 0)
                throw new CliException($"the leader {leader} is none of the node configs' raft.node-id ({string.Join(", ", endpoints.Select(e => e.Name))})");
            var via = (killed + 1 + number % (endpoints.Count - 1)) % endpoints.Count;
            var id = $"{number}-{Guid.NewGuid():N}";
            var value = $"failover trial {id}";

            servers.Kill(killed);
            var clock = Stopwatch.StartNew();
            var (status, problem) = await PutOnceAsync(http, endpoints[via], value, withKey ? $"bench-failover-{id}" : null, cancel);
            clock.Stop();

            var applied = status == 200 && await ReadAsync(kv, via, cancel) == value;
            var after = $"after {value}";
            if (applied)
                await kv.SendAsync(HttpMethod.Put, "/kv/" + Key, () => new StringContent(after, Encoding.UTF8, "text/plain"), $"bench-failover-after-{id}", via, cancel);
            servers.Start(killed);
            await SettledLeaderAsync(kv, cancel);
            var once = applied && await EveryNodeHoldsAsync(http, endpoints, after, cancel);

            var trial = new FailoverTrial(number, withKey, endpoints[killed].Name, endpoints[via].Name, status, clock.Elapsed.TotalMilliseconds, applied, once, problem);
            trials.Add(trial);
            say($"trial {number,3}  {(withKey ? "key   " : "no key")}  killed {trial.Killed}, PUT via {trial.Via}: {Describe(trial)}");
        }

        return trials;
    }

    private const string Key = "bench-failover";

    private static string Describe(FailoverTrial trial) =>
        $"{(trial.Status == 0 ? "no answer" : trial.Status.ToString())} in {trial.Milliseconds:F0} ms, " +
        (trial.AppliedOnce ? "applied once" : trial.Applied ? "applied, then applied again" : $"not applied{(trial.Problem is null ? "" : $" ({trial.Problem})")}");

    private static async Task<(int Status, string? Problem)> PutOnceAsync(HttpClient http, NodeEndpoint node, string value, string? idempotencyKey, CancellationToken cancel)
    {
        using var request = new HttpRequestMessage(HttpMethod.Put, new Uri(node.Url, "/kv/" + Key)) { Content = new StringContent(value, Encoding.UTF8, "text/plain") };
        if (idempotencyKey is not null)
            request.Headers.Add("Idempotency-Key", idempotencyKey);
        try
        {
            using var response = await http.SendAsync(request, cancel);
            var body = await response.Content.ReadAsStringAsync(cancel);
            return ((int)response.StatusCode, response.StatusCode == HttpStatusCode.OK ? null : body);
        }
        catch (Exception e) when (e is HttpRequestException || (e is OperationCanceledException && !cancel.IsCancellationRequested))
        {
            return (0, e.Message);
        }
    }

    private static async Task<string?> ReadAsync(KvClient kv, int via, CancellationToken cancel)
    {
        var reply = await kv.SendAsync(HttpMethod.Get, "/kv/" + Key, () => null, null, via, cancel);
        return reply.Status == 200 ? reply.Body.GetProperty("value").GetString() : null;
    }

    /// <summary>Whether every node's own copy of the state (a stale read) holds <paramref name="value"/>.</summary>
    private static async Task<bool> EveryNodeHoldsAsync(HttpClient http, IEnumerable<NodeEndpoint> nodes, string value, CancellationToken cancel)
    {
        foreach (var node in nodes)
        {
            using var response = await http.GetAsync(new Uri(node.Url, $"/kv/{Key}?stale=true"), cancel);
            using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancel));
            if (response.StatusCode != HttpStatusCode.OK || body.RootElement.GetProperty("value").GetString() != value)
                return false;
        }

        return true;
    }

    /// <summary>
    /// Waits until every server answers, all name the same leader, which says it leads, and each
    /// has applied all the leader knows committed: the next kill then leaves a full quorum.
    /// </summary>
    private static async Task<string> SettledLeaderAsync(KvClient kv, CancellationToken cancel)
    {
        var clock = Stopwatch.StartNew();
        IReadOnlyList<NodeStatus> statuses = [];
        while (clock.Elapsed < SettleBound)
        {
            statuses = await kv.StatusAsync(cancel);
            var leaders = statuses.Select(s => s.Leader).Distinct().ToList();
            if (statuses.All(s => s.Up) && leaders is [{ } leader] &&
                statuses.FirstOrDefault(s => s.Id == leader) is { Role: "Leader" } leading &&
                statuses.All(s => s.LastApplied >= leading.CommitIndex))
            {
                return leader;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100), cancel);
        }

        throw new CliException(
            $"the servers did not settle on a leader with every node caught up within {SettleBound.TotalSeconds:F0} s: " +
            string.Join("; ", statuses.Select(s => s.Up ? $"{s.Name} {s.Role} leader {s.Leader ?? "none"} applied {s.LastApplied}/{s.CommitIndex}" : $"{s.Name} {s.Problem}")),
            ExitCodes.Unavailable);
    }

    /// <summary>
    /// The server processes, one per node config, each with its data in a directory of its own
    /// (removed at the end) and its output in a log file beside it (kept). Run supervised: a server whose
    /// standard input closes (this process died) stops by itself.
    /// </summary>
    private sealed class ServerProcesses(FailoverOptions options, IReadOnlyList<NodeEndpoint> endpoints) : IAsyncDisposable
    {
        private readonly Process?[] _processes = new Process?[endpoints.Count];
        private readonly string[] _configs = new string[endpoints.Count];

        public string Directory { get; } = System.IO.Directory.CreateTempSubdirectory("raftctl-failover-").FullName;

        public void StartAll()
        {
            for (var i = 0; i < endpoints.Count; i++)
            {
                // The node's own config, its data moved here (a later definition wins in HOCON).
                _configs[i] = Path.Combine(Directory, $"node{i + 1}.conf");
                var data = Path.Combine(Directory, "data", endpoints[i].Name);
                File.WriteAllText(_configs[i], File.ReadAllText(options.ConfigFiles[i]) + $"\nraft.data-dir = {JsonSerializer.Serialize(data)}\n");
                Start(i);
            }
        }

        public void Start(int node)
        {
            var dll = options.Server.EndsWith(".dll", StringComparison.OrdinalIgnoreCase);
            var start = new ProcessStartInfo(dll ? "dotnet" : options.Server)
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            if (dll)
                start.ArgumentList.Add(options.Server);
            foreach (var argument in new[] { "--config", _configs[node], "--supervised" })
                start.ArgumentList.Add(argument);
            var log = new StreamWriter(Path.Combine(Directory, $"{endpoints[node].Name}.log"), append: true) { AutoFlush = true };
            var process = new Process { StartInfo = start, EnableRaisingEvents = true };
            process.OutputDataReceived += (_, line) => Write(log, line.Data);
            process.ErrorDataReceived += (_, line) => Write(log, line.Data);
            process.Exited += (_, _) =>
            {
                lock (log)
                    log.Dispose();
            };
            process.Start();
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            _processes[node] = process;
        }

        private static void Write(StreamWriter log, string? line)
        {
            if (line is null)
                return;
            lock (log)
            {
                try
                {
                    log.WriteLine(line);
                }
                catch (ObjectDisposedException)
                {
                    // the process exited; its last lines raced the log's end
                }
            }
        }

        /// <summary>SIGKILL: the server gets no chance to hand over its leadership.</summary>
        public void Kill(int node)
        {
            var process = _processes[node] ?? throw new InvalidOperationException($"server {node} is not running");
            process.Kill();
            process.WaitForExit();
            process.Dispose();
            _processes[node] = null;
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var process in _processes.OfType<Process>())
            {
                process.StandardInput.Close(); // a supervised server stops when its input closes
                using var stopped = new CancellationTokenSource(TimeSpan.FromSeconds(15));
                try
                {
                    await process.WaitForExitAsync(stopped.Token);
                }
                catch (OperationCanceledException)
                {
                    process.Kill();
                }

                process.Dispose();
            }

            try
            {
                System.IO.Directory.Delete(Path.Combine(Directory, "data"), recursive: true);
            }
            catch (IOException)
            {
                // a server still holds a file: leave the directory for the temp cleaner
            }
        }
    }
}
