using System.Diagnostics;
using System.Threading.Channels;
using Akka.Actor;
using Akka.Configuration;
using RaftActors.Configuration;
using RaftActors.Core;
using RaftActors.Messages;
using RaftActors.Node;
using RaftActors.Server.Hosting;
using RaftActors.Storage;

namespace RaftActors.Server.Demo;

/// <summary>
/// Starts one ActorSystem per node config (each a Raft node over Akka.Remote), prints every
/// role, term and leader change as it happens, kills the leader once it has held for a while,
/// shows the re-election and sums up. Exit codes: 0 done, 1 a failure (no leader in time, bad
/// config), 130 interrupted with Ctrl+C.
/// </summary>
public sealed class ElectionDemo
{
    public static readonly TimeSpan LeaderDeadline = TimeSpan.FromSeconds(10);
    public static readonly TimeSpan HoldBeforeKill = TimeSpan.FromSeconds(3);
    public static readonly TimeSpan WatchAfterFailover = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan TerminateTimeout = TimeSpan.FromSeconds(10);

    private readonly DemoOptions _options;
    private readonly TextWriter _out;
    private readonly Stopwatch _clock = new();
    private readonly Channel<(TimeSpan At, RaftStateChanged Change)> _changes = Channel.CreateUnbounded<(TimeSpan, RaftStateChanged)>();
    private readonly List<DemoNode> _nodes = new();
    private readonly Dictionary<string, RaftStatus> _view = new(StringComparer.Ordinal);
    private readonly Dictionary<(string Node, long Term), TimeSpan> _becameLeaderAt = new();

    private ElectionDemo(DemoOptions options, TextWriter output)
    {
        _options = options;
        _out = output;
    }

    private sealed record DemoNode(string Id, string ConfigFile, Config Config, RaftMembership Membership, string DataDirectory)
    {
        public ActorSystem? System { get; set; }

        public FileRaftStorage? Storage { get; set; }

        public bool Running { get; set; }
    }

    public static async Task<int> RunAsync(DemoOptions options, TextWriter output)
    {
        using var interrupted = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true;
            interrupted.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        var demo = new ElectionDemo(options, output);
        try
        {
            return await demo.RunAsync(interrupted.Token);
        }
        catch (OperationCanceledException) when (interrupted.IsCancellationRequested)
        {
            demo.Say("interrupted: stopping the nodes");
            return 130;
        }
        catch (DemoFailure failure)
        {
            output.Flush();
            Console.Error.WriteLine($"election demo failed: {failure.Message}");
            return 1;
        }
        finally
        {
            await demo.TerminateAllAsync();
            Console.CancelKeyPress -= onCancel;
        }
    }

    private async Task<int> RunAsync(CancellationToken cancel)
    {
        LoadNodes();
        WipeDataDirectory();
        StartActorSystems();
        CheckAddresses();
        await ConnectAsync(cancel);
        StartRaftNodes();

        // A leader that holds for a while; should it lose its place meanwhile, the wait starts over.
        var old = await WaitForStableLeaderAsync(cancel);

        // Kill it and watch the survivors elect a successor.
        Say($"killing leader {old.NodeId} (term {old.Term}): terminating its ActorSystem");
        var killedAt = _clock.Elapsed;
        await StopNodeAsync(_nodes.Single(n => n.Id == old.NodeId));
        Say($"{old.NodeId} is down ({(_clock.Elapsed - killedAt).TotalMilliseconds:F0} ms to terminate)");
        var successor = await WaitForAgreedLeaderAsync(aboveTerm: old.Term, deadline: killedAt + LeaderDeadline, cancel)
                        ?? throw new DemoFailure($"no new leader within {LeaderDeadline.TotalSeconds:F0} s of killing {old.NodeId}; last view: {DescribeView()}");
        var electedAt = _becameLeaderAt[(successor.NodeId, successor.Term)];
        var agreedAt = _clock.Elapsed;
        Say($"{successor.NodeId} is leader of term {successor.Term}, followed by all survivors; watching for {WatchAfterFailover.TotalSeconds:F0} s");
        await WatchAsync(WatchAfterFailover, cancel);

        var survivors = _nodes.Where(n => n.Running).Select(n => n.Id).ToList();
        Say("stopping the nodes");
        await TerminateAllAsync();
        var summary = new[]
        {
            ("old leader", $"{old.NodeId} (term {old.Term}), killed at +{killedAt.TotalSeconds:F3}s"),
            ("new leader", $"{successor.NodeId} (survivors: {string.Join(", ", survivors)})"),
            ("new term", $"{successor.Term}"),
            ("failover", $"{(electedAt - killedAt).TotalMilliseconds:F0} ms from the kill to {successor.NodeId} becoming leader " +
                         $"({(agreedAt - killedAt).TotalMilliseconds:F0} ms until every survivor followed it)"),
        };
        _out.WriteLine();
        _out.WriteLine("summary");
        foreach (var (label, value) in summary)
            _out.WriteLine($"  {label,-11} {value}");
        foreach (var node in _nodes)
            _out.WriteLine($"  {(node == _nodes[0] ? "on disk" : ""),-11} {OnDisk(node)}");
        return 0;
    }

