using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Text;
using Akka.Actor;
using Akka.Configuration;
using Akka.Event;
using RaftActors.Configuration;
using RaftActors.Core;
using RaftActors.Messages;
using RaftActors.Node;
using RaftActors.Serialization;
using RaftActors.StateMachine;
using RaftActors.Storage;
using RaftActors.Tests.Cluster;
using Xunit.Abstractions;

namespace RaftActors.Tests.Replication;

/// <summary>A replication test failed; the message names the seed that replays it.</summary>
public sealed class ReplicationTestFailure(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// MIT 6.5840's Raft lab harness (config.go) for RaftActors: N <see cref="RaftNode"/> actors in one
/// ActorSystem (no remoting), real time, talking only through a <see cref="SimulatedNetwork"/> the
/// test controls. Nodes are addressed by index 0..N-1 (ids n1..nN) as in MIT's tests.
/// <list type="bullet">
/// <item><see cref="Crash"/> (MIT's crash1): the node is cut off, its storage loses the writes in flight, its actor
/// stops. <see cref="StartServer"/> (start1): a new incarnation — a new actor, <c>/user/n1-2</c>, with a fresh state
/// machine — starts from what its storage made durable, disconnected until <see cref="Connect"/>.</item>
/// <item>Every apply of every incarnation is recorded and checked as it happens
/// (<see cref="ApplyRecorder"/>); every role change is recorded per incarnation.</item>
/// <item><see cref="CheckInvariantsAsync"/>, run after every scenario: no violation was recorded,
/// no incarnation skipped a command, at most one leader per term, no node's term went back within
/// an incarnation, the durable logs satisfy Log Matching, every applied and every acknowledged
/// command is durable at its index on a majority, and Akka logged no error.</item>
/// </list>
/// Timing: election timeout 150-300 ms, heartbeat 50 ms (the library's defaults; MIT's students
/// typically use about twice that). <see cref="RaftElectionTimeout"/>, the sleep MIT's tests use
/// to let an election happen, is 500 ms (MIT: 1 s). MIT's bounds are kept: a leader within 5 s,
/// an agreement within 10 s (2 s per attempt).
/// Seeds: one test seed (RAFT_TEST_SEED to replay) seeds the network's faults, the storage's
/// delays, every node's election timeouts and the scenario's random choices. Real time and
/// thread scheduling still vary between runs, so a replay repeats the choices, not the exact run.
/// </summary>
public sealed class ReplicationCluster : IAsyncDisposable
{
    public static readonly TimeSpan ElectionTimeoutMin = TimeSpan.FromMilliseconds(150);
    public static readonly TimeSpan ElectionTimeoutMax = TimeSpan.FromMilliseconds(300);
    public static readonly TimeSpan HeartbeatInterval = TimeSpan.FromMilliseconds(50);

    /// <summary>MIT's RaftElectionTimeout (1 s there), scaled to our 150-300 ms election timeouts.</summary>
    public static readonly TimeSpan RaftElectionTimeout = TimeSpan.FromMilliseconds(500);

    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(1);

    private static readonly Config SystemConfig = ConfigurationFactory.ParseString("""
        akka {
          loglevel = WARNING
          stdout-loglevel = WARNING
          # Warnings and errors are recorded by the harness and shown with a failed test.
          loggers = []
          log-dead-letters = off
          log-dead-letters-during-shutdown = off
        }
        """);

    private readonly object _lock = new();
    private readonly ITestOutputHelper _output;
    private readonly ActorSystem _system;
    private readonly SimulatedNetwork _network;
    private readonly IActorRef _observer;
    private readonly IActorRef _networkActor;
    private readonly InMemoryRaftStorage[] _disks;
    private readonly CrashableStorage?[] _storages;
    private readonly IActorRef?[] _nodes;
    private readonly int[] _incarnations;
    private readonly Random _infrastructure;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly ConcurrentDictionary<IActorRef, string> _incarnationOf = new();
    private readonly ConcurrentQueue<(string Incarnation, ObservedChange Change)> _history = new();
    private readonly ConcurrentQueue<string> _logLines = new();
    private readonly ConcurrentQueue<string> _errors = new();
    private readonly ConcurrentQueue<string> _liveViolations = new();
    private int _crashes;
    private int _lostWrites;
    private bool _disposed;

    private ReplicationCluster(int servers, bool unreliable, int seed, string name, ITestOutputHelper output, SnapshotSettings snapshots, int? voters)
    {
        Servers = servers;
        Voters = voters ?? servers;
        Snapshots = snapshots;
        Seed = seed;
        Name = name;
        _output = output;
        var seeds = new Random(seed);
        Random = new Random(seeds.Next());
        _infrastructure = new Random(seeds.Next());
        Ids = Enumerable.Range(1, servers).Select(i => $"n{i}").ToList();
        _network = new SimulatedNetwork(Ids, seeds.Next()) { Faults = unreliable ? NetworkFaults.Unreliable : NetworkFaults.Reliable };
        _disks = Ids.Select(_ => new InMemoryRaftStorage()).ToArray();
        _storages = new CrashableStorage?[servers];
        _nodes = new IActorRef?[servers];
        _incarnations = new int[servers];

        _output.WriteLine($"{name}: {servers} nodes, {(unreliable ? "unreliable" : "reliable")} network; " +
                          $"test seed {seed} (replay with RAFT_TEST_SEED={seed})");
        _system = ActorSystem.Create($"replication-{name}", SystemConfig);
        _observer = _system.ActorOf(Props.Create(() => new Observer(this)), "observer");
        _system.EventStream.Subscribe(_observer, typeof(Warning));
        _system.EventStream.Subscribe(_observer, typeof(Error));
        _networkActor = _system.ActorOf(NetworkActor.Props(_network), "net");
        Recorder = new ApplyRecorder();
    }

    public int Servers { get; }

    /// <summary>How many servers (the first ones) the cluster starts with as voters; the others join later.</summary>
    public int Voters { get; }

    /// <summary>When the nodes snapshot (never, but for the 3D scenarios) and how they send snapshots.</summary>
    public SnapshotSettings Snapshots { get; }

    public int Seed { get; }

    public string Name { get; }

    public IReadOnlyList<string> Ids { get; }

    /// <summary>The scenario's random choices (not thread-safe: concurrent clients draw their own seed from it).</summary>
    public Random Random { get; }

    public ApplyRecorder Recorder { get; }

    public SimulatedNetwork Network => _network;

    public TimeSpan Elapsed => _clock.Elapsed;

    /// <summary>RPCs (RequestVote, AppendEntries) sent so far, by all nodes.</summary>
    public long RpcCount => _network.RpcCount;

    /// <summary>Bytes sent so far, by all nodes (see <see cref="SimulatedNetwork.ByteCount"/>).</summary>
    public long ByteCount => _network.ByteCount;

    /// <summary>RAFT_TEST_SEED when set (to replay a run), else a fresh seed.</summary>
    public static int NewSeed() =>
        int.TryParse(Environment.GetEnvironmentVariable("RAFT_TEST_SEED"), out var seed) ? seed : Random.Shared.Next();

    /// <summary>
    /// Starts <paramref name="servers"/> connected nodes, runs the scenario, then checks the
    /// invariants. On failure the seed, the network, the applies, the role history and Akka's
    /// warnings go to the test output, and the exception names the seed.
    /// </summary>
    /// <remarks>
    /// With <paramref name="voters"/>, only the first so many servers make up the configuration the
    /// cluster starts with; the others start to join it (<c>raft.join</c>), to be added by membership changes.
    /// </remarks>
    public static async Task RunAsync(
        int servers, ITestOutputHelper output, Func<ReplicationCluster, Task> scenario, bool unreliable = false,
        SnapshotSettings? snapshots = null, int? voters = null, [CallerMemberName] string name = "")
    {
        var cluster = new ReplicationCluster(servers, unreliable, NewSeed(), name, output, snapshots ?? SnapshotSettings.Never, voters);
        try
        {
            await cluster._networkActor.Ask<NetworkActor.Ready>(NetworkActor.Ready.Instance, TimeSpan.FromSeconds(5));
            for (var i = 0; i < servers; i++)
            {
                await cluster.StartServer(i);
                cluster.Connect(i);
            }

            await scenario(cluster);
            await cluster.CheckInvariantsAsync();
            output.WriteLine($"passed in {cluster.Elapsed.TotalSeconds:F1} s");
            output.WriteLine(cluster.Summary());
        }
        catch (Exception e)
        {
            output.WriteLine($"FAILED at +{cluster.Elapsed.TotalMilliseconds:F0} ms: {e.Message}");
            output.WriteLine(cluster.Describe());
            if (e is ReplicationTestFailure)
                throw;
            throw new ReplicationTestFailure($"{name} (seed {cluster.Seed}, replay with RAFT_TEST_SEED={cluster.Seed}): {e.Message}", e);
        }
        finally
        {
            await cluster.DisposeAsync();
        }
    }

    public string Id(int i) => Ids[i];

    /// <summary>Writes a line to the test's output, stamped with the time since the cluster started.</summary>
    public void Note(string line) => _output.WriteLine($"+{Elapsed.TotalMilliseconds:F0} ms: {line}");

    /// <summary>Fails the test, naming the seed.</summary>
    [DoesNotReturn]
    public void Fail(string message) =>
        throw new ReplicationTestFailure($"{Name} (seed {Seed}, replay with RAFT_TEST_SEED={Seed}) at +{Elapsed.TotalMilliseconds:F0} ms: {message}");

    public void Check(bool condition, string message)
    {
        if (!condition)
            Fail(message);
    }

    // ---- the network ----

    public void Connect(int i) => _network.Connect(i);

    public void Disconnect(int i) => _network.Disconnect(i);

    public bool IsConnected(int i) => _network.IsConnected(i);

    public void SetUnreliable(bool unreliable) =>
        _network.Faults = (unreliable ? NetworkFaults.Unreliable : NetworkFaults.Reliable) with { LongReordering = _network.Faults.LongReordering };

    public void SetLongReordering(bool on) => _network.Faults = _network.Faults with { LongReordering = on };

    // ---- crash and restart ----

    public bool IsAlive(int i)
    {
        lock (_lock)
            return _nodes[i] is not null;
    }

    /// <summary>
    /// MIT's crash1: cut the node off (nothing it sent is delivered from now on), lose its
    /// storage's writes in flight, stop its actor. Its durable state stays on its disk.
    /// </summary>
    public async Task Crash(int i)
    {
        ThrowIfViolated();
        IActorRef? node;
        CrashableStorage? storage;
        lock (_lock)
        {
            node = _nodes[i];
            storage = _storages[i];
            _nodes[i] = null;
            _storages[i] = null;
        }

        if (node is null)
            return;
        _network.Kill(i);
        var lost = storage!.Crash();
        Interlocked.Increment(ref _crashes);
        Interlocked.Add(ref _lostWrites, lost);
        var stopped = node.WatchAsync();
        _system.Stop(node);
        if (await Task.WhenAny(stopped, Task.Delay(TimeSpan.FromSeconds(5))) != stopped)
            Fail($"{Id(i)} did not stop within 5 s");
    }

    /// <summary>
    /// MIT's start1: crash the node if it runs, then start a new incarnation on its durable
    /// state, with a fresh state machine. It stays disconnected until <see cref="Connect"/>.
    /// </summary>
    public async Task StartServer(int i)
    {
        await Crash(i);
        int incarnation, electionSeed;
        lock (_lock)
            incarnation = ++_incarnations[i];
        lock (_infrastructure)
            electionSeed = _infrastructure.Next();

        var storage = new CrashableStorage(_disks[i], NextWriteDelayMs);
        var net = new RootActorPath(((ExtendedActorSystem)_system).Provider.DefaultAddress) / "user" / "net";
        var peers = Enumerable.Range(0, Servers).Where(j => j != i)
            .Select(j => new RaftMember(Id(j), net / SimulatedNetwork.LinkName(Id(i), Id(j))))
            .ToList();
        var settings = new RaftSettings(ElectionTimeoutMin, ElectionTimeoutMax, HeartbeatInterval, electionSeed, snapshots: Snapshots);
        var id = Id(i);
        Recorder.Started(id, incarnation);
        var membership = new RaftMembership(id, peers)
        {
            Bootstrap = i < Voters ? ClusterConfiguration.OfVoters(Ids.Take(Voters)) : ClusterConfiguration.Empty,
        };
        var node = _system.ActorOf(
            RaftNode.Props(membership, settings, storage, () => new RecordingStateMachine(id, incarnation, Recorder)),
            $"{id}-{incarnation}");
        _incarnationOf[node] = $"{id}#{incarnation}";

        // The subscription is the first message the node handles, before any peer can reach it.
        node.Tell(new SubscribeRaftEvents(_observer));
        lock (_lock)
        {
            _nodes[i] = node;
            _storages[i] = storage;
        }

        _network.Register(i, node, incarnation);
    }

    /// <summary>
    /// How long a write takes to become durable: 1-9 ms, long enough that a crash right after a
    /// proposal or a vote often catches a write in flight (and loses it).
    /// </summary>
    private int NextWriteDelayMs()
    {
        lock (_infrastructure)
            return _infrastructure.Next(1, 10);
    }

    // ---- asking the nodes ----

    /// <summary>The node's status, or null when it is down or does not answer within a second.</summary>
    public async Task<RaftStatus?> Status(int i)
    {
        var node = NodeAt(i);
        if (node is null)
            return null;
        try
        {
            return await node.Ask<RaftStatus>(GetRaftStatus.Instance, AskTimeout);
        }
        catch (Exception e) when (e is AskTimeoutException or TaskCanceledException)
        {
            return null;
        }
    }

    /// <summary>MIT's GetState: the node's term, and whether it believes it is the leader.</summary>
    public async Task<(long Term, bool IsLeader)> GetState(int i) =>
        await Status(i) is { } s ? (s.Term, s.Role == RaftRole.Leader) : (-1, false);

    /// <summary>
    /// Sends <paramref name="command"/> to node <paramref name="i"/> as a client would, without
    /// waiting. A CommandApplied answer is recorded as acknowledged (checked at the end).
    /// </summary>
    public Task<object?> Submit(int i, object command)
    {
        var node = NodeAt(i);
        if (node is null)
            return Task.FromResult<object?>(null);
        return Submit(node, command);
    }

    private async Task<object?> Submit(IActorRef node, object command)
    {
        try
        {
            var reply = await node.Ask<object>(new ClientCommand(command), TimeSpan.FromSeconds(30));
            if (reply is CommandApplied applied)
                Recorder.Acknowledge(applied.Index, command);
            return reply;
        }
        catch (Exception e) when (e is AskTimeoutException or TaskCanceledException)
        {
            return null;
        }
    }

    /// <summary>
    /// Sends a membership request or a leadership transfer to node <paramref name="i"/> as an
    /// operator would, and returns its answer (null when the node is down or does not answer in 10 s).
    /// </summary>
    public async Task<object?> Request(int i, object request)
    {
        var node = NodeAt(i);
        if (node is null)
            return null;
        try
        {
            var answer = await node.Ask<object>(request, TimeSpan.FromSeconds(10));
            Note($"{Id(i)} answered {request} with {answer}");
            return answer;
        }
        catch (Exception e) when (e is AskTimeoutException or TaskCanceledException)
        {
            return null;
        }
    }

    private IActorRef? NodeAt(int i)
    {
        lock (_lock)
            return _nodes[i];
    }

    /// <summary>The index of the server with id <paramref name="id"/>.</summary>
    public int IndexOf(string id) => Ids.ToList().IndexOf(id);

    /// <summary>
    /// MIT's Start(command) on node <paramref name="i"/>: if it is the leader, it appends the
    /// command to its log, and the index and term are returned at once (read from the log the
    /// node is writing), long before the command commits. Not the leader: IsLeader is false.
    /// </summary>
    public async Task<(long Index, long Term, bool IsLeader)> Start(int i, object command)
    {
        IActorRef? node;
        CrashableStorage? storage;
        lock (_lock)
        {
            node = _nodes[i];
            storage = _storages[i];
        }

        if (node is null || storage is null || await Status(i) is not { Role: RaftRole.Leader })
            return (-1, -1, false);
        var before = storage.AcceptedLastIndex;
        var reply = Submit(node, command);
        var waited = Stopwatch.StartNew();
        while (waited.Elapsed < TimeSpan.FromSeconds(2))
        {
            foreach (var entry in storage.Accepted.Where(e => e.Index > before))
            {
                if (entry.Command is { } c && Equals(Decode(c), command))
                    return (entry.Index, entry.Term, true);
            }

            if (reply.IsCompleted && reply.Result is NotLeader or RequestRejected or CommandOutcomeUnknown or null)
                return (-1, -1, false);
            await Task.Delay(1);
        }

        return (-1, -1, false);
    }

    /// <summary>Start(command) when only "was it the leader" matters: no wait for the index.</summary>
    public async Task<bool> StartNoWait(int i, object command)
    {
        if (await Status(i) is not { Role: RaftRole.Leader })
            return false;
        _ = Submit(i, command);
        return true;
    }

    public object Decode(EntryCommand command) =>
        _system.Serialization.Deserialize(command.Data, command.SerializerId, command.Manifest);

    /// <summary>The log node <paramref name="i"/>'s current incarnation has asked its storage to hold (durable or in flight).</summary>
    public IReadOnlyList<LogEntry> AcceptedLog(int i)
    {
        lock (_lock)
            return _storages[i]?.Accepted ?? [];
    }

    // ---- MIT's checks ----

    /// <summary>MIT's nCommitted(index): how many nodes applied the index, and its command.</summary>
    public (int Count, object? Command) NCommitted(long index)
    {
        ThrowIfViolated();
        return Recorder.NCommitted(index);
    }

    public void ThrowIfViolated()
    {
        var violations = Recorder.Violations.Concat(_liveViolations).ToList();
        if (violations.Count > 0)
            Fail("applies violate Raft's guarantees:\n" + string.Join("\n", violations.Take(20)));
    }

    /// <summary>
    /// MIT's checkOneLeader: among the connected nodes, the leader of the highest term that has
    /// one; fails if a term has two leaders, or if no leader shows within 5 s. Polls every 10 ms
    /// (MIT samples every ~500 ms).
    /// </summary>
    public async Task<int> CheckOneLeader()
    {
        var waited = Stopwatch.StartNew();
        while (waited.Elapsed < TimeSpan.FromSeconds(5))
        {
            ThrowIfViolated();
            var leaders = new Dictionary<long, List<int>>();
            var statuses = await Task.WhenAll(Enumerable.Range(0, Servers).Select(async i => (i, s: IsConnected(i) ? await Status(i) : null)));
            foreach (var (i, s) in statuses)
            {
                if (s is { Role: RaftRole.Leader } && IsConnected(i))
                {
                    if (!leaders.TryGetValue(s.Term, out var list))
                        leaders[s.Term] = list = new List<int>();
                    list.Add(i);
                }
            }

            foreach (var (term, list) in leaders)
                Check(list.Count <= 1, $"term {term} has {list.Count} (>1) leaders: {string.Join(", ", list.Select(Id))}");
            if (leaders.Count > 0)
                return leaders[leaders.Keys.Max()][0];
            await Task.Delay(10);
        }

        Fail("expected one leader, got none within 5 s");
        return -1;
    }

    /// <summary>MIT's checkNoLeader: no connected node believes it is the leader.</summary>
    public async Task CheckNoLeader()
    {
        for (var i = 0; i < Servers; i++)
        {
            if (IsConnected(i) && await Status(i) is { Role: RaftRole.Leader } s && IsConnected(i))
                Fail($"expected no leader among connected servers, but {Id(i)} claims to be leader of term {s.Term}");
        }
    }

    /// <summary>
    /// MIT's one(cmd, expectedServers, retry): find a leader among the connected nodes, start the
    /// command there, and wait up to 2 s for <paramref name="expectedServers"/> nodes to apply it at
    /// its index; retry (with <paramref name="retry"/>) for up to 10 s in all. Returns the index.
    /// </summary>
    public async Task<long> One(object command, int expectedServers, bool retry)
    {
        var started = Stopwatch.StartNew();
        var starts = 0;
        while (started.Elapsed < TimeSpan.FromSeconds(10))
        {
            long index = -1;
            for (var si = 0; si < Servers; si++)
            {
                starts = (starts + 1) % Servers;
                if (!IsConnected(starts))
                    continue;
                var (index1, _, ok) = await Start(starts, command);
                if (ok)
                {
                    index = index1;
                    break;
                }
            }

            if (index != -1)
            {
                // Somebody claimed to be the leader and to have submitted our command; wait a while for agreement.
                var agreement = Stopwatch.StartNew();
                while (agreement.Elapsed < TimeSpan.FromSeconds(2))
                {
                    var (nd, applied) = NCommitted(index);
                    if (nd > 0 && nd >= expectedServers && Equals(applied, command))
                        return index;
                    await Task.Delay(5);
                }

                if (!retry)
                    Fail($"one({ApplyRecorder.Show(command)}) failed to reach agreement at index {index}: {NCommitted(index).Count} of {expectedServers} applied it");
            }
            else
                await Task.Delay(50);
        }

        Fail($"one({ApplyRecorder.Show(command)}) failed to reach agreement within 10 s");
        return -1;
    }

    /// <summary>
    /// MIT's wait(index, n, startTerm): wait (up to about 10 s) until <paramref name="n"/> nodes applied
    /// <paramref name="index"/>; gives up with MovedOn when a node's term passes <paramref name="startTerm"/>
    /// (unless it is -1), since then the command may legitimately never commit.
    /// </summary>
    public async Task<(bool MovedOn, object? Command)> Wait(long index, int n, long startTerm)
    {
        var waited = Stopwatch.StartNew();
        var lastTermCheck = TimeSpan.Zero;
        while (waited.Elapsed < TimeSpan.FromSeconds(10))
        {
            var (nd, _) = NCommitted(index);
            if (nd >= n)
                break;
            await Task.Delay(5);
            if (startTerm > -1 && waited.Elapsed - lastTermCheck > TimeSpan.FromMilliseconds(20))
            {
                lastTermCheck = waited.Elapsed;
                for (var i = 0; i < Servers; i++)
                {
                    if ((await GetState(i)).Term > startTerm)
                        return (true, null);
                }
            }
        }

        var (count, command) = NCommitted(index);
        Check(count >= n, $"only {count} decided for index {index}; wanted {n}");
        return (false, command);
    }

    // ---- the invariants, after every scenario ----

    /// <summary>Checks everything the run recorded; fails with every violation found.</summary>
    public async Task CheckInvariantsAsync()
    {
        // Let the observer take in what the nodes have published.
        await _observer.Ask<Settled>(Settled.Instance, TimeSpan.FromSeconds(5));

        var violations = new List<string>();
        violations.AddRange(Recorder.Violations);
        violations.AddRange(Recorder.GapViolations());

        var history = _history.ToArray();
        violations.AddRange(ClusterInvariants.ElectionSafetyViolations(history.Select(h => h.Change)));
        foreach (var incarnation in history.GroupBy(h => h.Incarnation, StringComparer.Ordinal))
            violations.AddRange(ClusterInvariants.TermMonotonicityViolations(incarnation.Select(h => h.Change)));

        // The durable logs and snapshots: Log Matching, and every committed entry durable on a
        // majority, in its log or in its snapshot.
        var disks = _disks.Select(DurableState).ToArray();
        violations.AddRange(LogMatchingViolations(disks.Select(d => d.Log).ToArray()));
        var majorityAt = CommitMajorities();
        foreach (var (index, command) in Recorder.AppliedAnywhere.OrderBy(kv => kv.Key))
        {
            var majority = majorityAt(index);
            var holders = disks.Count(disk => disk.Holds(index, command));
            if (holders < majority)
                violations.Add($"index {index} was applied as {ApplyRecorder.Show(command)} but only {holders} durable logs and snapshots hold it (a majority is {majority})");
        }

        foreach (var (index, command) in Recorder.Acknowledged)
        {
            var majority = majorityAt(index);
            var holders = disks.Count(disk => disk.Holds(index, command));
            if (holders < majority)
                violations.Add($"{ApplyRecorder.Show(command)} was acknowledged to a client at index {index} but only {holders} durable logs and snapshots hold it there (a majority is {majority})");
        }

        violations.AddRange(_errors.Select(e => "Akka logged an error: " + e));

        if (violations.Count > 0)
            Fail($"{violations.Count} invariant violations:\n" + string.Join("\n", violations.Take(30)));
    }

    /// <summary>
    /// The fewest servers that can have committed an entry: a majority of the voters of the
    /// configuration in force at its index, or of a later one (a leader commits with the latest
    /// configuration it has, which may have come after the entry). Read from the longest durable
    /// log and its snapshot; without membership changes, a majority of the starting voters.
    /// </summary>
    private Func<long, int> CommitMajorities()
    {
        var longest = _disks.OrderByDescending(d => d.Entries.Count == 0 ? d.Snapshot.Index : d.Entries[^1].Index).First();
        var configurations = new List<(long Index, int Voters)> { (longest.Snapshot.Index, (longest.SnapshotConfiguration?.Voters.Count ?? Voters)) };
        configurations.AddRange(longest.Entries.Where(e => e.Configuration is not null && e.Index > longest.Snapshot.Index)
            .Select(e => (e.Index, e.Configuration!.Voters.Count)));
        return index =>
        {
            var inForce = configurations.Last(c => c.Index <= index || c == configurations[0]);
            return configurations.Where(c => c.Index >= inForce.Index).Min(c => Quorum.Majority(Math.Max(1, c.Voters)));
        };
    }

    /// <summary>
    /// MIT's LogSize check: every node's durable log stays within <paramref name="maxEntries"/>
    /// entries, the snapshots having taken the rest.
    /// </summary>
    public void CheckLogSize(int maxEntries)
    {
        for (var i = 0; i < Servers; i++)
        {
            var entries = _disks[i].Entries;
            Check(entries.Count <= maxEntries,
                $"{Id(i)}'s durable log holds {entries.Count} entries (more than {maxEntries}), after a snapshot through {_disks[i].Snapshot.Index}");
        }
    }

    /// <summary>The highest snapshot index any node has made durable.</summary>
    public long HighestSnapshotIndex() => _disks.Max(d => d.Snapshot.Index);

    /// <summary>What a node's disk holds: its log, by index, and its snapshot's commands, read back from the snapshot's bytes.</summary>
    private Durable DurableState(InMemoryRaftStorage disk)
    {
        var log = disk.Entries.ToDictionary(e => e.Index);
        if (disk.Snapshot == LogPosition.Empty)
            return new Durable(log, disk.Snapshot, new SortedDictionary<long, object>(), Decode);
        using var content = new MemoryStream(disk.SnapshotContent);
        SnapshotContent.ReadSessionsAsync(content, RaftExtension.Get(_system).ProtocolSerializer, CancellationToken.None).GetAwaiter().GetResult();
        return new Durable(log, disk.Snapshot, RecordingStateMachine.Decode(content), Decode);
    }

    private sealed record Durable(
        IReadOnlyDictionary<long, LogEntry> Log, LogPosition Snapshot, SortedDictionary<long, object> SnapshotCommands, Func<EntryCommand, object> Decode)
    {
        public bool Holds(long index, object command) =>
            Log.TryGetValue(index, out var entry)
                ? entry.Command is { } c && Equals(Decode(c), command)
                : index <= Snapshot.Index && Equals(SnapshotCommands.GetValueOrDefault(index), command);
    }

    private IEnumerable<string> LogMatchingViolations(IReadOnlyDictionary<long, LogEntry>[] logs)
    {
        for (var a = 0; a < logs.Length; a++)
        {
            for (var b = a + 1; b < logs.Length; b++)
            {
                // Where both logs hold entries: the last index with an entry of the same term in both,
                // and everything both hold up to it must be the same.
                var common = logs[a].Keys.Where(logs[b].ContainsKey).Order().ToList();
                var last = common.LastOrDefault(i => logs[a][i].Term == logs[b][i].Term);
                foreach (var k in common.TakeWhile(i => i <= last))
                {
                    var x = logs[a][k];
                    var y = logs[b][k];
                    if (x.Term != y.Term || !Equals(x.Command, y.Command))
                    {
                        yield return $"Log Matching: {Id(a)} and {Id(b)} both hold an entry of term {logs[a][last].Term} at {last}, " +
                                     $"but differ at {k}: term {x.Term} {x.Command} vs term {y.Term} {y.Command}";
                        break;
                    }
                }
            }
        }
    }

    // ---- reporting ----

    public string Summary() =>
        $"{_network.Describe()}\n{Recorder.Describe()}\n" +
        $"{_crashes} crashes, {_lostWrites} writes in flight lost by them; {_history.Count} role changes; {_logLines.Count} Akka warnings/errors";

    public string Describe()
    {
        var text = new StringBuilder();
        text.AppendLine($"test seed {Seed} (replay with RAFT_TEST_SEED={Seed})");
        text.AppendLine(Summary());
        for (var i = 0; i < Servers; i++)
        {
            var log = _disks[i].Entries;
            CrashableStorage? storage;
            lock (_lock)
                storage = _storages[i];
            text.AppendLine($"{Id(i)} durable: term {_disks[i].HardState.Term}, vote {_disks[i].HardState.VotedFor ?? "-"}, " +
                            $"snapshot through {_disks[i].Snapshot.Index}:{_disks[i].Snapshot.Term}, {log.Count} entries, last terms " +
                            string.Join(" ", log.Skip(Math.Max(0, log.Count - 12)).Select(e => $"{e.Index}:{e.Term}")) +
                            $"; storage of the live incarnation: {storage?.ToString() ?? "none"}");
        }

        text.AppendLine("role changes:");
        foreach (var (incarnation, change) in _history.ToArray().TakeLast(200))
            text.AppendLine($"  {change} ({incarnation})");
        text.AppendLine("the network's last messages:");
        foreach (var line in _network.RecentTrace())
            text.AppendLine("  " + line);
        var logs = _logLines.ToArray();
        if (logs.Length > 0)
        {
            text.AppendLine("akka warnings and errors:");
            foreach (var line in logs.Take(50))
                text.AppendLine("  " + line);
        }

        return text.ToString();
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
            return;
        _disposed = true;
        var terminated = _system.Terminate();
        await Task.WhenAny(terminated, Task.Delay(TimeSpan.FromSeconds(10)));
    }

    private sealed class Settled
    {
        public static readonly Settled Instance = new();
    }

    /// <summary>Records every node incarnation's role changes (it subscribes to each) and Akka's warnings and errors.</summary>
    private sealed class Observer : ReceiveActor
    {
        public Observer(ReplicationCluster cluster)
        {
            var leaders = new Dictionary<long, string>();
            Receive<RaftStateChanged>(change =>
            {
                var incarnation = cluster._incarnationOf.GetValueOrDefault(Sender, change.NodeId);
                var observed = new ObservedChange(cluster.Elapsed, change);
                cluster._history.Enqueue((incarnation, observed));

                // Election Safety as it happens: whoever a change names as a term's leader must be that term's only leader.
                var named = change.Role == RaftRole.Leader ? change.NodeId : change.LeaderId;
                if (named is null)
                    return;
                if (!leaders.TryGetValue(change.Term, out var known))
                    leaders[change.Term] = named;
                else if (known != named)
                    cluster._liveViolations.Enqueue($"Election Safety: term {change.Term} has leaders {known} and {named} ({observed}, seen by {incarnation})");
            });
            Receive<RaftStatus>(_ => { });
            Receive<LogEvent>(log =>
            {
                var line = $"+{cluster.Elapsed.TotalMilliseconds:F1}ms {log.LogLevel()} {log.LogSource}: {log.Message}{(log.Cause is null ? "" : " " + log.Cause)}";
                cluster._logLines.Enqueue(line);
                if (log is Error)
                    cluster._errors.Enqueue(line);
            });
            Receive<Settled>(_ => Sender.Tell(Settled.Instance));
        }
    }
}
