using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using Akka.Actor;
using Akka.Configuration;
using Akka.Event;
using RaftActors.Configuration;
using RaftActors.Core;
using RaftActors.Discovery;
using RaftActors.Messages;
using RaftActors.Node;
using RaftActors.Storage;
using Xunit.Abstractions;

namespace RaftActors.Tests.Cluster;

/// <summary>A <see cref="RaftStateChanged"/> as the harness saw it, stamped with the time since the nodes started.</summary>
public sealed record ObservedChange(TimeSpan At, RaftStateChanged Change)
{
    public override string ToString() =>
        $"+{At.TotalMilliseconds,7:F1}ms {Change.NodeId} {Change.Role} term {Change.Term} leader {Change.LeaderId ?? "-"}";
}

/// <summary>One poll of every running node's <see cref="RaftStatus"/>; a node that did not answer in time is missing.</summary>
public sealed record ClusterSample(TimeSpan At, IReadOnlyDictionary<string, RaftStatus?> Statuses)
{
    /// <summary>
    /// The leader every sampled node agrees on: exactly one node is Leader, its term is above
    /// <paramref name="aboveTerm"/>, and every other node answered, is a Follower in that term
    /// and names it as leader. Null while that does not hold.
    /// </summary>
    public RaftStatus? AgreedLeader(long aboveTerm)
    {
        if (Statuses.Values.Any(s => s is null))
            return null;
        var statuses = Statuses.Values.Select(s => s!).ToList();
        var leaders = statuses.Where(s => s.Role == RaftRole.Leader).ToList();
        if (leaders.Count != 1 || leaders[0].Term <= aboveTerm)
            return null;
        var leader = leaders[0];
        return statuses.All(s => s.Term == leader.Term && s.LeaderId == leader.NodeId) ? leader : null;
    }

    public override string ToString() =>
        $"at +{At.TotalMilliseconds:F0}ms: " + string.Join("; ", Statuses.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv =>
            kv.Value is { } s ? $"{kv.Key} {s.Role} term {s.Term} leader {s.LeaderId ?? "-"}" : $"{kv.Key} no answer"));
}

/// <summary>How a <see cref="LocalRemoteCluster"/>'s nodes find each other and talk.</summary>
public sealed record LocalClusterOptions
{
    /// <summary>Settings over <see cref="LocalRemoteCluster.NodeConfig"/> for every system (TLS, say).</summary>
    public Config Config { get; init; } = Config.Empty;

    /// <summary>
    /// Cluster discovery: the systems are Akka.Cluster members (roles <c>raft</c> and
    /// <c>raft-id:nN</c>), n1 joins itself and the others join n1; the nodes get only the member
    /// ids and learn from the cluster where each lives. Otherwise every node gets every path.
    /// </summary>
    public bool AkkaCluster { get; init; }

    /// <summary>
    /// How many nodes (the first ones) the Raft cluster starts with; the others start to join it
    /// (<c>raft.join = on</c>, knowing only themselves under cluster discovery), to be added by a
    /// membership change. All of them by default.
    /// </summary>
    public int? Voters { get; init; }

    /// <summary>Called with each node's id and ActorSystem before any node starts (to register a different serializer, say).</summary>
    public Action<string, ActorSystem>? ConfigureSystem { get; init; }

    /// <summary>
    /// The nodes' election timeout range and heartbeat interval: 150-300 ms and 50 ms, the paper's
    /// example, unless a test that is not about elections asks for longer ones, which a loaded
    /// machine's scheduling pauses do not reach.
    /// </summary>
    public (TimeSpan Min, TimeSpan Max, TimeSpan Heartbeat) Timing { get; init; } =
        (TimeSpan.FromMilliseconds(150), TimeSpan.FromMilliseconds(300), TimeSpan.FromMilliseconds(50));
}