    private void LoadNodes()
    {
        IReadOnlyList<string> files;
        try
        {
            files = NodeConfigFiles.In(_options.ConfigDirectory);
        }
        catch (ServerStartException e)
        {
            throw new DemoFailure(e.Message);
        }

        foreach (var file in files)
        {
            try
            {
                var config = ConfigurationFactory.ParseString(File.ReadAllText(file)).WithFallback(RaftSettings.DefaultConfig);
                var membership = RaftMembership.FromConfig(config);
                RaftSettings.FromConfig(config);
                _nodes.Add(new DemoNode(membership.SelfId, file, config, membership, Path.Combine(_options.DataDirectory, membership.SelfId)));
            }
            catch (Exception e) when (e is RaftConfigurationException or ConfigurationException or FormatException)
            {
                throw new DemoFailure($"{file}: {e.Message}");
            }
        }

        try
        {
            NodeConfigFiles.CheckDistinctIds(_nodes.Select(n => (n.Id, n.ConfigFile)));
        }
        catch (ServerStartException e)
        {
            throw new DemoFailure(e.Message);
        }

        _out.WriteLine($"RaftActors election demo: {_nodes.Count} Raft nodes, each its own ActorSystem, over Akka.Remote");
        _out.WriteLine($"  config  {_options.ConfigDirectory} ({string.Join(", ", files.Select(Path.GetFileName))})");
        _out.WriteLine($"  data    {_options.DataDirectory} (a FileRaftStorage per node in {string.Join(", ", _nodes.Select(n => n.Id))}/, wiped)");
    }

    /// <summary>Wipes each node's own folder under the data directory, and nothing else there.</summary>
    private void WipeDataDirectory()
    {
        foreach (var node in _nodes)
        {
            if (Directory.Exists(node.DataDirectory))
                Directory.Delete(node.DataDirectory, recursive: true);
        }
    }

