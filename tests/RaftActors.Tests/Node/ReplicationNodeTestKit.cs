using System.Text;
using Akka.Actor;
using Akka.TestKit;
using RaftActors.Core;
using RaftActors.Messages;
using RaftActors.Node;
using RaftActors.StateMachine;
using RaftActors.Storage;

namespace RaftActors.Tests.Node;

/// <summary>
/// Helpers for a RaftNode that replicates and applies commands, its peers being TestProbes that
/// answer AppendEntries as the test says. Commands are UTF-8 byte arrays: they travel through
/// Akka's built-in ByteArraySerializer, whatever the application binds its own types to.
/// </summary>
public abstract class ReplicationNodeTestKit : RaftNodeTestKit
{
    protected static readonly TimeSpan Bound = TimeSpan.FromSeconds(5);

    protected static ClientCommand Command(string text, string? clientId = null, long sequence = 0) =>
        new(Encoding.UTF8.GetBytes(text), clientId, sequence);

    protected static string TextOf(LogEntry entry) => Encoding.UTF8.GetString(entry.Command!.Data);

    /// <summary>A log entry's command as a leader would have made it from <see cref="Command"/>'s bytes.</summary>
    protected EntryCommand EntryOf(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        var serializer = Sys.Serialization.FindSerializerFor(bytes);
        return new EntryCommand(serializer.Identifier, Akka.Serialization.Serialization.ManifestFor(serializer, bytes), serializer.ToBinary(bytes));
    }

    /// <summary>A follower's acknowledgement of <paramref name="append"/>: it now holds everything it carried.</summary>
    protected static void Acknowledge(IActorRef node, string follower, AppendEntries append) =>
        node.Tell(new AppendEntriesResult(append.Term, follower, Success: true,
            MatchIndex: append.PrevLogIndex + append.Entries.Count, Sequence: append.Sequence));

    /// <summary>
    /// Waits until the node and then its state machine applier have handled everything sent to
    /// them so far (Identify is answered in mailbox order), so whatever they would have told a
    /// client is in that client's queue.
    /// </summary>
    protected void SettleWithApplier(IActorRef node)
    {
        Settle(node);
        // Anchored at the node itself: a selection from the root can miss a TestActorRef that the
        // user guardian has not registered yet.
        var identity = new ActorSelection(node, "applier").Ask<ActorIdentity>(new Identify(0), Bound).Result;
        Assert.NotNull(identity.Subject);
        Settle(node);
    }

    /// <summary>
    /// Node n1 leader of term 1 over gated storage: the candidacy's write completed, n2's vote
    /// in, and the no-op's AppendEntries received by every peer — while the leader's own write of
    /// the no-op is still pending.
    /// </summary>
    protected (TestFSMRef<RaftNode, RaftRole, RaftStatus> Node, Dictionary<string, TestProbe> Peers, Dictionary<string, AppendEntries> NoOps)
        StartGatedLeader(GatedStorage storage, Func<IRaftStateMachine>? stateMachineFactory = null)
    {
        var (node, peers) = StartNode(storage, stateMachineFactory: stateMachineFactory);
        TimeOutElection(node);
        CompleteAllWrites(node, storage);
        foreach (var peer in peers.Values)
            peer.ExpectMsg<RequestVote>();
        node.Tell(new RequestVoteResult(1, "n2", true));
        Assert.Equal(RaftRole.Leader, Settle(node).Role);
        var noOps = peers.ToDictionary(p => p.Key, p => p.Value.ExpectMsg<AppendEntries>());
        return (node, peers, noOps);
    }
}

/// <summary>
/// A small deterministic state machine: each command (UTF-8 bytes) is appended to a list, and the
/// result is "item#n", n the list's length after it — so a command applied twice shows. A query
/// returns the items joined by commas.
/// </summary>
public sealed class ListStateMachine : IRaftStateMachine
{
    private readonly object _lock = new();
    private readonly List<(long Index, string Item)> _applied = new();

    public IReadOnlyList<(long Index, string Item)> Applied
    {
        get
        {
            lock (_lock)
                return _applied.ToArray();
        }
    }

    public object? Apply(long index, object command)
    {
        var item = Encoding.UTF8.GetString(Assert.IsType<byte[]>(command));
        lock (_lock)
        {
            _applied.Add((index, item));
            return $"{item}#{_applied.Count}";
        }
    }

    public object? Query(object query)
    {
        lock (_lock)
            return string.Join(",", _applied.Select(a => a.Item));
    }
}

/// <summary>
/// In-memory storage whose next write, once armed, holds the node's thread inside WriteAsync
/// until the test releases it: messages sent meanwhile pile up in the node's mailbox, as a burst
/// of client requests does on a busy node.
/// </summary>
public sealed class BlockingStorage : IRaftStorage
{
    private readonly InMemoryRaftStorage _inner = new();
    private readonly ManualResetEventSlim _entered = new();
    private readonly ManualResetEventSlim _released = new();
    private volatile bool _armed;

    public HardState HardState => _inner.HardState;

    public IReadOnlyList<LogEntry> Entries => _inner.Entries;

    public LogPosition Snapshot => _inner.Snapshot;

    public ClusterConfiguration? SnapshotConfiguration => _inner.SnapshotConfiguration;

    public SnapshotSink CreateSnapshot(LogPosition position, ClusterConfiguration? configuration = null) => _inner.CreateSnapshot(position, configuration);

    public OpenedSnapshot OpenSnapshot() => _inner.OpenSnapshot();

    public void BlockNextWrite()
    {
        _entered.Reset();
        _released.Reset();
        _armed = true;
    }

    /// <summary>Waits (bounded) until the node is held inside the armed write.</summary>
    public bool WaitUntilBlocked(TimeSpan bound) => _entered.Wait(bound);

    public void Release() => _released.Set();

    public Task WriteAsync(StorageWrite write)
    {
        if (_armed)
        {
            _armed = false;
            _entered.Set();
            if (!_released.Wait(TimeSpan.FromSeconds(10)))
                return Task.FromException(new TimeoutException("the test never released the blocked write"));
        }

        return _inner.WriteAsync(write);
    }
}
