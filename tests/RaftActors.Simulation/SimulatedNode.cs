using RaftActors.Core;
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
/// One node, hosted exactly as <c>RaftNode</c> hosts <see cref="RaftProtocol"/>, with virtual time
/// and a simulated disk in place of Akka's scheduler and storage: every input runs the protocol,
/// then its effects in order — persists into the <see cref="DurableOutbox"/>, sends through it
/// (a message waits for the writes it depends on), named timers reset or cancelled, committed
/// entries applied (answering the clients waiting for them only if the entry is of the term they
/// were proposed in), reads served or failed — and then the next group-committed write starts.
/// A write's completion releases the outbox and reports <see cref="RaftProtocol.Persisted"/>.
/// Client commands to a leader are taken in before it replicates (a flush event behind them), and
/// a leader that steps down answers its waiting commands "outcome unknown". A crash loses every
/// volatile thing; a restart is a new incarnation from the disk, applying the log from the start
/// to a fresh state machine.
/// Where it differs from RaftNode, on purpose: entries are applied at once rather than by an
/// applier actor (which sees them, and the reads after them, in the same order); requests to a
/// follower are answered NotLeader (forward-to-leader is not simulated); the key-value store keeps
/// every session result rather than the last 64 per client.
/// </summary>
internal sealed class SimulatedNode
{
    private readonly ClusterSimulation _sim;
    private readonly Dictionary<long, (long Term, ClientRequest Request)> _pendingCommands = new();
    private readonly Dictionary<long, (ClientRequest Request, long Floor)> _pendingReads = new();
    private readonly Action<string, IRaftProtocolMessage> _deliver;
    private DurableOutbox _outbox = new();
    private DurableWrite? _writing;
    private long _electionTimer;
    private long _heartbeatTimer;
    private bool _flushScheduled;
    private long _nextReadId;

    public SimulatedNode(ClusterSimulation sim, int index, string id)
    {
        _sim = sim;
        Index = index;
        Id = id;
        _deliver = (to, message) => _sim.SendToPeer(Index, to, message);
    }

    public int Index { get; }

    public string Id { get; }

    public SimulatedDisk Disk { get; } = new();

    public bool Up { get; private set; }

    /// <summary>Counts the node's lives; events of an earlier life are ignored.</summary>
    public int Incarnation { get; private set; }

    public RaftProtocol Protocol { get; private set; } = null!;

    public KvStore Store { get; private set; } = null!;

    /// <summary>Whether a write is in flight: a crash now may or may not lose it.</summary>
    public bool Writing => _writing is not null;

    public void Start(int timeoutSeed)
    {
        var options = _sim.Options;
        Incarnation++;
        Up = true;
        _outbox = new DurableOutbox();
        _writing = null;
        _flushScheduled = false;
        _pendingCommands.Clear();
        _pendingReads.Clear();
        Store = new KvStore(options.Keys);
        Protocol = new RaftProtocol(
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
        _sim.Checker.NodeStarted(this);
        Run(p => p.Start());
    }

    /// <summary>The process dies: only the disk remains; the write in flight lands or not.</summary>
    public void Crash(bool writeInFlightLands)
    {
        if (_writing is { } write && writeInFlightLands)
            Disk.Write(write);
        Up = false;
        _writing = null;
        Protocol = null!;
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
        _flushScheduled = false;
        Run(p => p.Replicate());
    }

    public void OnWriteDurable(DurableWrite write)
    {
        if (!ReferenceEquals(write, _writing))
            return; // a previous incarnation's write
        _writing = null;
        Disk.Write(write);
        _outbox.Durable(write.Version, _deliver);
        if (write.LastAfter is { } last)
            Run(p => p.Persisted(last));
        StartNextWrite();
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
            Run(p =>
            {
                var index = p.Propose(entry)!.Value;
                _pendingCommands[index] = (p.Term, request);
                ScheduleFlush();
            });
        }
        else if (_sim.Options.Bug == SimulatedBug.ServeReadsLocally)
        {
            _sim.ReplyToClient(request, new ClientReply(request.Client, request.OperationId, ReplyKind.Done, new KvResult(true, Store.Read(request.Command.Key))));
        }
        else
        {
            var readId = ++_nextReadId;
            _pendingReads[readId] = (request, _sim.Checker.CommittedCount);
            Run(p =>
            {
                p.RequestRead(readId);
                ScheduleFlush();
            });
        }
    }