    private void StartActorSystems()
    {
        foreach (var node in _nodes)
        {
            try
            {
                node.System = ActorSystem.Create("raft", node.Config);
                node.Running = true;
            }
            catch (Exception e)
            {
                var inUse = e.GetBaseException() is System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.AddressAlreadyInUse };
                throw new DemoFailure($"cannot start {node.Id}'s ActorSystem from {node.ConfigFile}: {e.GetBaseException().Message}" +
                                      (inUse ? " (is another demo or program using the port?)" : ""));
            }
        }
    }

    /// <summary>Every member list must point at the systems as they listen, or the nodes would talk to no one.</summary>
    private void CheckAddresses()
    {
        var listening = _nodes.ToDictionary(n => n.Id, n => ((ExtendedActorSystem)n.System!).Provider.DefaultAddress, StringComparer.Ordinal);
        foreach (var node in _nodes)
        {
            foreach (var peer in node.Membership.Peers)
            {
                if (!listening.TryGetValue(peer.Id, out var address))
                    throw new DemoFailure($"{node.ConfigFile}: raft.members lists '{peer.Id}', which no config file starts");
                if (peer.Path is { } path && !path.Address.Equals(address)) // no path: the cluster locates it
                    throw new DemoFailure($"{node.ConfigFile}: raft.members puts {peer.Id} at {path.Address}, but {peer.Id} listens at {address}");
            }

            if (node.Membership.Peers.Count != _nodes.Count - 1)
                throw new DemoFailure($"{node.ConfigFile}: raft.members has {node.Membership.Peers.Count + 1} members, but {_nodes.Count} nodes are configured");
        }

        foreach (var node in _nodes)
            _out.WriteLine($"  {node.Id,-6}  {listening[node.Id]}/user/{node.Config.GetString("raft.actor-name")}");
    }

    /// <summary>
    /// Has every system reach every other over Akka.Remote before any node starts: the first
    /// contact (TCP connect, handshake, warming up the transport) takes a few hundred
    /// milliseconds in a fresh process, which would otherwise distort the first election's
    /// timing; and a node that cannot be reached fails the demo now, with a clear message.
    /// </summary>
    private async Task ConnectAsync(CancellationToken cancel)
    {
        var started = Stopwatch.StartNew();
        var timeout = TimeSpan.FromSeconds(5);
        var contacts = from source in _nodes
                       from target in _nodes
                       where source != target
                       select ContactAsync(source, target);
        await Task.WhenAll(contacts).WaitAsync(cancel);
        _out.WriteLine($"  connected every node to every other over Akka.Remote in {started.ElapsedMilliseconds} ms");
        _out.WriteLine();

        async Task ContactAsync(DemoNode source, DemoNode target)
        {
            var address = ((ExtendedActorSystem)target.System!).Provider.DefaultAddress;
            try
            {
                await source.System!.ActorSelection(new RootActorPath(address) / "user").Ask<ActorIdentity>(new Identify(null), timeout, cancel);
            }
            catch (AskTimeoutException)
            {
                throw new DemoFailure($"{source.Id} cannot reach {target.Id} at {address} over Akka.Remote within {timeout.TotalSeconds:F0} s");
            }
        }
    }

    private void StartRaftNodes()
    {
        _clock.Start();
        foreach (var node in _nodes)
        {
            var storage = node.Storage = FileRaftStorage.Open(node.DataDirectory);
            _view[node.Id] = new RaftStatus(node.Id, RaftRole.Follower, storage.HardState.Term, null, storage.HardState.VotedFor);

            // Subscribed before the node starts, so no change is missed.
            var collector = node.System!.ActorOf(Props.Create(() => new ChangeCollector(_clock, _changes.Writer)), "demo-collector");
            node.System.EventStream.Subscribe(collector, typeof(RaftStateChanged));
            node.System.ActorOf(RaftNode.Props(node.Config, storage), node.Config.GetString("raft.actor-name"));
        }

        Say($"started {string.Join(", ", _nodes.Select(n => n.Id))}: all Follower in term 0, no leader");
    }

    /// <summary>A leader that every node has followed for <see cref="HoldBeforeKill"/>, each wait for one bounded by <see cref="LeaderDeadline"/>.</summary>
    private async Task<RaftStatus> WaitForStableLeaderAsync(CancellationToken cancel)
    {
        const int attempts = 3;
        for (var attempt = 1; ; attempt++)
        {
            var waitFrom = attempt == 1 ? TimeSpan.Zero : _clock.Elapsed;
            var leader = await WaitForAgreedLeaderAsync(aboveTerm: 0, deadline: waitFrom + LeaderDeadline, cancel)
                         ?? throw new DemoFailure($"no leader within {LeaderDeadline.TotalSeconds:F0} s{(attempt == 1 ? " of start" : "")}; last view: {DescribeView()}");
            Say($"{leader.NodeId} is leader of term {leader.Term}, followed by all; watching it for {HoldBeforeKill.TotalSeconds:F0} s");
            await WatchAsync(HoldBeforeKill, cancel);
            if (AgreedLeader(aboveTerm: 0) == leader)
                return leader;
            if (attempt == attempts)
                throw new DemoFailure($"no leader held for {HoldBeforeKill.TotalSeconds:F0} s in {attempts} tries; last view: {DescribeView()}");
            Say($"{leader.NodeId} did not hold; waiting for a leader again");
        }
    }

    /// <summary>Prints changes until the running nodes agree on a leader of a term above <paramref name="aboveTerm"/>, or the deadline.</summary>
    private async Task<RaftStatus?> WaitForAgreedLeaderAsync(long aboveTerm, TimeSpan deadline, CancellationToken cancel)
    {
        while (AgreedLeader(aboveTerm) is null)
        {
            var left = deadline - _clock.Elapsed;
            if (left <= TimeSpan.Zero || !await NextChangeAsync(left, cancel))
                return null;
        }

        return AgreedLeader(aboveTerm);
    }

    /// <summary>Prints changes for <paramref name="duration"/>.</summary>
    private async Task WatchAsync(TimeSpan duration, CancellationToken cancel)
    {
        var until = _clock.Elapsed + duration;
        while (_clock.Elapsed < until)
            await NextChangeAsync(until - _clock.Elapsed, cancel);
    }

    /// <summary>Waits up to <paramref name="timeout"/> for a change, then prints and applies every change that has arrived.</summary>
    private async Task<bool> NextChangeAsync(TimeSpan timeout, CancellationToken cancel)
    {
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        wait.CancelAfter(timeout);
        try
        {
            await _changes.Reader.WaitToReadAsync(wait.Token);
        }
        catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
        {
            return false;
        }

        var any = false;
        while (_changes.Reader.TryRead(out var observed))
        {
            var (at, change) = observed;
            any = true;
            _view[change.NodeId] = new RaftStatus(change.NodeId, change.Role, change.Term, change.LeaderId, null);
            if (change.Role == RaftRole.Leader)
                _becameLeaderAt.TryAdd((change.NodeId, change.Term), at);
            _out.WriteLine($"+{at.TotalSeconds:F3}s  {change.NodeId,-3} {change.Role,-9}  term {change.Term}  leader {change.LeaderId ?? "-"}");
        }

        return any;
    }

    /// <summary>The one Leader among the running nodes, of a term above <paramref name="aboveTerm"/>, that every running node follows.</summary>
    private RaftStatus? AgreedLeader(long aboveTerm)
    {
        var running = _nodes.Where(n => n.Running).Select(n => _view[n.Id]).ToList();
        var leaders = running.Where(s => s.Role == RaftRole.Leader).ToList();
        if (leaders.Count != 1 || leaders[0].Term <= aboveTerm)
            return null;
        var leader = leaders[0];
        return running.All(s => s.Term == leader.Term && s.LeaderId == leader.NodeId) ? leader : null;
    }

    private string DescribeView() =>
        string.Join("; ", _nodes.Where(n => n.Running).Select(n => _view[n.Id]).Select(s => $"{s.NodeId} {s.Role} term {s.Term} leader {s.LeaderId ?? "-"}"));

    /// <summary>Terminates the node's ActorSystem, then closes its storage once the writes it issued are done.</summary>
    private async Task StopNodeAsync(DemoNode node)
    {
        node.Running = false;
        if (node.System is { } system)
        {
            var terminated = system.Terminate();
            if (await Task.WhenAny(terminated, Task.Delay(TerminateTimeout)) != terminated)
                Console.Error.WriteLine($"{node.Id}'s ActorSystem did not terminate within {TerminateTimeout.TotalSeconds:F0} s");
        }

        node.Storage?.Dispose();
    }

    /// <summary>What a node's storage holds, read back from disk.</summary>
    private static string OnDisk(DemoNode node)
    {
        using var storage = FileRaftStorage.Open(node.DataDirectory);
        var entries = storage.Entries.Count switch
        {
            0 => "empty log",
            1 => $"1 log entry (term {storage.Entries[^1].Term})",
            var count => $"{count} log entries (last of term {storage.Entries[^1].Term})",
        };
        return $"{node.Id} term {storage.HardState.Term} voted {storage.HardState.VotedFor ?? "-"}, {entries}";
    }

    private Task TerminateAllAsync() => Task.WhenAll(_nodes.Where(n => n.Running).Select(StopNodeAsync));

    private void Say(string line) => _out.WriteLine($"+{_clock.Elapsed.TotalSeconds:F3}s  >> {line}");

    private sealed class DemoFailure(string message) : Exception(message);

    /// <summary>Lives in each node's ActorSystem and hands the node's changes to the demo, stamped.</summary>
    private sealed class ChangeCollector : ReceiveActor
    {
        public ChangeCollector(Stopwatch clock, ChannelWriter<(TimeSpan, RaftStateChanged)> changes) =>
            Receive<RaftStateChanged>(change => changes.TryWrite((clock.Elapsed, change)));
    }
}
