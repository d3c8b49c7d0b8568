using System.Runtime.Serialization;
using RaftActors.Configuration;
using RaftActors.Core;
using RaftActors.Core.Hosting;
using RaftActors.Messages;
using RaftActors.Storage;

namespace RaftActors.Simulation;

/// <summary>
/// What a node's disk holds durably: the library's own <see cref="InMemoryRaftStorage"/> (hard
/// state, the latest snapshot and the log after it, snapshots staged and saved as in the file
/// store), written when the simulation says a write is durable. It survives crashes; a write in
/// flight may or may not land; snapshots staged but not saved do not survive.
/// </summary>
internal sealed class SimulatedDisk
{
    public InMemoryRaftStorage Storage { get; } = new();

    public HardState HardState => Storage.HardState;

    /// <summary>The durable log after (or, for trailing entries, from before) <see cref="Snapshot"/>.</summary>
    public IReadOnlyList<LogEntry> Log => Storage.Entries;

    /// <summary>The latest durable snapshot's last entry; (0, 0) before the first.</summary>
    public LogPosition Snapshot => Storage.Snapshot;

    /// <summary>The index of the last entry the disk holds, in its log or in its snapshot.</summary>
    public long LastIndex => Log.Count > 0 ? Log[^1].Index : Snapshot.Index;

    /// <summary>A fault may slow this disk down (fsyncs of tens of milliseconds).</summary>
    public int Slowdown { get; set; } = 1;

    public void Write(DurableWrite write) =>
        Storage.WriteAsync(new StorageWrite(write.HardState, LogOperations.Of(write.LogChanges))).GetAwaiter().GetResult();
}

/// <summary>
/// One node: the real <see cref="RaftProtocol"/> driven by the same <see cref="RaftProtocolDriver{TClient,TRead}"/>
/// that RaftNode uses — effects in protocol order, sends held back in the outbox until what they
/// depend on is durable, one group-committed write at a time whose completion releases the outbox
/// and reports Persisted, clients' commands answered done only for an entry of the term they were
/// proposed in and "outcome unknown" when the leader steps down, reads served or failed as the
/// protocol says. This class is only the host: virtual time (timers and the write's latency are
/// events on the simulation's queue), a <see cref="SimulatedDisk"/>, the virtual network, a
/// key-value store as the state machine (<see cref="KvReplica"/>: with RaftNode's applier rules and
/// client sessions, <see cref="AppliedState"/>), and the invariant checker watching every step. A crash
/// loses every volatile thing, the driver with it; a restart is a new incarnation from the disk,
/// with a new driver: the store restored from the disk's snapshot, then the log after it applied.
/// Snapshots (§7) as RaftNode takes them: once the entries applied since the last snapshot reach
/// the threshold, the store's state at the last applied entry is written into a snapshot of the
/// disk and, once written, handed to the protocol (<see cref="RaftProtocol.SnapshotTaken"/>), whose
/// PersistSnapshot goes through the outbox with the next write; a leader sends its latest durable
/// snapshot to a follower that needs it with RaftNode's <see cref="SnapshotSender{TContent}"/>,
/// which takes it with RaftNode's <see cref="SnapshotReceiver{TSink}"/> (then
/// <see cref="RaftProtocol.SnapshotReceived"/>) and restores its store from it once it is saved,
/// holding back what comes after for the store until then. This class carries out their I/O
/// requests on the disk: opens, chunk reads and chunk writes each take a disk latency.
/// Where it differs from RaftNode, on purpose: entries are applied at once rather than by an
/// applier actor (which sees them, and the reads after them, in the same order); requests to a
/// follower, the operator's membership requests too, are answered NotLeader (forward-to-leader is
/// not simulated); a leader handing its leadership over answers commands NotLeader naming the
/// successor, as RaftNode does. Membership as RaftNode hosts it: a founder starts with the founders'
/// configuration, a server the operator starts later with none (raft.join); the store follows the
/// configuration entries it applies, so that a snapshot records the configuration in force at its
/// index, a leader's snapshot chunks carry it, and a restart takes it from the disk. A write or read
/// that fails is not simulated (a crash stands for it).
/// </summary>
internal sealed class SimulatedNode : IRaftProtocolHost<NodeRequest, SimulatedNode.WaitingRead>, ISnapshotSenderHost<Stream>, ISnapshotReceiverHost<SnapshotSink>
{
    private readonly ClusterSimulation _sim;

