using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using RaftActors.Server.Cluster;

namespace RaftActors.IntegrationTests;

/// <summary>
/// A cluster of server processes on free loopback ports, with a fresh temporary directory for
/// the configs and the write-ahead logs. Dispose kills every process (SIGKILL of the tree), writes
/// every server's output to the test's log and deletes the directory: processes are cleaned up
/// whether the test passed or failed. With <c>faultInjection</c> the servers run Akka.Remote's
/// throttler and take <c>/admin/partition</c> (see <see cref="PartitionAsync"/>).
/// </summary>
public sealed class TestCluster : IDisposable
{
    private readonly ITestOutputHelper _output;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly List<HttpClient> _clients = new();

    /// <param name="raftConfig">More of each node's <c>raft</c> section, e.g. <c>snapshot.entries-threshold = 50</c>.</param>
    /// <param name="voters">
    /// How many servers (the first ones) the cluster starts with; the others run with
    /// <c>raft.join = on</c>, to be added through <c>POST /members</c>. All of them by default.
    /// </param>
    public TestCluster(ITestOutputHelper output, int size = 3, string requestTimeout = "3s", bool faultInjection = false, string raftConfig = "", int? voters = null)
        : this(output, size, (ports, i) => GeneratedConfig(ports, size, voters ?? size, i, requestTimeout, faultInjection, raftConfig))
    {
    }