    private void ScheduleFlush()
    {
        if (_flushScheduled)
            return;
        _flushScheduled = true;
        _sim.Queue.After(0, new SimEvent(EventKind.FlushReplication, Index, Incarnation));
    }

    private void Run(Action<RaftProtocol> input)
    {
        var wasLeaderOf = Protocol.Role == RaftRole.Leader ? Protocol.Term : -1;
        _sim.Checker.BeforeStep(this);
        input(Protocol);
        CarryOutEffects();
        if (wasLeaderOf >= 0 && Protocol.Role != RaftRole.Leader)
        {
            foreach (var (_, request) in _pendingCommands.Values)
                _sim.ReplyToClient(request, new ClientReply(request.Client, request.OperationId, ReplyKind.OutcomeUnknown));
            _pendingCommands.Clear();
        }

        _sim.Checker.AfterStep(this);
    }

    private void CarryOutEffects()
    {
        foreach (var effect in Protocol.DrainEffects())
        {
            switch (effect)
            {
                case PersistHardState persist:
                    _outbox.Persist(persist.State);
                    break;
                case PersistEntries persist:
                    _sim.Checker.LogChanged(this, persist);
                    _outbox.Persist(persist);
                    break;
                case SendMessage send:
                    _outbox.Send(send.To, send.Message, _deliver, send.AfterLogDurable);
                    break;
                case ResetElectionTimer reset:
                    _sim.Queue.After(Micros.Of(reset.Timeout), new SimEvent(EventKind.ElectionTimer, Index, ++_electionTimer));
                    break;
                case StopElectionTimer:
                    _electionTimer++;
                    break;
                case StartHeartbeatTimer:
                    _heartbeatTimer++;
                    ScheduleHeartbeat();
                    break;
                case StopHeartbeatTimer:
                    _heartbeatTimer++;
                    break;
                case ApplyEntries apply:
                    foreach (var entry in apply.Entries)
                        Apply(entry);
                    break;
                case ServeRead serve:
                    if (_pendingReads.Remove(serve.ReadId, out var read))
                    {
                        _sim.Checker.ReadServed(this, serve.ReadIndex, read.Floor);
                        var key = read.Request.Command.Key;
                        _sim.ReplyToClient(read.Request, new ClientReply(read.Request.Client, read.Request.OperationId, ReplyKind.Done,
                            new KvResult(true, Store.Read(key))));
                    }

                    break;
                case FailReads failed:
                    foreach (var readId in failed.ReadIds)
                    {
                        if (_pendingReads.Remove(readId, out var lost))
                            _sim.ReplyToClient(lost.Request, new ClientReply(lost.Request.Client, lost.Request.OperationId, ReplyKind.NotLeader,
                                LeaderHint: Protocol.LeaderId is { } leader ? ClusterSimulation.IndexOf(leader) : -1));
                    }

                    break;
                default:
                    throw new InvalidOperationException($"unknown effect {effect}");
            }
        }

        StartNextWrite();
    }

    private void Apply(LogEntry entry)
    {
        _sim.Checker.Applied(this, entry);
        var result = Store.Apply(entry, _sim.Commands);
        if (!_pendingCommands.Remove(entry.Index, out var pending))
            return;
        _sim.ReplyToClient(pending.Request, pending.Term == entry.Term
            ? new ClientReply(pending.Request.Client, pending.Request.OperationId, ReplyKind.Done, result)
            : new ClientReply(pending.Request.Client, pending.Request.OperationId, ReplyKind.OutcomeUnknown));
    }

    private void ScheduleHeartbeat() =>
        _sim.Queue.After(Micros.Of(_sim.Options.HeartbeatInterval), new SimEvent(EventKind.HeartbeatTimer, Index, _heartbeatTimer));

    private void StartNextWrite()
    {
        if (_outbox.TakeNextWrite() is not { } write)
            return;
        _writing = write;
        _sim.Queue.After(_sim.DiskLatency() * Disk.Slowdown, new SimEvent(EventKind.WriteDurable, Index, Incarnation, write));
    }
}