/// <summary>
/// An in-process Raft cluster over real Akka.Remote: every node is a <see cref="RaftNode"/> named
/// "raft" in its own ActorSystem listening on 127.0.0.1 at a port the OS picks. Every
/// <see cref="RaftStateChanged"/> of every node is recorded in <see cref="History"/>, and every
/// warning or error Akka logs in <see cref="LogLines"/>. Disposing terminates every system.
/// </summary>
public sealed class LocalRemoteCluster : IAsyncDisposable
{
    public const string SystemName = "raft";
    public const string ActorName = "raft";

    private static readonly TimeSpan TerminateTimeout = TimeSpan.FromSeconds(10);

    private readonly ConcurrentQueue<ObservedChange> _history = new();
    private readonly ConcurrentQueue<string> _logLines = new();
    private readonly Dictionary<string, ActorSystem> _systems = new(StringComparer.Ordinal);
    private readonly Dictionary<string, IActorRef> _nodes = new(StringComparer.Ordinal);
    private readonly HashSet<string> _stopped = new(StringComparer.Ordinal);
    private readonly Stopwatch _clock = new();
    private readonly ITestOutputHelper? _output;
    private bool _disposed;

    private readonly LocalClusterOptions _options;

    private LocalRemoteCluster(int seed, ITestOutputHelper? output, LocalClusterOptions options)
    {
        Seed = seed;
        _output = output;
        _options = options;
    }

    /// <summary>The test seed every node's election-timeout seed is derived from.</summary>
    public int Seed { get; }

    /// <summary>The node ids, n1..nN.</summary>
    public IReadOnlyList<string> NodeIds { get; private set; } = [];

    /// <summary>Each node's election-timeout seed.</summary>
    public IReadOnlyDictionary<string, int> NodeSeeds { get; private set; } = new Dictionary<string, int>();

    /// <summary>The nodes whose ActorSystem still runs.</summary>
    public IReadOnlyList<string> RunningNodeIds
    {
        get
        {
            lock (_stopped)
                return NodeIds.Where(id => !_stopped.Contains(id)).ToList();
        }
    }

    /// <summary>Time since the node actors were created.</summary>
    public TimeSpan Elapsed => _clock.Elapsed;

    /// <summary>Every state change every node published, in the order the harness received them.</summary>
    public IReadOnlyList<ObservedChange> History => _history.ToArray();

    /// <summary>Every warning and error logged by any of the ActorSystems.</summary>
    public IReadOnlyList<string> LogLines => _logLines.ToArray();

    /// <summary>
    /// A test seed: the RAFT_TEST_SEED environment variable when set (to replay a run), else a fresh one.
    /// </summary>
    public static int NewTestSeed() =>
        int.TryParse(Environment.GetEnvironmentVariable("RAFT_TEST_SEED"), out var seed) ? seed : Random.Shared.Next();