    /// <param name="config">Node i's (1-based) config file's text, given the cluster's ports.</param>
    private TestCluster(ITestOutputHelper output, int size, Func<ClusterPorts, int, string> config)
    {
        _output = output;
        Root = Path.Combine(Path.GetTempPath(), $"raftactors-it-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Root);
        var ports = LoopbackPorts.Free(2 * size);
        AkkaPorts = ports.Take(size).ToArray();
        HttpPorts = ports.Skip(size).ToArray();
        for (var i = 1; i <= size; i++)
        {
            var file = Path.Combine(Root, $"node{i}.conf");
            File.WriteAllText(file, config(new ClusterPorts(AkkaPorts, HttpPorts), i));
            Servers.Add(new ServerProcess($"n{i}", file));
            _clients.Add(new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{HttpPorts[i - 1]}"), Timeout = TimeSpan.FromSeconds(15) });
        }
    }

    /// <summary>
    /// A cluster from the repository's example configs hocon/&lt;directory&gt;/node1.conf, ...: each
    /// file as it is, but with its loopback ports (Akka 4051.., HTTP 8081..) moved to free ones,
    /// its data directory under <see cref="Root"/> (configs say "data/..." relative to the working
    /// directory, which is Root), and whatever else <paramref name="adapt"/> changes.
    /// </summary>
    public static TestCluster FromExampleConfigs(ITestOutputHelper output, string directory, Func<string, string>? adapt = null)
    {
        var source = Path.Combine(RepositoryRoot, "hocon", directory);
        var files = Directory.GetFiles(source, "node*.conf").Order().ToList();
        return new TestCluster(output, files.Count, (ports, i) =>
        {
            var text = File.ReadAllText(Path.Combine(source, $"node{i}.conf"));
            for (var n = 1; n <= files.Count; n++)
            {
                text = Regex.Replace(text, $@"\b{4050 + n}\b", ports.Akka[n - 1].ToString());
                text = Regex.Replace(text, $@"\b{8080 + n}\b", ports.Http[n - 1].ToString());
            }

            return adapt is null ? text : adapt(text);
        });
    }

    /// <summary>The repository: the directory above this assembly that holds RaftActors.sln.</summary>
    public static string RepositoryRoot { get; } = FindRepositoryRoot();

    private static string FindRepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "RaftActors.sln")))
                return directory.FullName;
        }

        throw new InvalidOperationException($"no RaftActors.sln above {AppContext.BaseDirectory}");
    }

    /// <summary>
    /// The config the server's <c>cluster</c> command writes, on this cluster's ports, with short
    /// election and heartbeat times. A founding server lists the founders (the starting
    /// configuration); a joining one every server (where they live).
    /// </summary>
    private static string GeneratedConfig(ClusterPorts ports, int size, int voters, int i, string requestTimeout, bool faultInjection, string raftConfig)
    {
        var joins = i > voters;
        var members = Enumerable.Range(1, joins ? size : voters).Select(n => ($"n{n}", LoopbackConfigs.AkkaAddress(ports.Akka[n - 1])));
        return LoopbackConfigs.Config(i, ports.Akka[i - 1], ports.Http[i - 1], members, joins, faultInjection, $"""
            election-timeout-min = 150ms
            election-timeout-max = 300ms
            heartbeat-interval = 50ms
            server.request-timeout = {requestTimeout}
            {raftConfig}
            """);
    }

    private sealed record ClusterPorts(int[] Akka, int[] Http);

    public string Root { get; }

    public int[] AkkaPorts { get; }

    public int[] HttpPorts { get; }

    public List<ServerProcess> Servers { get; } = new();

    public int Size => Servers.Count;

    public IEnumerable<int> Nodes => Enumerable.Range(0, Size);

    public IEnumerable<int> Running => Nodes.Where(i => Servers[i].Running);

    /// <summary>The node's HTTP client (node 0 is n1).</summary>
    public HttpClient Http(int node) => _clients[node];

    public int IndexOf(string id) => Servers.FindIndex(s => s.Id == id);

    /// <summary>Akka address of server <paramref name="node"/>, as <c>POST /members</c> takes it.</summary>
    public string AkkaAddress(int node) => LoopbackConfigs.AkkaAddress(AkkaPorts[node]);

    public string DataDirectory(int node) => Path.Combine(Root, "data", Servers[node].Id);

    public void Log(string line) => _output.WriteLine($"{DateTime.Now:HH:mm:ss.fff} +{_clock.Elapsed.TotalSeconds:F3}s  {line}");

    public void StartAll()
    {
        foreach (var server in Servers)
            server.Start();
        Log($"started {string.Join(", ", Servers.Select(s => s.Id))}");
    }

    public void Start(int node)
    {
        Servers[node].Start();
        Log($"started {Servers[node].Id}");
    }

    public void Kill(int node)
    {
        Servers[node].Kill();
        Log($"SIGKILLed {Servers[node].Id}");
    }

    public void Pause(int node)
    {
        Servers[node].Pause();
        Log($"SIGSTOPped {Servers[node].Id}");
    }

    public void Resume(int node)
    {
        Servers[node].Resume();
        Log($"SIGCONTed {Servers[node].Id}");
    }

    /// <summary>
    /// Cuts <paramref name="side"/> off from the other nodes (a cluster made with fault injection):
    /// each node on either side blackholes the other side. Nodes that do not answer are skipped
    /// and named in the log; <see cref="HealAsync"/> ends it.
    /// </summary>
    public async Task PartitionAsync(IReadOnlyCollection<int> side)
    {
        var other = Nodes.Except(side).ToList();
        await Task.WhenAll(
            side.Select(n => AdminAsync(n, "/admin/partition", other))
                .Concat(other.Select(n => AdminAsync(n, "/admin/partition", side))));
        Log($"partitioned {{{Ids(side)}}} from {{{Ids(other)}}}");
    }

    /// <summary>Every running node talks to every other again.</summary>
    public async Task HealAsync()
    {
        await Task.WhenAll(Running.ToList().Select(n => AdminAsync(n, "/admin/heal", null)));
        Log("healed");
    }

    private string Ids(IEnumerable<int> nodes) => string.Join(", ", nodes.Select(n => Servers[n].Id));

    private async Task AdminAsync(int node, string path, IEnumerable<int>? cut)
    {
        var body = cut is null ? null : new StringContent(JsonSerializer.Serialize(new { cut = cut.Select(n => Servers[n].Id) }), Encoding.UTF8, "application/json");
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            var reply = await SendAsync(node, HttpMethod.Post, path, body, null, timeout.Token);
            if (reply.Status != 200)
                Log($"{Servers[node].Id} {path}: {reply}");
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException)
        {
            Log($"{Servers[node].Id} {path}: no answer ({e.GetType().Name})");
        }
    }

    public async Task<NodeStatus?> StatusAsync(int node)
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            using var response = await Http(node).GetAsync("/status", timeout.Token);
            if (response.StatusCode != HttpStatusCode.OK)
                return null;
            return NodeStatus.Parse(await response.Content.ReadAsStringAsync(timeout.Token));
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or OperationCanceledException)
        {
            return null;
        }
    }

    /// <summary>
    /// Waits until the given nodes agree: exactly one of them is Leader of a term above
    /// <paramref name="aboveTerm"/>, and every one reports that leader in that term.
    /// </summary>
    public async Task<NodeStatus> WaitForAgreedLeaderAsync(IEnumerable<int> among, TimeSpan within, long aboveTerm = 0)
    {
        var nodes = among.ToList();
        var deadline = _clock.Elapsed + within;
        NodeStatus?[] statuses = [];
        while (_clock.Elapsed < deadline)
        {
            statuses = await Task.WhenAll(nodes.Select(StatusAsync));
            var leaders = statuses.Where(s => s is { Role: "Leader" }).ToList();
            if (statuses.All(s => s is not null) && leaders.Count == 1 && leaders[0]!.Term > aboveTerm &&
                statuses.All(s => s!.Term == leaders[0]!.Term && s.Leader == leaders[0]!.Id))
            {
                Log($"leader {leaders[0]!.Id} of term {leaders[0]!.Term}, followed by {string.Join(", ", nodes.Select(n => Servers[n].Id))}");
                return leaders[0]!;
            }

            await Task.Delay(25);
        }

        throw new Xunit.Sdk.XunitException(
            $"no agreed leader among {string.Join(", ", nodes.Select(n => Servers[n].Id))} within {within.TotalSeconds:F1} s; last: " +
            string.Join("; ", statuses.Select((s, i) => $"{Servers[nodes[i]].Id}: {s?.ToString() ?? "no answer"}")));
    }

    // Writes carry an Idempotency-Key (a new one unless given) and, unless retry is off, are sent again
    // with the same id on 503, 504 or a refused connection, as a careful client does: the cluster
    // applies one key at most once, so "acknowledged" means a 200 for that key.
    public Task<Reply> PutAsync(int node, string key, string value, string? idempotencyKey = null, bool retry = true) =>
        WriteAsync(node, HttpMethod.Put, $"/kv/{Uri.EscapeDataString(key)}", () => new StringContent(value, Encoding.UTF8, "text/plain"), idempotencyKey, retry);

    public Task<Reply> DeleteAsync(int node, string key, string? idempotencyKey = null, bool retry = true) =>
        WriteAsync(node, HttpMethod.Delete, $"/kv/{Uri.EscapeDataString(key)}", () => null, idempotencyKey, retry);

    public Task<Reply> CasAsync(int node, string key, string? expected, string value, string? idempotencyKey = null, bool retry = true) =>
        WriteAsync(node, HttpMethod.Post, $"/kv/{Uri.EscapeDataString(key)}/cas",
            () => new StringContent(JsonSerializer.Serialize(new { expected, value }), Encoding.UTF8, "application/json"), idempotencyKey, retry);

    /// <summary>A read, linearizable unless stale; unless retry is off, a 503 (no leader yet) is tried again.</summary>
    public Task<Reply> GetAsync(int node, string key, bool stale = false, bool retry = true) =>
        WithRetryAsync(retry, () => SendAsync(node, HttpMethod.Get, $"/kv/{Uri.EscapeDataString(key)}{(stale ? "?stale=true" : "")}", null, null));

    private Task<Reply> WriteAsync(int node, HttpMethod method, string path, Func<HttpContent?> content, string? idempotencyKey, bool retry)
    {
        idempotencyKey ??= $"test-{Guid.NewGuid():N}";
        return WithRetryAsync(retry, () => SendAsync(node, method, path, content(), idempotencyKey));
    }

    private static async Task<Reply> WithRetryAsync(bool retry, Func<Task<Reply>> send)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (true)
        {
            try
            {
                var reply = await send();
                if (!retry || reply.Status is not (503 or 504) || DateTime.UtcNow > deadline)
                    return reply;
            }
            catch (HttpRequestException e) when (retry && e.HttpRequestError == HttpRequestError.ConnectionError && DateTime.UtcNow < deadline)
            {
            }

            await Task.Delay(100);
        }
    }

    /// <param name="header">The header the key goes in: Idempotency-Key, or the deprecated Request-Id.</param>
    public async Task<Reply> SendAsync(
        int node, HttpMethod method, string path, HttpContent? content, string? idempotencyKey, CancellationToken cancel = default, string header = "Idempotency-Key")
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        if (idempotencyKey is not null)
            request.Headers.Add(header, idempotencyKey);
        using var response = await Http(node).SendAsync(request, cancel);
        var body = await response.Content.ReadAsStringAsync(cancel);
        return new Reply((int)response.StatusCode, body) { RetryAfter = response.Headers.RetryAfter?.Delta };
    }

    /// <summary>Polls <paramref name="condition"/> until it holds or the time is up (then fails with <paramref name="what"/>).</summary>
    public async Task WaitUntilAsync(string what, TimeSpan within, Func<Task<bool>> condition)
    {
        var deadline = _clock.Elapsed + within;
        while (!await condition())
        {
            if (_clock.Elapsed > deadline)
                throw new Xunit.Sdk.XunitException($"not within {within.TotalSeconds:F1} s: {what}");
            await Task.Delay(50);
        }
    }

    public void Dispose()
    {
        foreach (var server in Servers)
            server.Dispose();
        foreach (var client in _clients)
            client.Dispose();
        foreach (var server in Servers)
        {
            _output.WriteLine($"---- output of {server.Id} ----");
            _output.WriteLine(server.Output);
        }

        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

}

