using RaftActors.Core;
using RaftActors.Core.Hosting;
using RaftActors.Messages;
using RaftActors.Storage;

namespace RaftActors.Simulation;

/// <summary>What a node's disk holds durably: it survives crashes; a write in flight may or may not land.</summary>
internal sealed class SimulatedDisk
{
    public HardState HardState { get; set; } = HardState.Initial;

    public List<LogEntry> Log { get; } = new();

    /// <summary>A fault may slow this disk down (fsyncs of tens of milliseconds).</summary>
    public int Slowdown { get; set; } = 1;

    public void Write(DurableWrite write)
    {
        if (write.HardState is { } hardState)
            HardState = hardState;
        LogOperations.ApplyTo(Log, LogOperations.Of(write.LogChanges));
    }
}

/// <summary>
/// One node: the real <see cref="RaftProtocol"/> driven by the same <see cref="RaftProtocolDriver{TClient,TRead}"/>
/// that RaftNode uses — effects in protocol order, sends held back in the outbox until what they
/// depend on is durable, one group-committed write at a time whose completion releases the outbox
/// and reports Persisted, clients' commands answered done only for an entry of the term they were
/// proposed in and "outcome unknown" when the leader steps down, reads served or failed as the
/// protocol says. This class is only the host: virtual time (timers and the write's latency are
/// events on the simulation's queue), a <see cref="SimulatedDisk"/>, the virtual network, a
/// key-value store as the state machine, and the invariant checker watching every step. A crash
/// loses every volatile thing, the driver with it; a restart is a new incarnation from the disk,
/// with a new driver, applying the log from the start to a fresh state machine.
/// Where it differs from RaftNode, on purpose: entries are applied at once rather than by an
/// applier actor (which sees them, and the reads after them, in the same order); requests to a
/// follower are answered NotLeader (forward-to-leader is not simulated); the key-value store keeps
/// every session result rather than the last 64 per client; snapshots are not simulated (no node
/// compacts its log, so the protocol never asks for a snapshot transfer, and the snapshot effects
/// throw); a write that fails is not simulated (a crash stands for it).
/// </summary>
internal sealed class SimulatedNode : IRaftProtocolHost<ClientRequest, SimulatedNode.WaitingRead>
{
    private readonly ClusterSimulation _sim;
    private RaftProtocolDriver<ClientRequest, WaitingRead>? _driver;
    private long _electionTimer;
    private long _heartbeatTimer;

    public SimulatedNode(ClusterSimulation sim, int index, string id)
    {
        _sim = sim;
        Index = index;
        Id = id;
    }

    public int Index { get; }

    public string Id { get; }

    public SimulatedDisk Disk { get; } = new();

    public bool Up { get; private set; }

    /// <summary>Counts the node's lives; events of an earlier life are ignored.</summary>
    public int Incarnation { get; private set; }

    /// <summary>The running protocol; null while the node is down.</summary>
    public RaftProtocol Protocol => _driver?.Protocol!;

    public KvStore Store { get; private set; } = null!;

    /// <summary>Whether a write is in flight: a crash now may or may not lose it.</summary>
    public bool Writing => _driver?.WriteInFlight is not null;

    private RaftProtocolDriver<ClientRequest, WaitingRead> Driver =>
        _driver ?? throw new InvalidOperationException($"{Id} is down");

    public void Start(int timeoutSeed)
    {
        var options = _sim.Options;
        Incarnation++;
        Up = true;
        Store = new KvStore(options.Keys);
        var protocol = new RaftProtocol(
            Id,
            _sim.PeersOf(Index),
            Disk.HardState,
            new ElectionTimeouts(options.ElectionTimeoutMin, options.ElectionTimeoutMax, new Random(timeoutSeed)),
            options.HeartbeatInterval,
            Disk.Log.ToArray(),
            options.Replication)
        {
            Bugs = options.InjectedBugs,
            PreVote = options.PreVote,
            CheckQuorum = options.CheckQuorum,
        };
        _driver = new RaftProtocolDriver<ClientRequest, WaitingRead>(protocol, this);
        _sim.Checker.NodeStarted(this);
        Run(p => p.Start());
    }

    /// <summary>The process dies: only the disk remains; the write in flight lands or not.</summary>
    public void Crash(bool writeInFlightLands)
    {
        if (Driver.WriteInFlight is { } write && writeInFlightLands)
            Disk.Write(write);
        Up = false;
        _driver = null;
        _electionTimer++;
        _heartbeatTimer++;
    }

    public void OnPeerMessage(IRaftProtocolMessage message) => Run(p =>
    {
        if (!p.Step(message))
            throw new SimulationFailure("Membership", $"{Id} ignored {message} from a member");
    });

    public void OnElectionTimer(long generation)
    {
        // A cancelled or reset timer's late firing is dropped, as Akka's named timers do.
        if (generation != _electionTimer || Protocol.Role == RaftRole.Leader)
            return;
        _sim.Trace($"{Id}: election timeout");
        Run(p => p.ElectionTimeoutElapsed());
    }

    public void OnHeartbeatTimer(long generation)
    {
        if (generation != _heartbeatTimer)
            return;
        ScheduleHeartbeat();
        if (Protocol.Role == RaftRole.Leader)
            Run(p => p.HeartbeatTimeoutElapsed());
    }

    public void OnFlush(long incarnation)
    {
        if (incarnation != Incarnation)
            return;
        Step(Driver.Flush);
    }

    /// <summary>The write lands on the disk first: the messages it releases are checked against what the disk holds.</summary>
    public void OnWriteDurable(DurableWrite write)
    {
        Disk.Write(write);
        Step(() => Driver.WriteDurable(write));
    }