    /// <summary>
    /// Creates <paramref name="size"/> ActorSystems, then a node in each; node i's election-timeout
    /// seed is the i-th number drawn from <paramref name="seed"/>. The clock starts as the nodes start.
    /// </summary>
    public static async Task<LocalRemoteCluster> StartAsync(int size, int seed, ITestOutputHelper? output = null, LocalClusterOptions? options = null)
    {
        var cluster = new LocalRemoteCluster(seed, output, options ?? new LocalClusterOptions());
        try
        {
            cluster.Start(size);
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    private void Start(int size)
    {
        var ids = Enumerable.Range(1, size).Select(i => $"n{i}").ToList();
        var random = new Random(Seed);
        NodeIds = ids;
        NodeSeeds = ids.ToDictionary(id => id, _ => random.Next(), StringComparer.Ordinal);
        _output?.WriteLine($"test seed {Seed} (replay with RAFT_TEST_SEED={Seed}); node seeds: " +
                           string.Join(", ", ids.Select(id => $"{id}={NodeSeeds[id]}")));

        // All systems first: their ports are known only once they listen.
        var members = new List<RaftMember>();
        foreach (var id in ids)
        {
            var config = _options.AkkaCluster ? ClusterMemberConfig(id).WithFallback(NodeConfig) : NodeConfig;
            if (!_options.Config.IsEmpty)
                config = _options.Config.WithFallback(config);
            var system = ActorSystem.Create(SystemName, config);
            _systems[id] = system;
            var address = ((ExtendedActorSystem)system).Provider.DefaultAddress;
            if (address.Port is null or 0)
                throw new InvalidOperationException($"node {id} did not report its bound port: {address}");
            members.Add(new RaftMember(id, new RootActorPath(address) / "user" / ActorName));

            // Subscribed before the node exists, so no change is missed.
            var collector = system.ActorOf(Props.Create(() => new Collector(id, _clock, _history, _logLines)), "harness-collector");
            system.EventStream.Subscribe(collector, typeof(RaftStateChanged));
            system.EventStream.Subscribe(collector, typeof(Warning));
            system.EventStream.Subscribe(collector, typeof(Error));
        }

        _output?.WriteLine("members: " + string.Join(", ", members.Select(m => $"{m.Id}={m.Path}")));
        if (_options.AkkaCluster)
        {
            // The first node forms the cluster; the others join through it, as through a seed node.
            var first = Akka.Cluster.Cluster.Get(_systems[ids[0]]).SelfAddress;
            foreach (var id in ids)
                Akka.Cluster.Cluster.Get(_systems[id]).Join(first);
        }

        foreach (var id in ids)
            _options.ConfigureSystem?.Invoke(id, _systems[id]);

        _clock.Start();
        foreach (var id in ids)
        {
            var settings = new RaftSettings(_options.Timing.Min, _options.Timing.Max, _options.Timing.Heartbeat, NodeSeeds[id]);
            var founder = ids.IndexOf(id) < (_options.Voters ?? ids.Count);
            var founders = ids.Take(_options.Voters ?? ids.Count).ToList();
            var membership = _options.AkkaCluster
                ? RaftMembership.ForCluster(id, founder ? founders : [id]) with { Join = !founder }
                : RaftMembership.Create(id, members) with
                {
                    Join = !founder,
                    Bootstrap = founder ? ClusterConfiguration.OfVoters(founders) : ClusterConfiguration.Empty,
                };
            var props = RaftNode.Props(membership, settings, new InMemoryRaftStorage());
            _nodes[id] = _systems[id].ActorOf(props, ActorName);
        }
    }

    /// <summary>The node's ActorSystem.</summary>
    public ActorSystem SystemOf(string nodeId) => _systems[nodeId];

    /// <summary>
    /// Sends <paramref name="command"/> to <paramref name="nodeId"/> and waits for the answer (the
    /// node answers once the command is committed and applied, or says why not).
    /// </summary>
    public Task<IClientReply> SendCommandAsync(string nodeId, object command, TimeSpan timeout) =>
        _nodes[nodeId].Ask<IClientReply>(new ClientCommand(command), timeout);

    /// <summary>Sends a request (a membership change, say) to <paramref name="nodeId"/> and waits for the answer.</summary>
    public Task<object> AskAsync(string nodeId, object request, TimeSpan timeout) => _nodes[nodeId].Ask<object>(request, timeout);

    /// <summary>Polls every running node until each has applied <paramref name="index"/>; false if <paramref name="within"/> passes first.</summary>
    public async Task<(bool Applied, ClusterSample Last)> WaitForAppliedAsync(long index, TimeSpan within)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var sample = await SampleAsync(TimeSpan.FromMilliseconds(250));
            if (sample.Statuses.Values.All(s => s is not null && s.LastApplied >= index))
                return (true, sample);
            if (deadline.Elapsed >= within)
                return (false, sample);
            await Task.Delay(10);
        }
    }

    /// <summary>Asks every running node for its status at once; a node that does not answer within <paramref name="timeout"/> maps to null.</summary>
    public async Task<ClusterSample> SampleAsync(TimeSpan timeout)
    {
        var running = RunningNodeIds;
        var asks = running.Select(async id =>
        {
            try
            {
                return (id, status: (RaftStatus?)await _nodes[id].Ask<RaftStatus>(GetRaftStatus.Instance, timeout));
            }
            catch (Exception e) when (e is AskTimeoutException or TaskCanceledException)
            {
                return (id, status: (RaftStatus?)null);
            }
        }).ToList();
        var results = await Task.WhenAll(asks);
        return new ClusterSample(Elapsed, results.ToDictionary(r => r.id, r => r.status, StringComparer.Ordinal));
    }