/// <summary>What GET /status says.</summary>
public sealed record NodeStatus(
    string Id, string Role, long Term, string? Leader, long CommitIndex, long LastApplied, long LastLogIndex, long SnapshotIndex, long SnapshotTerm, bool Voter)
{
    public static NodeStatus Parse(string json)
    {
        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;
        return new NodeStatus(
            root.GetProperty("id").GetString()!,
            root.GetProperty("role").GetString()!,
            root.GetProperty("term").GetInt64(),
            root.GetProperty("leader").GetString(),
            root.GetProperty("commitIndex").GetInt64(),
            root.GetProperty("lastApplied").GetInt64(),
            root.GetProperty("lastLogIndex").GetInt64(),
            root.GetProperty("snapshotIndex").GetInt64(),
            root.GetProperty("snapshotTerm").GetInt64(),
            root.GetProperty("voter").GetBoolean());
    }

    public override string ToString() =>
        $"{Role} term {Term} leader {Leader ?? "-"} log {LastLogIndex} commit {CommitIndex} applied {LastApplied} snapshot {SnapshotIndex}:{SnapshotTerm}";
}

/// <summary>An HTTP answer: status code and body.</summary>
public sealed record Reply(int Status, string Body)
{
    /// <summary>The Retry-After header, when the response has one in seconds.</summary>
    public TimeSpan? RetryAfter { get; init; }

    public JsonElement Json
    {
        get
        {
            using var document = JsonDocument.Parse(Body);
            return document.RootElement.Clone();
        }
    }

    public override string ToString() => $"{Status} {Body}";
}
