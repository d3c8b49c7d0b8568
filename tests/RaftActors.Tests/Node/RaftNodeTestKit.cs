using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit;
using RaftActors.Configuration;
using RaftActors.Core;
using RaftActors.Messages;
using RaftActors.Node;
using RaftActors.Serialization;
using RaftActors.StateMachine;
using RaftActors.Storage;

namespace RaftActors.Tests.Node;

/// <summary>
/// A RaftNode under test in virtual time: Akka's TestScheduler drives its timers, TestProbes
/// stand in for its peers. Before each Advance the node is "settled" (a status round trip),
/// so every timer it meant to start is registered when virtual time moves.
/// </summary>
public abstract class RaftNodeTestKit : Akka.TestKit.Xunit2.TestKit
{
    protected static readonly TimeSpan ElectionMin = TimeSpan.FromMilliseconds(150);
    protected static readonly TimeSpan ElectionMax = TimeSpan.FromMilliseconds(300);
    protected static readonly TimeSpan Heartbeat = TimeSpan.FromMilliseconds(50);

    private static readonly Config VirtualTime = ConfigurationFactory.ParseString(
        """akka.scheduler.implementation = "Akka.TestKit.TestScheduler, Akka.TestKit" """);

    protected RaftNodeTestKit()
        : base(VirtualTime)
    {
        // Cluster time advances with the virtual clock too.
        RaftExtension.Get(Sys).MonotonicClock = () => Scheduler.Now.ToUnixTimeMilliseconds();
    }

    protected TestScheduler Scheduler => (TestScheduler)Sys.Scheduler;

    /// <summary>
    /// The node's settings. PreVote and CheckQuorum are off unless asked for: most tests here watch
    /// Figure 2's election from outside (a timeout sends RequestVote at once); those of PreVote and
    /// CheckQuorum turn them on.
    /// </summary>
    protected static RaftSettings Settings(TimeSpan? min = null, TimeSpan? max = null, int seed = 1, bool preVote = false, bool checkQuorum = false) =>
        new(min ?? ElectionMin, max ?? ElectionMax, Heartbeat, seed, preVote: preVote, checkQuorum: checkQuorum);

    /// <summary>Starts node "n1" with one TestProbe per other id as its peers.</summary>
    protected (TestFSMRef<RaftNode, RaftRole, RaftStatus> Node, Dictionary<string, TestProbe> Peers) StartNode(
        IRaftStorage storage, RaftSettings? settings = null, int clusterSize = 3, string? name = null,
        Func<IRaftStateMachine>? stateMachineFactory = null)
    {
        name ??= "n1";
        var peers = Enumerable.Range(2, clusterSize - 1).ToDictionary(i => $"n{i}", i => CreateTestProbe($"{name}-peer-n{i}"));
        var membership = new RaftMembership("n1", peers.Select(p => new RaftMember(p.Key, p.Value.Ref.Path)).ToList());
        var node = ActorOfAsTestFSMRef<RaftNode, RaftRole, RaftStatus>(
            RaftNode.Props(membership, settings ?? Settings(), storage, stateMachineFactory), name);
        Settle(node);
        return (node, peers);
    }

    /// <summary>Waits until the node has handled everything sent to it so far.</summary>
    protected RaftStatus Settle(IActorRef node) =>
        node.Ask<RaftStatus>(GetRaftStatus.Instance, TimeSpan.FromSeconds(5)).Result;

    /// <summary>Moves virtual time, with the node settled before and after.</summary>
    protected void Advance(IActorRef node, TimeSpan by)
    {
        Settle(node);
        Scheduler.Advance(by);
        Settle(node);
    }

    /// <summary>Advances past the longest election timeout: a follower or candidate certainly times out.</summary>
    protected void TimeOutElection(IActorRef node) => Advance(node, ElectionMax);

    /// <summary>Completes writes until the node, settled, has none pending: each completion may start the next.</summary>
    protected void CompleteAllWrites(IActorRef node, GatedStorage storage)
    {
        Settle(node);
        while (storage.PendingCount > 0)
        {
            while (storage.PendingCount > 0)
                storage.CompleteNext();
            Settle(node);
        }
    }