    /// <summary>
    /// Polls the running nodes until they agree on one leader of a term above <paramref name="aboveTerm"/>
    /// (see <see cref="ClusterSample.AgreedLeader"/>) or <paramref name="within"/> has passed.
    /// </summary>
    /// <returns>The leader's status, or null on time-out, with the last sample either way.</returns>
    public async Task<(RaftStatus? Leader, ClusterSample Last)> WaitForAgreedLeaderAsync(TimeSpan within, long aboveTerm = 0)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var remaining = within - deadline.Elapsed;
            var sample = await SampleAsync(remaining > TimeSpan.FromMilliseconds(250) ? TimeSpan.FromMilliseconds(250) : remaining.Duration());
            if (sample.AgreedLeader(aboveTerm) is { } leader)
                return (leader, sample);
            if (deadline.Elapsed >= within)
                return (null, sample);
            await Task.Delay(10);
        }
    }

    /// <summary>Waits for a leader every running node agrees on (see <see cref="WaitForAgreedLeaderAsync"/>); fails the test, saying <paramref name="when"/>, without one.</summary>
    public async Task<RaftStatus> ExpectAgreedLeaderAsync(TimeSpan within, long aboveTerm, string when)
    {
        var (leader, last) = await WaitForAgreedLeaderAsync(within < TimeSpan.Zero ? TimeSpan.Zero : within, aboveTerm);
        Assert.True(
            leader is not null,
            $"no leader of a term above {aboveTerm} agreed by all running nodes {when} within the bound " +
            $"(seed {Seed}); last sample {last}\n{Describe()}");
        return leader!;
    }

    /// <summary>
    /// Commits <paramref name="command"/> through <paramref name="leaderId"/> and waits until every
    /// running node has applied it; fails the test otherwise. Returns the command's log index.
    /// </summary>
    public async Task<long> ExpectCommittedEverywhereAsync(string leaderId, object command, TimeSpan within)
    {
        var reply = await SendCommandAsync(leaderId, command, within);
        var applied = Assert.IsType<CommandApplied>(reply);
        var (done, last) = await WaitForAppliedAsync(applied.Index, within);
        Assert.True(done, $"index {applied.Index} was not applied on every running node within {within.TotalSeconds} s (seed {Seed}); last sample {last}\n{Describe()}");
        return applied.Index;
    }

    /// <summary>Election Safety and term monotonicity over the whole history, and no serialization problem logged.</summary>
    public void AssertSafety()
    {
        var history = History;
        var violations = ClusterInvariants.ElectionSafetyViolations(history)
            .Concat(ClusterInvariants.TermMonotonicityViolations(history))
            .ToList();
        Assert.True(violations.Count == 0, $"seed {Seed}: {string.Join("\n", violations)}\n{Describe()}");
        var serialization = LogLines.Where(l => l.Contains("serializ", StringComparison.OrdinalIgnoreCase)).ToList();
        Assert.True(serialization.Count == 0, $"seed {Seed}: serialization problems were logged:\n{string.Join("\n", serialization)}");
    }

    /// <summary>Terminates the node's ActorSystem and waits until it is down.</summary>
    public async Task StopNodeAsync(string nodeId)
    {
        ActorSystem system;
        lock (_stopped)
        {
            if (!_stopped.Add(nodeId))
                return;
            system = _systems[nodeId];
        }

        await TerminateAsync(system);
    }

    /// <summary>The time of the first event in which <paramref name="nodeId"/> became Leader of <paramref name="term"/>.</summary>
    public TimeSpan? BecameLeaderAt(string nodeId, long term) =>
        History.FirstOrDefault(o => o.Change.NodeId == nodeId && o.Change.Role == RaftRole.Leader && o.Change.Term == term)?.At;

    /// <summary>Everything useful in a failure message: the seeds, the history and the logged warnings.</summary>
    public string Describe()
    {
        var text = new StringBuilder();
        text.AppendLine($"test seed {Seed} (replay with RAFT_TEST_SEED={Seed}); node seeds: " +
                        string.Join(", ", NodeIds.Select(id => $"{id}={NodeSeeds[id]}")));
        text.AppendLine("history:");
        foreach (var change in History)
            text.AppendLine("  " + change);
        var logs = LogLines;
        if (logs.Count > 0)
        {
            text.AppendLine("akka warnings and errors:");
            foreach (var line in logs)
                text.AppendLine("  " + line);
        }

        return text.ToString();
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
            return;
        _disposed = true;

        // Never throws: an exception here would hide the test's own failure.
        var stuck = new List<string>();
        await Task.WhenAll(_systems.Select(async kv =>
        {
            try
            {
                await TerminateAsync(kv.Value);
            }
            catch (TimeoutException)
            {
                lock (stuck)
                    stuck.Add(kv.Key);
            }
        }));
        if (_output is not null)
        {
            try
            {
                if (stuck.Count > 0)
                    _output.WriteLine($"the ActorSystems of {string.Join(", ", stuck)} did not terminate within {TerminateTimeout.TotalSeconds} s");
                _output.WriteLine(Describe());
            }
            catch (InvalidOperationException)
            {
                // The test is over: nowhere to write.
            }
        }
    }

    private static async Task TerminateAsync(ActorSystem system)
    {
        var terminate = system.Terminate();
        if (await Task.WhenAny(terminate, Task.Delay(TerminateTimeout)) != terminate)
            throw new TimeoutException($"ActorSystem {system.Name} did not terminate within {TerminateTimeout.TotalSeconds} s");
    }

    /// <summary>
    /// The configuration of every node's ActorSystem: remoting on 127.0.0.1, a free port, Akka's
    /// warnings only, over RaftActors' defaults as the documentation tells applications to load them.
    /// </summary>
    public static readonly Config NodeConfig = ConfigurationFactory.ParseString("""
        akka {
          loglevel = WARNING
          stdout-loglevel = WARNING
          # The warnings are recorded by the harness and shown with a failed test; keep the console quiet.
          loggers = []
          log-dead-letters = off
          log-dead-letters-during-shutdown = off
          actor.provider = remote
          remote {
            log-remote-lifecycle-events = off
            # As RaftActors' reference.conf sets it for nodes (see there and the README): without it a
            # node restarted on its address can end up heard one way only, and the node warns.
            use-passive-connections = off
            dot-netty.tcp {
              hostname = "127.0.0.1"
              port = 0
              # Akka's default on Linux (SO_REUSEADDR, which .NET maps to SO_REUSEPORT too) lets two listeners share a port.
              tcp-reuse-addr = off
            }
          }
        }
        """).WithFallback(RaftSettings.DefaultConfig);

    /// <summary>Makes an ActorSystem an Akka.Cluster member that cluster discovery finds as Raft member <paramref name="nodeId"/>.</summary>
    public static Config ClusterMemberConfig(string nodeId) => ConfigurationFactory.ParseString($$"""
        akka.actor.provider = cluster
        akka.cluster.roles = [ {{string.Join(", ", ClusterAddressBook.RolesOf(nodeId).Select(r => $"\"{r}\""))}} ]
        """);

    /// <summary>Lives in each node's system; records the node's state changes and Akka's warnings.</summary>
    private sealed class Collector : ReceiveActor
    {
        public Collector(string nodeId, Stopwatch clock, ConcurrentQueue<ObservedChange> history, ConcurrentQueue<string> logs)
        {
            Receive<RaftStateChanged>(change => history.Enqueue(new ObservedChange(clock.Elapsed, change)));
            Receive<LogEvent>(log => logs.Enqueue($"+{clock.Elapsed.TotalMilliseconds:F1}ms [{nodeId}] {log.LogLevel()} {log.LogSource}: {log.Message}{(log.Cause is null ? "" : " " + log.Cause)}"));
        }
    }
}