    public void OnClientRequest(ClientRequest request)
    {
        if (Protocol.Role != RaftRole.Leader)
        {
            var leader = Protocol.LeaderId;
            _sim.ReplyToClient(request, new ClientReply(request.Client, request.OperationId, ReplyKind.NotLeader,
                LeaderHint: leader is null ? -1 : ClusterSimulation.IndexOf(leader)));
            return;
        }

        if (request.Entry is { } entry)
        {
            Step(() => Driver.Propose(entry, request));
        }
        else if (_sim.Options.Bug == SimulatedBug.ServeReadsLocally)
        {
            _sim.ReplyToClient(request, new ClientReply(request.Client, request.OperationId, ReplyKind.Done, new KvResult(true, Store.Read(request.Command.Key))));
        }
        else
        {
            var read = new WaitingRead(request, _sim.Checker.CommittedCount);
            Step(() => Driver.Read(read));
        }
    }

    private void Run(Action<RaftProtocol> input) => Step(() => Driver.Run(input));

    /// <summary>One call to the driver, with the invariants checked around it.</summary>
    private void Step(Action call)
    {
        _sim.Checker.BeforeStep(this);
        call();
        _sim.Checker.AfterStep(this);
    }

    void IRaftProtocolHost<ClientRequest, WaitingRead>.Deliver(string to, IRaftProtocolMessage message) => _sim.SendToPeer(Index, to, message);

    void IRaftProtocolHost<ClientRequest, WaitingRead>.ResetElectionTimer(TimeSpan timeout) =>
        _sim.Queue.After(Micros.Of(timeout), new SimEvent(EventKind.ElectionTimer, Index, ++_electionTimer));

    void IRaftProtocolHost<ClientRequest, WaitingRead>.StopElectionTimer() => _electionTimer++;

    void IRaftProtocolHost<ClientRequest, WaitingRead>.StartHeartbeatTimer(TimeSpan interval)
    {
        _heartbeatTimer++;
        ScheduleHeartbeat();
    }

    void IRaftProtocolHost<ClientRequest, WaitingRead>.StopHeartbeatTimer() => _heartbeatTimer++;

    void IRaftProtocolHost<ClientRequest, WaitingRead>.ScheduleFlush() =>
        _sim.Queue.After(0, new SimEvent(EventKind.FlushReplication, Index, Incarnation));

    void IRaftProtocolHost<ClientRequest, WaitingRead>.StartWrite(DurableWrite write) =>
        _sim.Queue.After(_sim.DiskLatency() * Disk.Slowdown, new SimEvent(EventKind.WriteDurable, Index, Incarnation, write));

    void IRaftProtocolHost<ClientRequest, WaitingRead>.LogChanging(LogChange change)
    {
        if (change is PersistEntries entries)
            _sim.Checker.LogChanged(this, entries);
    }

    void IRaftProtocolHost<ClientRequest, WaitingRead>.Apply(IReadOnlyList<LogEntry> entries, IReadOnlyDictionary<long, ClientRequest> clients)
    {
        foreach (var entry in entries)
        {
            _sim.Checker.Applied(this, entry);
            var result = Store.Apply(entry, _sim.Commands);
            if (clients.TryGetValue(entry.Index, out var request))
                _sim.ReplyToClient(request, new ClientReply(request.Client, request.OperationId, ReplyKind.Done, result));
        }
    }

    void IRaftProtocolHost<ClientRequest, WaitingRead>.ServeRead(WaitingRead read, long readIndex)
    {
        _sim.Checker.ReadServed(this, readIndex, read.CommittedWhenAsked);
        var request = read.Request;
        _sim.ReplyToClient(request, new ClientReply(request.Client, request.OperationId, ReplyKind.Done, new KvResult(true, Store.Read(request.Command.Key))));
    }

    void IRaftProtocolHost<ClientRequest, WaitingRead>.FailRead(WaitingRead read, string? leaderId) =>
        _sim.ReplyToClient(read.Request, new ClientReply(read.Request.Client, read.Request.OperationId, ReplyKind.NotLeader,
            LeaderHint: leaderId is null ? -1 : ClusterSimulation.IndexOf(leaderId)));

    void IRaftProtocolHost<ClientRequest, WaitingRead>.CommandOutcomeUnknown(ClientRequest request, string reason) =>
        _sim.ReplyToClient(request, new ClientReply(request.Client, request.OperationId, ReplyKind.OutcomeUnknown));

    void IRaftProtocolHost<ClientRequest, WaitingRead>.SendSnapshot(string to) => throw SnapshotsNotSimulated();

    void IRaftProtocolHost<ClientRequest, WaitingRead>.AcceptSnapshotChunk(InstallSnapshot chunk) => throw SnapshotsNotSimulated();

    void IRaftProtocolHost<ClientRequest, WaitingRead>.RestoreSnapshot(LogPosition snapshot) => throw SnapshotsNotSimulated();

    private NotSupportedException SnapshotsNotSimulated() =>
        new($"{Id}: snapshots are not simulated (no node compacts its log, so none should be asked for)");

    private void ScheduleHeartbeat() =>
        _sim.Queue.After(Micros.Of(_sim.Options.HeartbeatInterval), new SimEvent(EventKind.HeartbeatTimer, Index, _heartbeatTimer));

    /// <summary>A read waiting for the leader's confirmation, with how many entries were known committed when it was asked (a linearizable read sees at least those).</summary>
    internal sealed record WaitingRead(ClientRequest Request, long CommittedWhenAsked);
}