    protected static void AssertSilent(params TestProbe[] probes)
    {
        foreach (var probe in probes)
            Assert.False(probe.HasMessages, $"{probe.Ref.Path.Name} received a message it should not have");
    }

    /// <summary>
    /// Makes n1 leader of term 1 in a 3-node cluster, with n2's vote. Unless told otherwise, n2 and
    /// n3 acknowledge its no-op (entry 1): nothing is in flight to them, so the next entries leave
    /// at once (with a message unanswered, only full ones would).
    /// </summary>
    protected (TestFSMRef<RaftNode, RaftRole, RaftStatus> Node, Dictionary<string, TestProbe> Peers) StartLeader(
        IRaftStorage storage, Func<IRaftStateMachine>? stateMachineFactory = null, RaftSettings? settings = null, bool acknowledgeNoOp = true)
    {
        var (node, peers) = StartNode(storage, settings, stateMachineFactory: stateMachineFactory);
        TimeOutElection(node);
        foreach (var peer in peers.Values)
            peer.ExpectMsg<RequestVote>();
        node.Tell(new RequestVoteResult(1, "n2", true));
        foreach (var (id, peer) in peers)
        {
            var noop = peer.ExpectMsg<AppendEntries>();
            if (acknowledgeNoOp)
                node.Tell(new AppendEntriesResult(noop.Term, id, Success: true, MatchIndex: noop.PrevLogIndex + noop.Entries.Count, Sequence: noop.Sequence));
        }

        Assert.Equal(RaftRole.Leader, Settle(node).Role);
        return (node, peers);
    }
}

/// <summary>Storage whose writes complete only when the test says so, and which records them in order.</summary>
public sealed class GatedStorage : IRaftStorage
{
    private readonly Queue<(StorageWrite Write, TaskCompletionSource Done)> _pending = new();
    private readonly List<LogEntry> _entries = new();
    private readonly object _lock = new();

    public GatedStorage(HardState? initial = null) => HardState = initial ?? HardState.Initial;

    public HardState HardState { get; private set; }

    public LogPosition Snapshot => LogPosition.Empty;

    public IReadOnlyList<LogEntry> Entries
    {
        get
        {
            lock (_lock)
                return _entries.ToArray();
        }
    }

    /// <summary>The hard state of every write requested, in order, completed or not.</summary>
    public List<HardState> Requested { get; } = new();

    public int PendingCount
    {
        get
        {
            lock (_lock)
                return _pending.Count;
        }
    }

    public Task WriteAsync(StorageWrite write)
    {
        lock (_lock)
        {
            if (write.HardState is not null)
                Requested.Add(write.HardState);
            var done = new TaskCompletionSource();
            _pending.Enqueue((write, done));
            return done.Task;
        }
    }

    /// <summary>Completes the oldest pending write, making it durable.</summary>
    public void CompleteNext()
    {
        (StorageWrite Write, TaskCompletionSource Done) pending;
        lock (_lock)
        {
            pending = _pending.Dequeue();
            LogOperations.ApplyTo(_entries, pending.Write.LogOperations);
            HardState = pending.Write.HardState ?? HardState;
        }

        pending.Done.SetResult();
    }

    public ClusterConfiguration? SnapshotConfiguration => null;

    public SnapshotSink CreateSnapshot(LogPosition position, ClusterConfiguration? configuration = null) =>
        throw new NotSupportedException("the gated storage holds no snapshots");

    public OpenedSnapshot OpenSnapshot() => throw new NotSupportedException("the gated storage holds no snapshots");

    /// <summary>Fails the oldest pending write as a broken disk would.</summary>
    public void FailNext()
    {
        (StorageWrite Write, TaskCompletionSource Done) pending;
        lock (_lock)
            pending = _pending.Dequeue();
        pending.Done.SetException(new IOException("disk failed"));
    }
}