    // Snapshots the protocol took on, kept until the write that saves them is durable (by its version).
    private readonly List<(long Version, SnapshotSink Sink)> _savingSnapshots = new();

    // Every snapshot this incarnation created and has not let go of: a crash discards the unsaved ones.
    private readonly List<SnapshotSink> _sinks = new();

    // What waits for a snapshot from the leader to be saved and restored (as RaftNode holds the applier's messages).
    private readonly List<Action> _heldForStore = new();
    private RaftProtocolDriver<NodeRequest, WaitingRead>? _driver;
    private SnapshotSender<Stream>? _sender;
    private SnapshotReceiver<SnapshotSink>? _receiver;
    private long _electionTimer;
    private long _heartbeatTimer;
    private long? _restoreAfterVersion;

    // When the last chunk write of a leader's snapshot is durable: the disk makes them durable in order.
    private long _chunksDurableAt;

    /// <param name="bootstrap">The configuration the node starts with: the founders', or none for a server that joins later.</param>
    public SimulatedNode(ClusterSimulation sim, int index, string id, ClusterConfiguration bootstrap)
    {
        _sim = sim;
        Index = index;
        Id = id;
        Bootstrap = bootstrap;
        Configuration = bootstrap;
    }

    public int Index { get; }

    public string Id { get; }

    /// <summary>The configuration the node was started with: the founders' voters, or <see cref="ClusterConfiguration.Empty"/> for a server that joins.</summary>
    public ClusterConfiguration Bootstrap { get; }

    /// <summary>Whether the node was ever started: a server that has not joined yet was not.</summary>
    public bool Created => Incarnation > 0;

    /// <summary>The operator stopped the node (removed, or killed as a failed machine to replace): no crash's restart brings it back.</summary>
    public bool Retired { get; set; }

    /// <summary>Stopped for good after its removal: not even the final heal restarts it.</summary>
    public bool Decommissioned { get; set; }

    /// <summary>The operator has dealt with this server's removal: stopped it for good, or left it running to the end.</summary>
    public bool RemovalHandled { get; set; }

    /// <summary>The configuration the protocol last announced (<see cref="IRaftProtocolHost{TClient,TRead}.ConfigurationChanged"/>), as RaftNode publishes it.</summary>
    public ClusterConfiguration Configuration { get; private set; }

    public SimulatedDisk Disk { get; } = new();

    public bool Up { get; private set; }

    /// <summary>Counts the node's lives; events of an earlier life are ignored.</summary>
    public int Incarnation { get; private set; }

    /// <summary>The running protocol; null while the node is down.</summary>
    public RaftProtocol Protocol => _driver?.Protocol!;

    /// <summary>The replicated state: the key-value store, with the client sessions and the applier's bookkeeping.</summary>
    public KvReplica Replica { get; private set; } = null!;

    /// <summary>The last entry the store holds (applied, or restored from a snapshot).</summary>
    public long LastApplied => Replica.Applied.LastApplied.Index;

    /// <summary>Whether a write is in flight: a crash now may or may not lose it.</summary>
    public bool Writing => _driver?.WriteInFlight is not null;

    internal long Now => _sim.Queue.Now;

    private RaftProtocolDriver<NodeRequest, WaitingRead> Driver =>
        _driver ?? throw new InvalidOperationException($"{Id} is down");

