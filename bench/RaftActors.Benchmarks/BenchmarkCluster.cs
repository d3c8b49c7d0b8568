using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Configuration;
using RaftActors.Client;
using RaftActors.Configuration;
using RaftActors.Core;
using RaftActors.Messages;
using RaftActors.Node;
using RaftActors.Serialization;
using RaftActors.Storage;

namespace RaftActors.Benchmarks;

/// <summary>
/// The cluster under measurement, in this process: every Raft node is a <see cref="RaftNode"/> in
/// an ActorSystem of its own, listening on its own loopback port, with a <see cref="FileRaftStorage"/>
/// in its own directory; the nodes talk over Akka.Remote only. The clients live in one more
/// ActorSystem, "client", and reach the nodes over Akka.Remote too, as an application would.
/// A node can be killed (its ActorSystem terminated) and restarted from its directory on the
/// same port.
/// </summary>
public sealed class BenchmarkCluster : IAsyncDisposable
{
    public const string NodeSystemName = "raft";
    public const string ActorName = "raft";

    private static readonly TimeSpan TerminateTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan BindTimeout = TimeSpan.FromSeconds(30);

    private readonly BenchmarkOptions _options;
    private readonly ReplicationTrafficMeter _meter;
    private readonly List<BenchmarkNode> _nodes;
    private readonly bool _ownsDirectory;
    private readonly object _leaderLock = new();
    private readonly List<(long AboveTerm, TaskCompletionSource<(string NodeId, long Term)> Found)> _leaderWaiters = new();
    private (string NodeId, long Term)? _latestLeader;

    private BenchmarkCluster(BenchmarkOptions options, string root, bool ownsDirectory, ReplicationTrafficMeter meter)
    {
        _options = options;
        _meter = meter;
        Root = root;
        _ownsDirectory = ownsDirectory;
        var ports = LoopbackPorts.Free(options.Nodes);
        _nodes = Enumerable.Range(1, options.Nodes)
            .Select(i => new BenchmarkNode($"n{i}", ports[i - 1], Path.Combine(root, $"n{i}")))
            .ToList();
        Members = _nodes
            .Select(n => new RaftMember(n.Id, new RootActorPath(new Address("akka.tcp", NodeSystemName, "127.0.0.1", n.Port)) / "user" / ActorName))
            .ToList();
        ClientSystem = ActorSystem.Create("client", RemotingConfig(port: 0, options.AkkaLogLevel));
        RaftExtension.Get(ClientSystem);
        meter.Install(ClientSystem);
    }

    /// <summary>The directory holding every node's storage.</summary>
    public string Root { get; }

    public IReadOnlyList<RaftMember> Members { get; }

    /// <summary>The clients' ActorSystem.</summary>
    public ActorSystem ClientSystem { get; }

    public IReadOnlyList<string> RunningNodeIds => _nodes.Where(n => n.System is not null).Select(n => n.Id).ToList();