    public void Start(int timeoutSeed)
    {
        var options = _sim.Options;
        Incarnation++;
        Up = true;

        // The store starts from the disk's snapshot; the log after it is applied as it commits.
        var snapshot = Disk.Snapshot;
        Replica = new KvReplica(options.Keys, _sim.Commands, Bootstrap, options.Snapshots);
        if (snapshot != LogPosition.Empty)
            RestoreReplica();
        _restoreAfterVersion = null;
        _heldForStore.Clear();
        _savingSnapshots.Clear();
        var protocol = new RaftProtocol(
            Id,
            Bootstrap,
            Disk.HardState,
            new ElectionTimeouts(options.ElectionTimeoutMin, options.ElectionTimeoutMax, new Random(timeoutSeed)),
            options.HeartbeatInterval,
            Disk.Log,
            options.Replication,
            snapshot,
            Disk.Storage.SnapshotConfiguration,
            options.Snapshots.TrailingEntries)
        {
            Rules = FaultyRules.For(options.Bug),
            PreVote = options.PreVote,
            CheckQuorum = options.CheckQuorum,
            LeaseReads = options.LeaseReads,
            SessionPolicy = options.Sessions,
            Clock = () => _sim.Queue.Now / 1000, // virtual microseconds, as the stamps' milliseconds
        };
        _driver = new RaftProtocolDriver<NodeRequest, WaitingRead>(protocol, this);
        Configuration = protocol.Configuration;
        _sender = new SnapshotSender<Stream>(this, options.Snapshots.ChunkSize, options.Snapshots.ChunksInFlight);
        _receiver = new SnapshotReceiver<SnapshotSink>(Id, this) { Decide = FaultyRules.ChunkDecisionFor(options.Bug) };
        _sim.Checker.NodeStarted(this);
        if (snapshot != LogPosition.Empty)
            _sim.RestartedFromSnapshot();
        Run(p => p.Start());
    }

    /// <summary>The process dies: only the disk remains; the write in flight lands or not; snapshots not saved are gone.</summary>
    public void Crash(bool writeInFlightLands)
    {
        if (Driver.WriteInFlight is { } write && writeInFlightLands)
            Disk.Write(write);
        _sim.Checker.Crashed(this);
        foreach (var sink in _sinks)
            sink.Dispose();
        _sinks.Clear();
        Up = false;
        _driver = null;
        _sender = null;
        _receiver = null;
        _electionTimer++;
        _heartbeatTimer++;
    }

    public void OnPeerMessage(IRaftProtocolMessage message)
    {
        // The sender first: a done answer ends its transfer before the protocol, learning that the
        // follower still lags behind a newer snapshot, asks for the next one (RaftNode.OnSnapshotAnswer).
        var answer = message as InstallSnapshotResult;
        var answerLate = _sim.Options.Bug == SimulatedBug.SnapshotAnswerAfterProtocol;
        if (answer is not null && !answerLate && Protocol.Role == RaftRole.Leader)
            _sender!.Answered(answer);
        if (message is AppendEntriesResult heard && Protocol.Role == RaftRole.Leader)
            _sender!.FollowerHeard(heard.FollowerId, heard.Term);
        Run(p =>
        {
            // Answers from servers outside the configuration (removed, or not yet added) are ignored; a member's never.
            var member = p.Configuration.IsMember(message.From);
            if (!p.Step(message) && member)
                throw new SimulationFailure("Membership", $"{Id} ignored {message} from a member");
        });
        if (answer is not null && answerLate && Protocol.Role == RaftRole.Leader)
            _sender!.Answered(answer);
    }

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
            _sender!.Tick();
        Run(p => p.HeartbeatTimeoutElapsed()); // a follower's ticks time its reads (FollowerReads)
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
        if (request.Entry is null && Protocol.Role != RaftRole.Leader && _sim.Options.Bug != SimulatedBug.ServeReadsLocally)
        {
            // As RaftNode: a follower serves a read itself, at the read index its leader confirms.
            var read = new WaitingRead(request, _sim.Checker.CommittedCount);
            var taken = false;
            Step(() => taken = Driver.Read(read));
            if (taken)
                return;
        }

        if (Protocol.Role != RaftRole.Leader)
        {
            var leader = Protocol.LeaderId;
            _sim.ReplyToClient(request, new ClientReply(request.Client, request.OperationId, ReplyKind.NotLeader,
                LeaderHint: leader is null ? -1 : ClusterSimulation.IndexOf(leader)));
            return;
        }

        if (request.Entry is { } entry)
        {
            if (Protocol.TransferTarget is { } successor)
            {
                // As RaftNode: no new commands while leadership passes (thesis §3.10); the successor takes them in a moment.
                _sim.ReplyToClient(request, new ClientReply(request.Client, request.OperationId, ReplyKind.NotLeader, LeaderHint: ClusterSimulation.IndexOf(successor)));
                return;
            }

            Step(() => Driver.Propose(entry, request));
        }
        else if (_sim.Options.Bug == SimulatedBug.ServeReadsLocally)
        {
            _sim.ReplyToClient(request, new ClientReply(request.Client, request.OperationId, ReplyKind.Done, new KvResult(true, Replica.Store.Read(request.Command.Key))));
        }
        else
        {
            var read = new WaitingRead(request, _sim.Checker.CommittedCount);
            Step(() => Driver.Read(read));
        }
    }

    /// <summary>
    /// The operator's membership request or leadership transfer: a leader starts it through the driver
    /// (RaftNode's AddMember, RemoveMember, TransferLeadership); any other node refuses it NotLeader.
    /// </summary>
    public void OnOperatorRequest(OperatorRequest request)
    {
        if (Protocol.Role != RaftRole.Leader)
        {
            _sim.ReplyToOperator(new OperatorReply(Id, request, OperatorReplyKind.Refused,
                Refusal: new MembershipRefusal(MembershipRefusalReason.NotLeader, $"{Id} is not the leader")));
            return;
        }

        if (request.Change is { } change)
            Step(() => Driver.ChangeMembership(change, request));
        else
            Step(() => Driver.TransferLeadership(request.TransferTarget, request));
    }

    /// <summary>The disk finishes something of this incarnation's after <paramref name="delay"/>.</summary>
    internal void AfterIo(long delay, string what, Action done) =>
        _sim.Queue.After(delay, new SimEvent(EventKind.NodeIo, Index, Incarnation, new NodeIo($"{Id}: {what}", done)));

    /// <summary>How long the disk takes for one write or read.</summary>
    internal long IoLatency() => _sim.DiskLatency() * Disk.Slowdown;

    /// <summary>A new snapshot on the disk, for the store's state or a leader's chunks.</summary>
    private SnapshotSink CreateSnapshot(LogPosition position, ClusterConfiguration? configuration)
    {
        var sink = Disk.Storage.CreateSnapshot(position, configuration);
        _sinks.Add(sink);
        return sink;
    }

    /// <summary>Lets go of a snapshot: discarded unless it was saved.</summary>
    private void DiscardSnapshot(SnapshotSink sink)
    {
        sink.Dispose();
        _sinks.Remove(sink);
    }

    /// <summary>The last chunk of a leader's snapshot is durable and the snapshot staged: the protocol decides whether to install it.</summary>
    private void SnapshotReceived(InstallSnapshot lastChunk, SnapshotSink sink)
    {
        var installed = false;
        Run(p =>
        {
            installed = p.SnapshotReceived(lastChunk);
            if (installed)
                _sim.Checker.SnapshotInstalled(this, lastChunk.Snapshot, lastChunk.Configuration);
        });
        KeepUntilSaved(sink, installed);
        if (installed)
            _sim.SnapshotInstalled();
    }

    private void Run(Action<RaftProtocol> input) => Step(() => Driver.Run(input));

    /// <summary>One call to the driver, with the invariants checked around it.</summary>
    private void Step(Action call)
    {
        _sim.Checker.BeforeStep(this);
        call();
        _sim.Checker.AfterStep(this);
    }

    /// <summary>To the store, in order; held back while a snapshot from the leader is being saved.</summary>
    private void TellStore(Action action)
    {
        if (_restoreAfterVersion is null)
            action();
        else
            _heldForStore.Add(action);
    }

    private void ApplyToStore(IReadOnlyList<LogEntry> entries, IReadOnlyDictionary<long, NodeRequest> clients)
    {
        foreach (var entry in entries)
        {
            if (Replica.Applied.Holds(entry.Index))
                continue; // a snapshot restored in the meantime holds it already
            _sim.Checker.Applied(this, entry);
            Replica.Apply(entry, out var reply);
            if (reply is not null && clients.TryGetValue(entry.Index, out var waiting) && waiting is ClientRequest request)
                _sim.ReplyToClient(request, Answer(request, reply));
        }

        if (Replica.Applied.TakeSnapshotNow())
            TakeSnapshot();
    }

    /// <summary>A command's answer from the sessions or the store, in the client's terms.</summary>
    private static ClientReply Answer(ClientRequest request, IClientReply reply) => reply switch
    {
        CommandApplied { Result: KvResult result } => new ClientReply(request.Client, request.OperationId, ReplyKind.Done, result),
        CommandOutcomeUnknown => new ClientReply(request.Client, request.OperationId, ReplyKind.OutcomeUnknown),
        SessionExpired => new ClientReply(request.Client, request.OperationId, ReplyKind.SessionExpired),
        TooManySessions => new ClientReply(request.Client, request.OperationId, ReplyKind.TooManySessions),
        _ => throw new SimulationFailure(ClusterSimulation.HarnessError, $"the key-value store answered {request.Command} with {reply}"),
    };

    /// <summary>The store's state at the last applied entry goes into a new snapshot; the protocol hears of it once it is written.</summary>
    private void TakeSnapshot()
    {
        if (!Replica.Applied.SnapshotStarting())
        {
            Replica.Applied.SnapshotEnded();
            return;
        }

        var position = Replica.Applied.LastApplied;
        var configuration = Replica.Applied.Configuration;
        var content = Replica.SnapshotContent();
        _sim.Checker.SnapshotWritten(this, position);
        var sink = CreateSnapshot(position, configuration);
        sink.WriteAsync(content).GetAwaiter().GetResult();
        AfterIo(IoLatency(), $"snapshot through {position.Index} written", () =>
        {
            // Durable and staged once written, as the applier's CompleteAsync ends; then the node hears of it.
            sink.CompleteAsync().GetAwaiter().GetResult();
            Replica.Applied.SnapshotEnded();
            var taken = false;
            Run(p =>
            {
                taken = p.SnapshotTaken(position);
                if (taken)
                    _sim.Checker.SnapshotTakenOn(this, position, configuration);
            });
            KeepUntilSaved(sink, taken);
            if (taken)
                _sim.SnapshotTaken();
        });
    }

    /// <summary>A staged snapshot the protocol took on stays staged until the write that saves it is durable; else it goes now.</summary>
    private void KeepUntilSaved(SnapshotSink sink, bool takenOn)
    {
        if (takenOn)
            _savingSnapshots.Add((Driver.LatestVersion, sink));
        else
            DiscardSnapshot(sink);
    }

    /// <summary>The store takes the state of the disk's latest snapshot (Figure 13, rule 8).</summary>
    private void RestoreStore()
    {
        var snapshot = RestoreReplica();
        _sim.Checker.Restored(this, snapshot);
    }

    /// <summary>
    /// The replica takes the state of the disk's latest snapshot. One it cannot read holds no state
    /// that applying the committed entries gives: State Machine Safety is broken.
    /// </summary>
    private LogPosition RestoreReplica()
    {
        var (snapshot, content) = Disk.Storage.OpenSnapshot();
        using (content)
        {
            try
            {
                Replica.Restore(snapshot, Disk.Storage.SnapshotConfiguration ?? Bootstrap, content);
            }
            catch (Exception e) when (e is SerializationException or InvalidDataException or EndOfStreamException)
            {
                throw new SimulationFailure("State Machine Safety", $"{Id} cannot read its snapshot through {snapshot.Index}: {e.Message}");
            }
        }

        return snapshot;
    }

    void IRaftProtocolHost<NodeRequest, WaitingRead>.Deliver(string to, IRaftProtocolMessage message) => _sim.SendToPeer(Index, to, message);

    void IRaftProtocolHost<NodeRequest, WaitingRead>.ResetElectionTimer(TimeSpan timeout) =>
        _sim.Queue.After(Micros.Of(timeout), new SimEvent(EventKind.ElectionTimer, Index, ++_electionTimer));

    void IRaftProtocolHost<NodeRequest, WaitingRead>.StopElectionTimer() => _electionTimer++;

    void IRaftProtocolHost<NodeRequest, WaitingRead>.StartHeartbeatTimer(TimeSpan interval)
    {
        _heartbeatTimer++;
        ScheduleHeartbeat();
    }

    void IRaftProtocolHost<NodeRequest, WaitingRead>.StopHeartbeatTimer() => _heartbeatTimer++;

    void IRaftProtocolHost<NodeRequest, WaitingRead>.ScheduleFlush() =>
        _sim.Queue.After(0, new SimEvent(EventKind.FlushReplication, Index, Incarnation));

    void IRaftProtocolHost<NodeRequest, WaitingRead>.StartWrite(DurableWrite write) =>
        _sim.Queue.After(_sim.DiskLatency() * Disk.Slowdown, new SimEvent(EventKind.WriteDurable, Index, Incarnation, write));

    /// <summary>Snapshots the write saved are the disk's now; what waited for a snapshot from the leader to be saved goes to the store.</summary>
    void IRaftProtocolHost<NodeRequest, WaitingRead>.WriteLanded(DurableWrite write)
    {
        _savingSnapshots.RemoveAll(saving =>
        {
            if (!Driver.IsDurable(saving.Version))
                return false;
            DiscardSnapshot(saving.Sink); // saved: the disk owns it
            return true;
        });

        if (_restoreAfterVersion is { } version && Driver.IsDurable(version))
        {
            _restoreAfterVersion = null;
            foreach (var action in _heldForStore)
                action();
            _heldForStore.Clear();
        }
    }

    void IRaftProtocolHost<NodeRequest, WaitingRead>.LogChanging(LogChange change) => _sim.Checker.LogChanged(this, change);

    /// <summary>A snapshot transfer belongs to one leader in one term; a new one starts afresh.</summary>
    void IRaftProtocolHost<NodeRequest, WaitingRead>.LeadershipChanged()
    {
        _sender!.StopAll();
        _receiver!.Abort();
    }

    void IRaftProtocolHost<NodeRequest, WaitingRead>.Apply(IReadOnlyList<LogEntry> entries, IReadOnlyDictionary<long, NodeRequest> clients)
    {
        // Checked as the leader decides, before the store (which may hold it back) sees it.
        _sim.Checker.Committing(this, entries);
        TellStore(() => ApplyToStore(entries, clients));
    }

    void IRaftProtocolHost<NodeRequest, WaitingRead>.ServeRead(WaitingRead read, long readIndex)
    {
        _sim.ReadServed(byLeader: Protocol.Role == RaftRole.Leader);
        TellStore(() =>
        {
            _sim.Checker.ReadServed(this, readIndex, read.CommittedWhenAsked);
            var request = read.Request;
            _sim.ReplyToClient(request, new ClientReply(request.Client, request.OperationId, ReplyKind.Done, new KvResult(true, Replica.Store.Read(request.Command.Key))));
        });
    }

    void IRaftProtocolHost<NodeRequest, WaitingRead>.FailRead(WaitingRead read, string? leaderId) =>
        _sim.ReplyToClient(read.Request, new ClientReply(read.Request.Client, read.Request.OperationId, ReplyKind.NotLeader,
            LeaderHint: leaderId is null ? -1 : ClusterSimulation.IndexOf(leaderId)));

    void IRaftProtocolHost<NodeRequest, WaitingRead>.CommandOutcomeUnknown(NodeRequest waiting, string reason)
    {
        switch (waiting)
        {
            case ClientRequest request:
                _sim.ReplyToClient(request, new ClientReply(request.Client, request.OperationId, ReplyKind.OutcomeUnknown));
                break;
            case OperatorRequest request:
                _sim.ReplyToOperator(new OperatorReply(Id, request, OperatorReplyKind.OutcomeUnknown, Reason: reason));
                break;
        }
    }

    void IRaftProtocolHost<NodeRequest, WaitingRead>.ConfigurationChanged(ClusterConfiguration configuration, long index, bool committed) =>
        Configuration = configuration;

    // Only the operator makes membership requests and leadership transfers.
    void IRaftProtocolHost<NodeRequest, WaitingRead>.MembershipChanged(NodeRequest request, ClusterConfiguration configuration, long index) =>
        _sim.ReplyToOperator(new OperatorReply(Id, (OperatorRequest)request, OperatorReplyKind.Done, Configuration: configuration, Index: index));

    void IRaftProtocolHost<NodeRequest, WaitingRead>.MembershipRefused(NodeRequest request, MembershipRefusal refusal) =>
        _sim.ReplyToOperator(new OperatorReply(Id, (OperatorRequest)request, OperatorReplyKind.Refused, Refusal: refusal));

    void IRaftProtocolHost<NodeRequest, WaitingRead>.LeadershipTransferred(NodeRequest request, string leaderId, long term)
    {
        _sim.Checker.LeadershipTransferred(this, leaderId, term);
        _sim.ReplyToOperator(new OperatorReply(Id, (OperatorRequest)request, OperatorReplyKind.Done, LeaderId: leaderId, Term: term));
    }

    void IRaftProtocolHost<NodeRequest, WaitingRead>.SendSnapshot(string to) => _sender!.Start(to, Protocol.Term, Protocol.NodeId);

    void IRaftProtocolHost<NodeRequest, WaitingRead>.AcceptSnapshotChunk(InstallSnapshot chunk) => _receiver!.Accept(chunk);

    /// <summary>The disk's latest durable snapshot is opened at once and the sender hears of it a disk latency later; none yet fails the transfer.</summary>
    void ISnapshotSenderHost<Stream>.Open(SnapshotSender<Stream>.Transfer transfer)
    {
        OpenedSnapshot? opened = null;
        try
        {
            opened = Disk.Storage.OpenSnapshot();
        }
        catch (RaftStorageException)
        {
            // No snapshot is durable yet (the one the protocol compacted for is still being saved).
        }

        AfterIo(IoLatency(), $"snapshot for {transfer.Peer} opened", () =>
        {
            if (opened is { } snapshot)
                _sender!.Opened(transfer, snapshot.Position, snapshot.Configuration, snapshot.Content.Length, snapshot.Content);
            else if (_sender!.Failed(transfer) is { } peer)
                Run(p => p.SnapshotTransferFailed(peer));
        });
    }

    void ISnapshotSenderHost<Stream>.ReadChunk(SnapshotSender<Stream>.Transfer transfer, Stream content, SnapshotChunk chunk) =>
        AfterIo(IoLatency(), $"snapshot chunk at {chunk.Offset} for {transfer.Peer} read", () =>
        {
            var data = new byte[chunk.Length];
            content.Position = chunk.Offset;
            content.ReadExactly(data);
            _sender!.ChunkRead(transfer, chunk, data);
        });

    void ISnapshotSenderHost<Stream>.Close(Stream content) => content.Dispose();

    void ISnapshotSenderHost<Stream>.Send(string follower, InstallSnapshot chunk) => Driver.Send(follower, chunk, afterLogDurable: false);

    SnapshotSink ISnapshotReceiverHost<SnapshotSink>.Create(InstallSnapshot first) => CreateSnapshot(first.Snapshot, first.Configuration);

    /// <summary>
    /// The chunk goes into the snapshot at once (the last one completes it: staged), and is durable a
    /// disk latency after the chunk written before it; a crash before then loses the whole transfer.
    /// </summary>
    void ISnapshotReceiverHost<SnapshotSink>.WriteChunk(SnapshotReceiver<SnapshotSink>.Transfer transfer, InstallSnapshot chunk)
    {
        transfer.Sink.WriteAsync(chunk.Data).GetAwaiter().GetResult();
        if (chunk.Done)
            transfer.Sink.CompleteAsync().GetAwaiter().GetResult();
        _chunksDurableAt = Math.Max(Now, _chunksDurableAt) + IoLatency();
        AfterIo(_chunksDurableAt - Now, $"snapshot chunk at {chunk.Offset} durable", () =>
        {
            if (_receiver!.Written(transfer, chunk, failed: false) is { } received)
                SnapshotReceived(received.LastChunk, received.Sink);
        });
    }

    void ISnapshotReceiverHost<SnapshotSink>.Discard(SnapshotSink sink) => DiscardSnapshot(sink);

    void ISnapshotReceiverHost<SnapshotSink>.Send(string leader, InstallSnapshotResult answer) => Driver.Send(leader, answer, afterLogDurable: false);

    void IRaftProtocolHost<NodeRequest, WaitingRead>.RestoreSnapshot(LogPosition snapshot)
    {
        _restoreAfterVersion = Driver.LatestVersion;
        TellStore(RestoreStore);
    }

    private void ScheduleHeartbeat() =>
        _sim.Queue.After(Micros.Of(_sim.Options.HeartbeatInterval), new SimEvent(EventKind.HeartbeatTimer, Index, _heartbeatTimer));

    /// <summary>A read waiting for the leader's confirmation, with how many entries were known committed when it was asked (a linearizable read sees at least those).</summary>
    internal sealed record WaitingRead(ClientRequest Request, long CommittedWhenAsked);
}