    /// <summary>Creates the directories and starts every node.</summary>
    public static BenchmarkCluster Start(BenchmarkOptions options, ReplicationTrafficMeter meter)
    {
        var ownsDirectory = options.DataDirectory is null;
        var root = options.DataDirectory ?? Path.Combine(Path.GetTempPath(), "raftactors-bench-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(root);
        var cluster = new BenchmarkCluster(options, root, ownsDirectory, meter);
        foreach (var node in cluster._nodes)
            cluster.StartNode(node);
        return cluster;
    }

    /// <summary>
    /// A client as an application would use one: <see cref="RaftClientFacade"/> over a <see cref="RaftClient"/>
    /// actor, in the clients' own ActorSystem or in the ActorSystem of the node <paramref name="leaderId"/>
    /// (<see cref="BenchmarkOptions.ClientsIn"/>, unless <paramref name="placement"/> says).
    /// </summary>
    public RaftClientFacade StartClient(string name, int seed, string leaderId, ClientPlacement? placement = null)
    {
        var host = (placement ?? _options.ClientsIn) == ClientPlacement.LeaderSystem ? NodeById(leaderId).System! : ClientSystem;
        return RaftClientFacade.Start(host, Members, new RaftClientOptions { ClientId = name, RandomSeed = seed }, name);
    }

    /// <summary>The directory of a node's storage.</summary>
    public string NodeDirectory(string nodeId) => NodeById(nodeId).Directory;

    /// <summary>The path of a node's actor, as the clients reach it.</summary>
    public ActorPath PathOf(string nodeId) =>
        Members.Single(m => m.Id == nodeId).Path ?? throw new InvalidOperationException($"{nodeId} has no static address"); // the benchmark lists members statically

    /// <summary>
    /// The first node that announces itself leader of a term above <paramref name="aboveTerm"/>
    /// (at once when one already has), from the <see cref="RaftStateChanged"/> events of every node.
    /// </summary>
    public Task<(string NodeId, long Term)> LeaderAboveAsync(long aboveTerm)
    {
        lock (_leaderLock)
        {
            if (_latestLeader is { } latest && latest.Term > aboveTerm && NodeById(latest.NodeId).System is not null)
                return Task.FromResult(latest);
            var found = new TaskCompletionSource<(string, long)>(TaskCreationOptions.RunContinuationsAsynchronously);
            _leaderWaiters.Add((aboveTerm, found));
            return found.Task;
        }
    }

    /// <summary>
    /// Waits until every running node follows one leader in one term and has applied everything
    /// the leader's log holds: the cluster is idle and whole, ready for the next measurement.
    /// </summary>
    public async Task<RaftStatus> WaitUntilSettledAsync(TimeSpan within)
    {
        var clock = Stopwatch.StartNew();
        IReadOnlyList<RaftStatus?> last = [];
        while (clock.Elapsed < within)
        {
            last = await StatusesAsync(TimeSpan.FromMilliseconds(500));
            if (last.All(s => s is not null))
            {
                var statuses = last.Select(s => s!).ToList();
                var leaders = statuses.Where(s => s.Role == RaftRole.Leader).ToList();
                if (leaders.Count == 1 && statuses.All(s =>
                        s.Term == leaders[0].Term && s.LeaderId == leaders[0].NodeId &&
                        s.LastLogIndex == leaders[0].LastLogIndex && s.LastApplied == leaders[0].LastLogIndex))
                    return leaders[0];
            }

            await Task.Delay(20);
        }

        throw new TimeoutException(
            $"the cluster did not settle (one leader followed by all, every log applied) within {within.TotalSeconds} s; last seen: " +
            string.Join("; ", last.Select((s, i) => s is null ? "no answer" : $"{s.NodeId} {s.Role} term {s.Term} leader {s.LeaderId ?? "-"} last {s.LastLogIndex} applied {s.LastApplied}")));
    }

    /// <summary>
    /// Has the clients' ActorSystem talk to every running node (Akka's <see cref="Identify"/>), so
    /// that a measurement does not include setting up Akka.Remote's connections.
    /// </summary>
    public Task ConnectClientSystemAsync() =>
        Task.WhenAll(RunningNodeIds.Select(id => ClientSystem.ActorSelection(PathOf(id)).Ask<ActorIdentity>(new Identify(id), TimeSpan.FromSeconds(10))));

    /// <summary>Every running node's status; null for a node that does not answer in time.</summary>
    public async Task<IReadOnlyList<RaftStatus?>> StatusesAsync(TimeSpan timeout) =>
        await Task.WhenAll(_nodes.Where(n => n.Actor is not null).Select(async n =>
        {
            try
            {
                return (RaftStatus?)await n.Actor!.Ask<RaftStatus>(GetRaftStatus.Instance, timeout);
            }
            catch (Exception e) when (e is AskTimeoutException or TaskCanceledException)
            {
                return null;
            }
        }));

    /// <summary>
    /// A crash: the node actor stops at once (no hand-over, whatever the settings), then its
    /// ActorSystem terminates; the task completes once it is down and its storage closed.
    /// </summary>
    public Task KillAsync(string nodeId)
    {
        var node = NodeById(nodeId);
        node.System?.Stop(node.Actor);
        return StopAsync(nodeId, system => system.Terminate());
    }

    /// <summary>
    /// Stops the node as a planned restart does (SIGTERM): the ActorSystem's CoordinatedShutdown,
    /// in which a leader hands over when the nodes are set to (<see cref="BenchmarkOptions.HandOverOnShutdown"/>).
    /// </summary>
    public Task StopGracefullyAsync(string nodeId) =>
        StopAsync(nodeId, system => CoordinatedShutdown.Get(system).Run(CoordinatedShutdown.ClrExitReason.Instance));

    private Task StopAsync(string nodeId, Func<ActorSystem, Task> stop)
    {
        var node = NodeById(nodeId);
        var system = node.System ?? throw new InvalidOperationException($"{nodeId} is not running");
        var storage = node.Storage!;
        node.System = null;
        node.Actor = null;
        node.Storage = null;
        var terminated = stop(system).ContinueWith(_ => system.WhenTerminated).Unwrap();
        return FinishKill();

        async Task FinishKill()
        {
            if (await Task.WhenAny(terminated, Task.Delay(TerminateTimeout)) != terminated)
                throw new TimeoutException($"{nodeId}'s ActorSystem did not terminate within {TerminateTimeout.TotalSeconds} s");
            storage.Dispose();
        }
    }

    /// <summary>Starts a killed node again from its directory, on its port.</summary>
    public void Restart(string nodeId) => StartNode(NodeById(nodeId));

    public async ValueTask DisposeAsync()
    {
        foreach (var node in _nodes.Where(n => n.System is not null).ToList())
        {
            try
            {
                await KillAsync(node.Id);
            }
            catch (TimeoutException e)
            {
                Console.Error.WriteLine(e.Message);
            }
        }

        await ClientSystem.Terminate().WaitAsync(TerminateTimeout).ContinueWith(_ => { });
        if (_ownsDirectory)
        {
            try
            {
                Directory.Delete(Root, recursive: true);
            }
            catch (IOException e)
            {
                Console.Error.WriteLine($"could not remove {Root}: {e.Message}");
            }
        }
    }

    private void StartNode(BenchmarkNode node)
    {
        var storage = FileRaftStorage.Open(node.Directory, new FileRaftStorageOptions { Fsync = _options.Fsync });
        ActorSystem system;
        try
        {
            system = CreateSystemOnPort(node.Port, _options.AkkaLogLevel);
        }
        catch
        {
            storage.Dispose();
            throw;
        }

        RaftExtension.Get(system);
        _meter.Install(system);
        var watcher = system.ActorOf(Props.Create(() => new LeaderWatcher(OnStateChanged)), "benchmark-watcher");
        system.EventStream.Subscribe(watcher, typeof(RaftStateChanged));

        var settings = new RaftSettings(
            _options.ElectionTimeoutMin, _options.ElectionTimeoutMax, _options.HeartbeatInterval,
            replication: ReplicationLimits.Default with { MaxAppendsInFlight = _options.MaxAppendsInFlight, PipelinePartialAppends = _options.PipelinePartialAppends },
            snapshots: _options.Snapshots,
            preVote: _options.PreVote,
            checkQuorum: _options.CheckQuorum)
        {
            TransferLeadershipOnShutdown = _options.HandOverOnShutdown,
            LeaseReads = _options.LeaseReads,
        };
        var props = RaftNode.Props(RaftMembership.Create(node.Id, Members), settings, storage, _options.StateMachine);
        node.Storage = storage;
        node.System = system;
        node.Actor = system.ActorOf(props, ActorName);
    }

    /// <summary>
    /// A restarted node binds the port its predecessor held, whose connections may linger a
    /// moment in the kernel (address reuse is on, so TIME_WAIT does not block it): retry briefly.
    /// </summary>
    private static ActorSystem CreateSystemOnPort(int port, string logLevel)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                return ActorSystem.Create(NodeSystemName, RemotingConfig(port, logLevel));
            }
            catch (Exception e) when (e.GetBaseException() is SocketException && clock.Elapsed < BindTimeout)
            {
                Thread.Sleep(50);
            }
        }
    }

    private void OnStateChanged(RaftStateChanged change)
    {
        if (change.Role != RaftRole.Leader)
            return;
        List<TaskCompletionSource<(string, long)>> found;
        lock (_leaderLock)
        {
            if (_latestLeader is { } latest && latest.Term >= change.Term)
                return;
            _latestLeader = (change.NodeId, change.Term);
            found = _leaderWaiters.Where(w => change.Term > w.AboveTerm).Select(w => w.Found).ToList();
            _leaderWaiters.RemoveAll(w => change.Term > w.AboveTerm);
        }

        foreach (var waiter in found)
            waiter.TrySetResult((change.NodeId, change.Term));
    }

    private BenchmarkNode NodeById(string nodeId) => _nodes.Single(n => n.Id == nodeId);


    private static Config RemotingConfig(int port, string logLevel) => ConfigurationFactory.ParseString($$"""
        akka {
          loglevel = {{logLevel.ToUpperInvariant()}}
          stdout-loglevel = {{logLevel.ToUpperInvariant()}}
          log-dead-letters = off
          log-dead-letters-during-shutdown = off
          # The traffic meter replaces the protocol serializer on purpose (it wraps it); Akka
          # would warn of the override in every system.
          log-serializer-override-on-start = off
          actor.provider = remote
          remote {
            log-remote-lifecycle-events = off
            # A killed node comes back on the same address; Akka's default 5 s gate would keep it
            # unreachable for many election timeouts.
            retry-gate-closed-for = 200ms
            dot-netty.tcp {
              hostname = "127.0.0.1"
              port = {{port}}
              # A restarted node rebinds its port while its predecessor's connections are in TIME_WAIT.
              tcp-reuse-addr = on
            }
          }
        }
        """).WithFallback(RaftSettings.DefaultConfig);

    private sealed class BenchmarkNode(string id, int port, string directory)
    {
        public string Id { get; } = id;

        public int Port { get; } = port;

        public string Directory { get; } = directory;

        public ActorSystem? System { get; set; }

        public IActorRef? Actor { get; set; }

        public FileRaftStorage? Storage { get; set; }
    }

    /// <summary>Lives in each node's system and passes its node's role changes on.</summary>
    private sealed class LeaderWatcher : ReceiveActor
    {
        public LeaderWatcher(Action<RaftStateChanged> changed) => Receive<RaftStateChanged>(changed);
    }
}
