using Akka;
using Akka.Actor;
using Akka.Event;
using RaftActors.Configuration;
using RaftActors.Core;
using RaftActors.Core.Hosting;
using RaftActors.Diagnostics;
using RaftActors.Discovery;
using RaftActors.Messages;
using RaftActors.StateMachine;
using RaftActors.Storage;

namespace RaftActors.Node;

/// <summary>
/// A Raft node as an Akka.NET FSM whose states are the three Raft roles. The protocol's
/// decisions are made by <see cref="RaftProtocol"/>, hosted by a
/// <see cref="RaftProtocolDriver{TClient,TRead}"/> exactly as the simulator hosts it (effects in
/// order, sends held back until what they depend on is durable, one group-committed write at a
/// time, waiting clients answered). This actor turns timer messages, peers' messages and clients'
/// requests into the driver's inputs and gives what the driver asks of its host an Akka form:
/// named timers, writes off the actor's thread, messages to peers, committed entries and reads
/// handed to the applier, answers to clients. Role, term and leader changes are published on the
/// EventStream. Snapshots (§7): the applier writes them, this actor hands them to the protocol and
/// saves them; a <see cref="SnapshotSender{TContent}"/> streams them to followers that need them and a
/// <see cref="SnapshotReceiver{TSink}"/> takes one from the leader, both hosted with the storage's
/// files (<see cref="SnapshotSenderIo"/>, <see cref="SnapshotReceiverIo"/>) — all file I/O off this actor's thread.
/// </summary>
public sealed class RaftNode : FSM<RaftRole, RaftStatus>, IRaftProtocolHost<IActorRef, RunQuery>
{
    private const string ElectionTimer = "election";
    private const string HeartbeatTimer = "heartbeat";

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly RaftProtocol _protocol;
    private readonly RaftProtocolDriver<IActorRef, RunQuery> _driver;
    private readonly IRaftStorage _storage;
    private readonly RaftSettings _settings;
    private readonly PeerDirectory _peers;
    private readonly string _actorName;
    private readonly IActorRef? _locator;
    private readonly HashSet<IActorRef> _subscribers = new();
    private readonly IActorRef _applier;
    private readonly bool _snapshotsSupported;
    private readonly SnapshotSender<Stream> _snapshotSender;
    private readonly SnapshotReceiver<IncomingSnapshot> _snapshotReceiver;
    private readonly RaftNodeMetrics _metrics;

    // Snapshots the protocol took on, kept until the write that saves them is durable (by its version).
    private readonly List<(long Version, SnapshotSink Sink)> _savingSnapshots = new();

    // While a snapshot from the leader is being saved, what goes to the applier waits: the state
    // machine takes the snapshot's state once it is durable, then the entries after it.
    private long? _restoreAfterVersion;
    private readonly List<object> _heldForApplier = new();

    private long _lastApplied;

    // The status last built: the FSM's data after each message, and what a change of role, term or
    // leader is published against.
    private RaftStatus _status;

    // The heartbeat timer's period while it runs. It is armed for one beat at a time and armed again
    // as each beat is handled, so that ticks never pile up in the mailbox while this actor's thread
    // is held (a pause of the process, a starved pool): the protocol counts ticks as its clock for
    // CheckQuorum, and a burst of them handled at once would read as a long silence of followers that
    // could not answer, having been sent nothing.
    private TimeSpan _heartbeatInterval;

    // Why a write to stable storage failed, once one has: the node then takes part in nothing more.
    private string? _storageFailure;

    // A restarted actor is a new incarnation with a fresh outbox; a write started by the previous
    // one may still complete, and its completion must not release this incarnation's messages.
    private readonly object _incarnation = new();

    public RaftNode(RaftMembership membership, RaftSettings settings, IRaftStorage storage, Func<IRaftStateMachine> stateMachineFactory)
    {
        global::RaftActors.Serialization.RaftExtension.Get(Context.System); // Raft serializers + reference.conf defaults in this system (once)
        _storage = storage;
        _settings = settings;
        _peers = new PeerDirectory(membership.Peers, PeerRef);
        _actorName = membership.ActorName;

        // Under cluster discovery a child follows the cluster's membership and says where peers live.
        if (membership.Discovery == RaftDiscovery.Cluster)
        {
            ClusterMemberLocator.JoinedCluster(Context.System, membership);
            _locator = Context.ActorOf(ClusterMemberLocator.Props(membership), "cluster-locator");
        }

        // Each incarnation starts a state machine of its own from the latest snapshot, then applies
        // the log after it, so no entry is applied twice to one state machine.
        var stateMachine = stateMachineFactory();
        _snapshotsSupported = stateMachine is ISnapshotStateMachine;
        var snapshot = storage.Snapshot;
        if (snapshot != LogPosition.Empty && !_snapshotsSupported)
            throw new InvalidOperationException(
                $"the storage holds a snapshot through entry {snapshot.Index}, but the state machine ({stateMachine.GetType().FullName}) " +
                $"does not implement {nameof(ISnapshotStateMachine)} and cannot take its state");
        _metrics = new RaftNodeMetrics(membership.SelfId);
        _applier = Context.ActorOf(
            StateMachineApplier.Props(stateMachine, storage, settings.Snapshots, storage.SnapshotConfiguration ?? membership.Bootstrap, _metrics), "applier");
        if (snapshot != LogPosition.Empty)
            _applier.Tell(RestoreLatestSnapshot.Instance);

        var seed = settings.ElectionSeedFor(membership.SelfId);
        var durableLog = storage.Entries;
        _log.Info(
            $"Raft node {membership.SelfId} starting at term {storage.HardState.Term} (vote {storage.HardState.VotedFor ?? "none"}) " +
            $"with a snapshot through entry {snapshot.Index} and {durableLog.Count} log entries, election timeout seed {seed}");
        WarnOfPassiveConnections();
        // The system clocks, through the scheduler so that virtual time (TestScheduler) governs tests.
        var scheduler = Context.System.Scheduler;
        _protocol = new RaftProtocol(
            membership.SelfId,
            membership.Bootstrap,
            storage.HardState,
            new ElectionTimeouts(settings.ElectionTimeoutMin, settings.ElectionTimeoutMax, new Random(seed)),
            settings.HeartbeatInterval,
            durableLog,
            settings.Replication,
            snapshot,
            storage.SnapshotConfiguration,
            settings.Snapshots.TrailingEntries)
        {
            PreVote = settings.PreVote,
            CheckQuorum = settings.CheckQuorum,
            LeaseReads = settings.LeaseReads,
            Clock = () => scheduler.Now.ToUnixTimeMilliseconds(),
            MonotonicClock = Serialization.RaftExtension.Get(Context.System).MonotonicClock,
            SessionPolicy = settings.Sessions,
            // Only once every member reads them: a node of the previous release refuses the whole
            // AppendEntries. (Called once the protocol exists, after this assignment.)
            StampEntries = () => _protocol!.MayUse(WireVersions.EntrySessionFields),
            SessionMinIdle = () => _protocol!.MayUse(WireVersions.SessionMinIdle),
            // The leader alone answers a follower's ReadIndexRequest; until it reads them, reads are forwarded.
            LeaderServesReadIndex = leader => _protocol!.WireVersions.Of(leader) >= WireVersions.FollowerReads,
        };
        _peers.Configure(_protocol.Configuration, membership.SelfId);
        _metrics.Configure(_protocol.Configuration, membership.SelfId);
        foreach (var member in _protocol.Configuration.Members)
        {
            // A peer in this process runs this build: no need to wait for it to be heard from.
            if (_peers.PathOf(member.Id) is { } path && !IsRemote(path.Address))
                _protocol.WireVersions.Learn(member.Id, _protocol.WireVersions.Own);
        }
        _driver = new RaftProtocolDriver<IActorRef, RunQuery>(_protocol, this);
        Action<string, IRaftProtocolMessage> sendNow = (to, message) => _driver.Send(to, message, afterLogDurable: false);
        _snapshotSender = new SnapshotSender<Stream>(new SnapshotSenderIo(storage, Self, sendNow), settings.Snapshots.ChunkSize, settings.Snapshots.ChunksInFlight);
        _snapshotReceiver = new SnapshotReceiver<IncomingSnapshot>(_protocol.NodeId, new SnapshotReceiverIo(storage, Self, sendNow));

        var initial = _status = Status();
        _metrics.StatusChanged(initial, initial);
        StartWith(initial.Role, initial);

        // The FSM's state is the protocol's role, not a second copy of it: every state runs the same
        // handler, which asks the protocol for the role where it matters and never names a state,
        // and InProtocolRole, the one place that sets the FSM's state and data, moves the FSM to
        // the node's status after each message. Akka's FSM stays for what it shows observers
        // (StateName, SubscribeTransitionCallBack); the protocol decides.
        foreach (var role in Enum.GetValues<RaftRole>())
            When(role, e => InProtocolRole(Handle(e.FsmEvent)));

        Initialize();
        RaftMetrics.Register(_metrics);
    }

    /// <summary>
    /// The FSM's next state: the node's role and status as the protocol has them now (a node whose
    /// storage failed is a follower). A handler's result says only whether to stop.
    /// </summary>
    private State<RaftRole, RaftStatus> InProtocolRole(State<RaftRole, RaftStatus> handled)
    {
        if (handled.StopReason is not null)
            return handled;
        var status = _status = Status();
        return (status.Role == StateName ? Stay() : GoTo(status.Role)).Using(status);
    }

    /// <summary>Routes a message by the protocol's role, then to what every role does.</summary>
    private State<RaftRole, RaftStatus> Handle(object message) =>
        (_storageFailure is not null ? WhileStorageFailed(message)
            : _protocol.Role == RaftRole.Leader ? AsLeader(message)
            : WaitingForLeader(message))
        ?? InAnyRole(message);

    /// <summary>A leader keeps its followers from timing out and serves clients.</summary>
    private State<RaftRole, RaftStatus>? AsLeader(object message) => message switch
    {
        HeartbeatTimerElapsed => Heartbeat(),
        ClientCommand command => Propose(command),
        ClientQuery query => Read(new RunQuery(query.Query, Sender)) ?? RedirectToLeader(message),
        ExportSnapshot export => Read(new RunExport(export, Sender)) ?? Reply(NotLeaderReply()),
        AddMember add => ChangeMembership(add),
        RemoveMember remove => ChangeMembership(remove),
        TransferLeadership transfer => Drive(() => _driver.TransferLeadership(transfer.To, Sender)),
        HandOverLeadership => Drive(() => _driver.TransferLeadership(null, Sender)),
        FlushReplication => Flush(),
        _ => null,
    };

    /// <summary>
    /// In every role: peers' messages go to the protocol, which applies the higher-term rule first
    /// and then the rule of the role; the rest is bookkeeping shared by all roles.
    /// </summary>
    private State<RaftRole, RaftStatus> InAnyRole(object message) => message switch
    {
        VersionedPeerMessage versioned => OnPeerMessage(versioned.Message, versioned.SenderHighestVersion),
        IRaftProtocolMessage peerMessage => OnPeerMessage(peerMessage, announced: null),
        WireVersionAnnouncement announcement => OnAnnouncement(announcement),
        GetWireVersions => Reply(WireVersionStatus()),
        WriteDurable durable when durable.Incarnation == _incarnation => OnWriteDurable(durable),
        WriteFailed failed when failed.Incarnation == _incarnation => OnWriteFailed(failed),
        WriteDurable or WriteFailed => Stay(), // the previous incarnation's write
        AppliedThrough applied => OnApplied(applied),
        SnapshotWritten written => OnSnapshotWritten(written),
        SnapshotOpened opened => Do(() => _snapshotSender.Opened(opened.Transfer, opened.Snapshot, opened.Configuration, opened.Content.Length, opened.Content)),
        SnapshotChunkRead read => Do(() => _snapshotSender.ChunkRead(read.Transfer, read.Chunk, read.Data)),
        SnapshotTransferError error => OnSnapshotTransferError(error),
        SnapshotChunkWritten written => OnSnapshotChunkWritten(written),
        StateMachineFailed failed => OnStateMachineFailed(failed),
        FlushReplication => Flush(),
        GetRaftStatus => Reply(Status()),
        HandOverLeadership => Reply(Done.Instance), // not the leader: nothing to hand over
        GetClusterConfiguration => Reply(new CurrentConfiguration(
            _protocol.NodeId, _protocol.LeaderId, _protocol.Configuration, _protocol.ConfigurationIndex, _protocol.CommitIndex >= _protocol.ConfigurationIndex)),
        SubscribeRaftEvents subscribe => Subscribe(subscribe.Subscriber),
        UnsubscribeRaftEvents unsubscribe => Unsubscribe(unsubscribe.Subscriber),
        Terminated terminated => Unsubscribe(terminated.ActorRef),
        PeerLocated located when Sender.Equals(_locator) => Locate(located),
        _ => Ignore(message),
    };

    /// <summary>
    /// Props for a node with the given membership, settings, (already opened) storage and state
    /// machine factory, called once per incarnation of the actor. Without a factory the node
    /// only elects leaders (and applies commands to a state machine that ignores them).
    /// </summary>
    public static Props Props(
        RaftMembership membership, RaftSettings settings, IRaftStorage storage, Func<IRaftStateMachine>? stateMachineFactory = null) =>
        Akka.Actor.Props.Create(() => new RaftNode(membership, settings, storage, stateMachineFactory ?? (() => new EmptyStateMachine())));

    /// <summary>Props for a node reading <c>raft.node-id</c>, <c>raft.members</c> and its settings from HOCON.</summary>
    public static Props Props(Akka.Configuration.Config config, IRaftStorage storage, Func<IRaftStateMachine>? stateMachineFactory = null) =>
        Props(RaftMembership.FromConfig(config), RaftSettings.FromConfig(config), storage, stateMachineFactory);

    /// <summary>How to reach a peer: see <see cref="ActorPathRoutes.Reach"/>.</summary>
    private ICanTell PeerRef(ActorPath path) => ActorPathRoutes.Reach(Context, Context.System, path);

    /// <summary>Whether <paramref name="address"/> is another ActorSystem's: what goes there is serialized.</summary>
    private bool IsRemote(Address address) => ActorPathRoutes.IsRemote(Context.System, address);

    /// <summary>
    /// Sends to a peer: to one in another process in the highest wire version both read, bare
    /// (version 1) until it announced a higher one; to one in this process bare, as nothing is
    /// serialized. With cluster discovery, a peer not located yet misses the message (Raft sends again).
    /// </summary>
    void IRaftProtocolHost<IActorRef, RunQuery>.Deliver(string peerId, IRaftProtocolMessage message)
    {
        var version = _protocol.WireVersions.ToWrite(peerId);
        if (_peers.TryGet(peerId, out var peer))
        {
            var versioned = version >= WireVersions.Announced && _peers.PathOf(peerId) is { } path && IsRemote(path.Address);
            peer.Tell(versioned ? new VersionedPeerMessage(message, version, WireVersions.Highest) : message, Self);
            if (message is AppendEntries append)
                _metrics.AppendEntriesSent(append.Entries.Count);
        }
        else
            _log.Debug("Dropped {0} to {1}: where it lives is not known yet", message.GetType().Name, peerId);
    }

    private State<RaftRole, RaftStatus> Locate(PeerLocated located)
    {
        _peers.Locate(located.PeerId, located.Path);
        return Stay();
    }

    protected override void PreStart()
    {
        base.PreStart();
        HandOverLeadershipOnShutdown();
        _driver.Run(p => p.Start());
    }

    /// <summary>A restarted incarnation starts afresh; the shutdown task the first registered still reaches it (same reference).</summary>
    protected override void PostRestart(Exception reason) => _driver.Run(p => p.Start());

    /// <summary>
    /// When the ActorSystem stops (CoordinatedShutdown: SIGTERM, Terminate), a leader first hands its
    /// leadership to its most up-to-date voter (thesis §3.10), so a planned restart costs the cluster
    /// about a round trip of refused writes rather than an election. Then it stays up a moment as a
    /// follower, pointing the requests still on their way to it to the new leader: a request that
    /// found it gone would wait out its client's timeout. Bounded in real time by
    /// <c>raft.transfer-leadership-on-shutdown</c>; a node that is not the leader answers at once.
    /// </summary>
    private void HandOverLeadershipOnShutdown()
    {
        var wait = _settings.TransferLeadershipOnShutdown;
        if (wait <= TimeSpan.Zero)
            return;
        var self = Self;
        var drain = _settings.ElectionTimeoutMin;
        CoordinatedShutdown.Get(Context.System).AddTask(CoordinatedShutdown.PhaseBeforeServiceUnbind, "raft-hand-over-leadership", async () =>
        {
            using var bound = new CancellationTokenSource(wait);
            try
            {
                if (await self.Ask<object>(HandOverLeadership.Instance, bound.Token).ConfigureAwait(false) is LeadershipTransferred)
                    await Task.Delay(drain, bound.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or AskTimeoutException)
            {
                // Not handed over in time (or the node is gone): the system stops all the same.
            }

            return Done.Instance;
        });
    }

    protected override void PostStop()
    {
        // A snapshot being saved stays with the storage's write queue; transfers end here.
        _snapshotSender.StopAll();
        _snapshotReceiver.Abort();
        _driver.Stop("the node stopped");
        RaftMetrics.Unregister(_metrics);
        base.PostStop();
    }

    /// <summary>
    /// A follower or candidate waits for a leader; when the wait times out it starts an election.
    /// A follower serves queries itself, at a read index its leader confirms; other clients are
    /// pointed (or forwarded) to the leader.
    /// </summary>
    private State<RaftRole, RaftStatus>? WaitingForLeader(object message) => message switch
    {
        ElectionTimerElapsed => Run(p => p.ElectionTimeoutElapsed()),
        HeartbeatTimerElapsed => Beat(),
        ClientQuery query => Read(new RunQuery(query.Query, Sender)) ?? RedirectToLeader(message),
        ClientCommand or AddMember or RemoveMember or TransferLeadership => RedirectToLeader(message),

        // Never forwarded: the leader would write the file on its own machine, not the asker's.
        ExportSnapshot => Reply(NotLeaderReply()),
        _ => null,
    };

    /// <summary>A peer's message, with the highest wire version it announced in it (null: it came bare).</summary>
    private State<RaftRole, RaftStatus> OnPeerMessage(IRaftProtocolMessage message, int? announced)
    {
        HeardWireVersion(message.From, announced);
        return message switch
        {
            InstallSnapshotResult result => OnSnapshotAnswer(result),
            AppendEntriesResult result => OnAppendAnswer(result),
            _ => OnPeerRequest(message),
        };
    }

    /// <summary>
    /// Keeps <see cref="RaftProtocol.WireVersions"/> up to date. A peer in this process runs this
    /// build. A remote peer that wrote bare does not know this node's version, or reads none: it is
    /// written to bare from now on, and told this node's version (at most every
    /// <see cref="PeerWireVersions.AnnounceInterval"/>: a node of an older release logs each one it drops).
    /// </summary>
    private void HeardWireVersion(string peerId, int? announced)
    {
        var versions = _protocol.WireVersions;
        if (announced is { } highest)
        {
            if (versions.Learn(peerId, highest))
                LogWireVersions(peerId, $"announced wire version {highest}");
            return;
        }

        if (!IsRemote(Sender.Path.Address))
        {
            versions.Learn(peerId, versions.Own);
            return;
        }

        var before = versions.Of(peerId);
        if (versions.HeardUnversioned(peerId, Context.System.Scheduler.MonotonicClock))
            Sender.Tell(new WireVersionAnnouncement(_protocol.NodeId, versions.Own), Self);
        if (before > WireVersions.Unversioned)
            LogWireVersions(peerId, "wrote without a wire version (it restarted, or runs an older release): written to in version 1 until it announces one");
    }

    private State<RaftRole, RaftStatus> OnAnnouncement(WireVersionAnnouncement announcement)
    {
        if (_protocol.WireVersions.Learn(announcement.NodeId, announcement.HighestVersion))
            LogWireVersions(announcement.NodeId, $"announced wire version {announcement.HighestVersion}");
        if (!announcement.Answer)
            Sender.Tell(new WireVersionAnnouncement(_protocol.NodeId, _protocol.WireVersions.Own, Answer: true), Self);
        return Stay();
    }

    private void LogWireVersions(string peerId, string what) =>
        _log.Info("Peer {0} {1}; the cluster's wire version is {2} (this node's {3})",
            peerId, what, _protocol.WireVersions.ClusterVersion(_protocol.Configuration, _protocol.NodeId), _protocol.WireVersions.Own);

    private WireVersionStatus WireVersionStatus() => new(
        _protocol.NodeId,
        _protocol.WireVersions.Own,
        _protocol.WireVersions.ClusterVersion(_protocol.Configuration, _protocol.NodeId),
        _protocol.WireVersions.Announced.ToDictionary(StringComparer.Ordinal));

    /// <summary>A peer's request (or an answer not handled above): a sender this node cannot place yet is answered where it wrote from.</summary>
    private State<RaftRole, RaftStatus> OnPeerRequest(IRaftProtocolMessage message)
    {
        _peers.Learn(message.From, Sender);
        if (message is AppendEntries)
            _metrics.AppendEntriesReceived();
        return Run(p => StepPeerMessage(p, message));
    }

    private State<RaftRole, RaftStatus> Run(Action<RaftProtocol> input) => Drive(() => _driver.Run(input));

    /// <summary>Makes one call to the driver and publishes the role, term or leader change it made.</summary>
    private State<RaftRole, RaftStatus> Drive(Action call)
    {
        var before = Leadership();
        call();
        return Changed(before);
    }

    /// <summary>
    /// Publishes the role, term or leader change since <paramref name="before"/>. The whole
    /// status is built only for a change (rare), against the one last built: most messages move
    /// only the log.
    /// </summary>
    private State<RaftRole, RaftStatus> Changed(NodeLeadership before)
    {
        _metrics.LogProgressed(_protocol.LastLog.Index, _protocol.CommitIndex);
        if (Leadership() == before)
            return Stay();
        var previous = _status;
        var after = _status = Status();
        _metrics.StatusChanged(previous, after);
        if (after.Role != before.Role)
            _metrics.ReplicationProgressed(_protocol); // a new leader starts from scratch; a former one reports no lag
        Publish(new RaftStateChanged(after.NodeId, after.Role, after.Term, after.LeaderId, previous));
        return Stay();
    }

    /// <summary>A snapshot transfer belongs to one leader in one term; a new one starts afresh (the driver calls this before the effects, which may start the new leader's transfer).</summary>
    void IRaftProtocolHost<IActorRef, RunQuery>.LeadershipChanged()
    {
        _snapshotSender.StopAll();
        _snapshotReceiver.Abort();
    }

    private State<RaftRole, RaftStatus> Do(Action action)
    {
        action();
        return Stay();
    }

    private State<RaftRole, RaftStatus> Heartbeat()
    {
        _snapshotSender.Tick();
        return Beat();
    }

    /// <summary>One heartbeat tick: the next is armed first, so that the protocol may stop the timer.</summary>
    private State<RaftRole, RaftStatus> Beat()
    {
        SetTimer(HeartbeatTimer, HeartbeatTimerElapsed.Instance, _heartbeatInterval);
        var wasLeader = _protocol.Role == RaftRole.Leader;
        var next = Run(p => p.HeartbeatTimeoutElapsed());

        // A tick demotes a leader in its own term for one reason only: CheckQuorum.
        if (wasLeader && _protocol.Role != RaftRole.Leader)
            _log.Warning("Node {0} stepped down in term {1}: no majority of the voters answered it within election-timeout-min (check-quorum)",
                _protocol.NodeId, _protocol.Term);
        return next;
    }

    private void StepPeerMessage(RaftProtocol protocol, IRaftProtocolMessage message)
    {
        if (!protocol.Step(message))
            _log.Warning("Dropped {0} from '{1}', which is not a member of this node's configuration", message.GetType().Name, message.From);
    }

    private State<RaftRole, RaftStatus> Propose(ClientCommand command)
    {
        if (_protocol.TransferTarget is { } successor)
        {
            // Thesis §3.10: no new commands while leadership passes; the successor takes them in a moment.
            _metrics.Proposal(ProposalOutcome.NotLeader);
            Sender.Tell(new NotLeader(successor, _peers.PathOf(successor)));
            return Stay();
        }

        if (command.ClientId is not null && command.Sequence < 1)
        {
            _metrics.Proposal(ProposalOutcome.Refused);
            Sender.Tell(new RequestRejected("a client session numbers its commands from 1 (Sequence must be at least 1 with a ClientId)"));
            return Stay();
        }

        EntryCommand entry;
        try
        {
            var serializer = Context.System.Serialization.FindSerializerFor(command.Command);
            entry = new EntryCommand(
                serializer.Identifier,
                Akka.Serialization.Serialization.ManifestFor(serializer, command.Command),
                serializer.ToBinary(command.Command),
                command.ClientId,
                command.Sequence);
        }
        catch (Exception e)
        {
            _metrics.Proposal(ProposalOutcome.Refused);
            Sender.Tell(new RequestRejected($"the command cannot be serialized: {e.Message}"));
            return Stay();
        }

        var client = Sender;
        return Drive(() => _driver.Propose(entry, client));
    }

    private State<RaftRole, RaftStatus> ChangeMembership(object request)
    {
        MembershipChange change;
        switch (request)
        {
            case AddMember add:
                if (string.IsNullOrWhiteSpace(add.Id))
                {
                    Sender.Tell(new RequestRejected("a member needs an id"));
                    return Stay();
                }

                if (!TryMemberAddress(add.Id, add.Address, out var address, out var problem))
                {
                    Sender.Tell(new RequestRejected(problem));
                    return Stay();
                }

                change = add.Promote ? MembershipChange.AddVoter(add.Id, address) : MembershipChange.AddLearner(add.Id, address);
                break;
            default:
                change = MembershipChange.Remove(((RemoveMember)request).Id);
                break;
        }

        var client = Sender;
        return Drive(() => _driver.ChangeMembership(change, client));
    }

    /// <summary>
    /// Where a member to add lives, as the configuration records it: its node actor's full path.
    /// An Akka address stands for the node actor under <c>/user/&lt;raft.actor-name&gt;</c> there;
    /// under cluster discovery no address is needed (the cluster locates the member), nor for a
    /// member the configuration already places (a learner promoted keeps its address).
    /// </summary>
    private bool TryMemberAddress(string id, string? given, out string? address, out string problem)
    {
        address = null;
        problem = "";
        if (string.IsNullOrWhiteSpace(given))
        {
            address = _protocol.Configuration.Find(id)?.Address;
            if (address is not null || _locator is not null)
                return true;
            problem = "a member needs the Akka address of its node (e.g. akka.tcp://raft@host:4054) unless raft.discovery = cluster";
            return false;
        }

        try
        {
            if (ActorPath.TryParse(given, out var path) && path is not null && path.Elements.Count > 0)
                address = path.ToString();
            else if (Address.TryParse(given, out var parsed) && parsed is not null)
                address = (new RootActorPath(parsed) / "user" / _actorName).ToString();
        }
        catch (Exception e) when (e is UriFormatException or ArgumentException or FormatException)
        {
            address = null;
        }

        if (address is null)
            problem = $"'{given}' is not an Akka address or actor path";
        return address is not null;
    }

    /// <summary>
    /// A read (a query, or a backup) is served once the leader confirmed its leadership and this
    /// node applied through the read index (ReadIndex); a follower asks its leader for the index
    /// (FollowerReads). Null, the read not taken, when this node neither leads nor has a leader it
    /// may ask: the caller sends it elsewhere.
    /// </summary>
    private State<RaftRole, RaftStatus>? Read(RunQuery read)
    {
        var taken = false;
        var state = Drive(() => taken = _driver.Read(read));
        return taken ? state : null;
    }

    /// <summary>
    /// Replication waits until the mailbox's burst of requests is taken in, so commands that
    /// arrive together travel in one AppendEntries.
    /// </summary>
    void IRaftProtocolHost<IActorRef, RunQuery>.ScheduleFlush() => Self.Tell(FlushReplication.Instance);

    private State<RaftRole, RaftStatus> Flush() => Drive(_driver.Flush);

    private State<RaftRole, RaftStatus> RedirectToLeader(object request)
    {
        var leader = _protocol.LeaderId;
        if (_settings.ForwardToLeader && leader is not null && _peers.TryGet(leader, out var leaderRef))
        {
            leaderRef.Tell(request, Sender); // the leader counts the command's outcome
            return Stay();
        }

        if (request is ClientCommand)
            _metrics.Proposal(ProposalOutcome.NotLeader);
        Sender.Tell(NotLeaderReply());
        return Stay();
    }

    private NotLeader NotLeaderReply() => new(_protocol.LeaderId, _protocol.LeaderId is { } leader ? _peers.PathOf(leader) : null);

    void IRaftProtocolHost<IActorRef, RunQuery>.ResetElectionTimer(TimeSpan timeout) =>
        SetTimer(ElectionTimer, ElectionTimerElapsed.Instance, timeout);

    void IRaftProtocolHost<IActorRef, RunQuery>.StopElectionTimer() => CancelTimer(ElectionTimer);

    void IRaftProtocolHost<IActorRef, RunQuery>.StartHeartbeatTimer(TimeSpan interval)
    {
        _heartbeatInterval = interval;
        SetTimer(HeartbeatTimer, HeartbeatTimerElapsed.Instance, interval);
    }

    void IRaftProtocolHost<IActorRef, RunQuery>.StopHeartbeatTimer() => CancelTimer(HeartbeatTimer);

    /// <summary>The applier applies the entries and answers the clients of the commands among them.</summary>
    void IRaftProtocolHost<IActorRef, RunQuery>.Apply(IReadOnlyList<LogEntry> entries, IReadOnlyDictionary<long, IActorRef> clients) =>
        TellApplier(new ApplyCommitted(entries, clients));

    /// <summary>The applier runs the query after the entries handed to it before, so after the read index.</summary>
    void IRaftProtocolHost<IActorRef, RunQuery>.ServeRead(RunQuery read, long readIndex)
    {
        _metrics.ReadServed(asLeader: _protocol.Role == RaftRole.Leader);
        TellApplier(read);
    }

    void IRaftProtocolHost<IActorRef, RunQuery>.FailRead(RunQuery read, string? leaderId)
    {
        _metrics.ReadFailed();
        read.Client.Tell(new NotLeader(leaderId, leaderId is not null && leaderId != _protocol.NodeId ? _peers.PathOf(leaderId) : null));
    }

    void IRaftProtocolHost<IActorRef, RunQuery>.CommandOutcomeUnknown(IActorRef client, string reason)
    {
        _metrics.Proposal(ProposalOutcome.Unknown);
        client.Tell(new CommandOutcomeUnknown(reason));
    }

    void IRaftProtocolHost<IActorRef, RunQuery>.MembershipOutcomeUnknown(IActorRef client, string reason) =>
        client.Tell(new CommandOutcomeUnknown(reason));

    void IRaftProtocolHost<IActorRef, RunQuery>.MembershipChanged(IActorRef client, ClusterConfiguration configuration, long index) =>
        client.Tell(new MembershipChanged(index, configuration));

    void IRaftProtocolHost<IActorRef, RunQuery>.MembershipRefused(IActorRef client, MembershipRefusal refusal)
    {
        if (refusal.Reason == MembershipRefusalReason.NotLeader)
            client.Tell(NotLeaderReply());
        else
            client.Tell(new MembershipRefused(refusal.Reason, refusal.Message));
    }

    void IRaftProtocolHost<IActorRef, RunQuery>.LeadershipTransferred(IActorRef client, string leaderId, long term) =>
        client.Tell(new LeadershipTransferred(leaderId, term));

    /// <summary>New members are reached where the configuration says; the change is published like role changes.</summary>
    void IRaftProtocolHost<IActorRef, RunQuery>.ConfigurationChanged(ClusterConfiguration configuration, long index, bool committed)
    {
        _peers.Configure(configuration, _protocol.NodeId);
        _metrics.Configure(configuration, _protocol.NodeId);
        _metrics.ReplicationProgressed(_protocol);
        var change = new RaftConfigurationChanged(_protocol.NodeId, configuration, index, committed);
        _log.Info("Node {0}: configuration {1} at entry {2}{3}", change.NodeId, configuration, index, committed ? ", committed" : "");
        Context.System.EventStream.Publish(change);
        foreach (var subscriber in _subscribers)
            subscriber.Tell(change);
    }

    void IRaftProtocolHost<IActorRef, RunQuery>.SendSnapshot(string to) => _snapshotSender.Start(to, _protocol.Term, _protocol.NodeId);

    void IRaftProtocolHost<IActorRef, RunQuery>.RestoreSnapshot(LogPosition snapshot)
    {
        _restoreAfterVersion = _driver.LatestVersion;
        TellApplier(RestoreLatestSnapshot.Instance);
    }

    /// <summary>To the applier, in order; held back while a snapshot from the leader is being saved.</summary>
    private void TellApplier(object message)
    {
        if (_restoreAfterVersion is null)
            _applier.Tell(message);
        else
            _heldForApplier.Add(message);
    }

    void IRaftProtocolHost<IActorRef, RunQuery>.AcceptSnapshotChunk(InstallSnapshot chunk)
    {
        if (_snapshotsSupported)
        {
            _snapshotReceiver.Accept(chunk);
            return;
        }

        // Every member must run a state machine that can take a snapshot once any compacts its log.
        _log.Error("Node {0} cannot install the snapshot through entry {1} that leader {2} sends: its state machine does not implement {3}",
            _protocol.NodeId, chunk.LastIncludedIndex, chunk.LeaderId, nameof(ISnapshotStateMachine));
    }

    private State<RaftRole, RaftStatus> OnSnapshotAnswer(InstallSnapshotResult result)
    {
        // The sender first (SnapshotSender.Answered says why).
        if (_protocol.Role == RaftRole.Leader)
            _snapshotSender.Answered(result);
        return OnReplicationAnswer(result);
    }

    private State<RaftRole, RaftStatus> OnAppendAnswer(AppendEntriesResult result)
    {
        if (_protocol.Role == RaftRole.Leader)
            _snapshotSender.FollowerHeard(result.FollowerId, result.Term);
        return OnReplicationAnswer(result);
    }

    /// <summary>A follower's answer: the only input that moves what the leader knows it holds.</summary>
    private State<RaftRole, RaftStatus> OnReplicationAnswer(IRaftProtocolMessage answer)
    {
        var state = Run(p => StepPeerMessage(p, answer));
        _metrics.ReplicationProgressed(_protocol);
        return state;
    }

    private State<RaftRole, RaftStatus> OnSnapshotTransferError(SnapshotTransferError error)
    {
        if (_snapshotSender.Failed(error.Transfer) is not { } peer)
            return Stay();
        _log.Warning("Sending the snapshot to {0} failed: {1}; the next heartbeat tries again", peer, error.Error.Message);
        return Run(p => p.SnapshotTransferFailed(peer));
    }

    private State<RaftRole, RaftStatus> OnSnapshotChunkWritten(SnapshotChunkWritten written)
    {
        if (written.Error is not null)
            _log.Warning("Writing a snapshot chunk from {0} failed: {1}; the transfer starts over", written.Chunk.LeaderId, written.Error.Message);
        if (_snapshotReceiver.Written(written.Transfer, written.Chunk, failed: written.Error is not null) is not { } received)
            return Stay();
        var (lastChunk, incoming) = received;
        var sink = incoming.Sink;
        var installed = false;
        var state = Run(p => installed = p.SnapshotReceived(lastChunk));
        KeepUntilSaved(sink, installed);
        if (installed)
        {
            _metrics.SnapshotInstalled(incoming.StartedAt, sink.Length);
            _log.Info("Node {0} installs the snapshot through entry {1} (term {2}, {3} bytes) from leader {4}",
                _protocol.NodeId, lastChunk.LastIncludedIndex, lastChunk.LastIncludedTerm, sink.Length, lastChunk.LeaderId);
        }
        return state;
    }

    private State<RaftRole, RaftStatus> OnSnapshotWritten(SnapshotWritten written)
    {
        var taken = false;
        var state = Run(p => taken = p.SnapshotTaken(written.Sink.Position));
        KeepUntilSaved(written.Sink, taken);
        return state;
    }

    /// <summary>A staged snapshot the protocol took on stays staged until the write that saves it is durable; else it goes now.</summary>
    private void KeepUntilSaved(SnapshotSink sink, bool takenOn)
    {
        if (takenOn)
            _savingSnapshots.Add((_driver.LatestVersion, sink));
        else
            sink.Dispose();
    }

    private State<RaftRole, RaftStatus> OnStateMachineFailed(StateMachineFailed failed)
    {
        _log.Error(failed.Error, "Node {0}: the state machine could not take a snapshot's state; the node stops", _protocol.NodeId);
        return Stop(new FSMBase.Failure(failed.Error));
    }

    /// <summary>Writes run off the actor's thread; their completion comes back as a message.</summary>
    void IRaftProtocolHost<IActorRef, RunQuery>.StartWrite(DurableWrite write)
    {
        var operations = LogOperations.Of(write.LogChanges);

        // The completion is told from the writer's thread as it finishes (no hop through the
        // thread pool): cheap, and deterministic for tests that complete writes by hand.
        var self = Self;
        var incarnation = _incarnation;
        var metrics = _metrics;
        var entries = EntriesIn(write);
        var startedAt = System.Diagnostics.Stopwatch.GetTimestamp();
        Task written;
        try
        {
            written = _storage.WriteAsync(new StorageWrite(write.HardState, operations));
        }
        catch (Exception e)
        {
            written = Task.FromException(e);
        }

        written.ContinueWith(
            task =>
            {
                if (task.IsCompletedSuccessfully)
                    metrics.WriteDurable(entries, startedAt);
                self.Tell(task.IsCompletedSuccessfully
                    ? new WriteDurable(incarnation, write)
                    : new WriteFailed(incarnation, task.Exception?.GetBaseException() ?? new TaskCanceledException("the write was cancelled")));
            },
            TaskContinuationOptions.ExecuteSynchronously);
    }

    private static int EntriesIn(DurableWrite write)
    {
        var entries = 0;
        foreach (var change in write.LogChanges)
        {
            if (change is PersistEntries persist)
                entries += persist.Entries.Count;
        }

        return entries;
    }

    private State<RaftRole, RaftStatus> OnWriteDurable(WriteDurable durable) => Drive(() => _driver.WriteDurable(durable.Write));

    /// <summary>Snapshots the write saved are the storage's now; what waited for a snapshot from the leader to be saved goes to the applier.</summary>
    void IRaftProtocolHost<IActorRef, RunQuery>.WriteLanded(DurableWrite write)
    {
        _savingSnapshots.RemoveAll(saving =>
        {
            if (!_driver.IsDurable(saving.Version))
                return false;
            saving.Sink.Dispose(); // saved: the storage owns it, and this lets go of the sink
            return true;
        });

        if (_restoreAfterVersion is { } version && _driver.IsDurable(version))
        {
            _restoreAfterVersion = null;
            foreach (var message in _heldForApplier)
                _applier.Tell(message);
            _heldForApplier.Clear();
        }
    }

    /// <summary>
    /// A write to stable storage failed: what is on disk is unknown now, and going on could break a
    /// promise (a vote, an acknowledged entry) after a crash. The node takes part in nothing more:
    /// what waited for the write is never sent, it votes, replicates and acknowledges nothing, and
    /// its clients are answered as by a node that knows no leader. It does not retry: after a failed
    /// fsync nothing written since the last good one can be believed durable (PostgreSQL's fsync
    /// lesson), and only reopening the store, whose recovery checks every record, finds out what
    /// is. So it keeps running to report the failure in its status — to the operator, a readiness
    /// probe, the HTTP API — until it is restarted.
    /// </summary>
    private State<RaftRole, RaftStatus> OnWriteFailed(WriteFailed failed)
    {
        var before = Leadership();
        _storageFailure = failed.Error.Message;
        _log.Error(
            "Node {0} cannot write to stable storage: {1}. It takes part in nothing more (no votes, acknowledgements or client requests) " +
            "and reports the failure in its status. Free space or repair the disk, then restart the node: it recovers every write it acknowledged",
            _protocol.NodeId, _storageFailure);
        CancelTimer(ElectionTimer);
        CancelTimer(HeartbeatTimer);
        _snapshotSender.StopAll();
        _snapshotReceiver.Abort();
        var reason = $"node {_protocol.NodeId} cannot write to stable storage";
        _driver.Stop(reason);
        foreach (var (_, sink) in _savingSnapshots)
            sink.Dispose();
        _savingSnapshots.Clear();

        // What waited for a snapshot from the leader to be saved will never be applied here.
        foreach (var held in _heldForApplier)
        {
            if (held is RunQuery read)
                read.Client.Tell(new NotLeader(null, null));
            else if (held is ApplyCommitted batch)
                foreach (var client in batch.Clients.Values)
                {
                    _metrics.Proposal(ProposalOutcome.Unknown);
                    client.Tell(new CommandOutcomeUnknown(reason));
                }
        }

        _heldForApplier.Clear();
        _restoreAfterVersion = null;
        return Changed(before);
    }

    /// <summary>
    /// A node whose storage failed still answers for its status and configuration, keeps its
    /// subscribers, lets its applier report what it applied, and lets go of what snapshot transfers
    /// leave behind (all as in any role: null). Clients are told it knows no leader, so they go to
    /// another member; everything else — peers' messages, timers, writes' and snapshots' completions
    /// — is dropped.
    /// </summary>
    private State<RaftRole, RaftStatus>? WhileStorageFailed(object message)
    {
        switch (message)
        {
            case GetRaftStatus or GetClusterConfiguration or SubscribeRaftEvents or UnsubscribeRaftEvents or Terminated or PeerLocated
                or AppliedThrough or StateMachineFailed or HandOverLeadership or SnapshotOpened or SnapshotChunkRead or SnapshotTransferError:
                return null;
            case ClientCommand or ClientQuery or AddMember or RemoveMember or TransferLeadership:
                if (message is ClientCommand)
                    _metrics.Proposal(ProposalOutcome.NotLeader);
                Sender.Tell(new NotLeader(null, null));
                return Stay();
            case SnapshotWritten written:
                written.Sink.Dispose();
                return Stay();
            default:
                return Stay();
        }
    }

    private State<RaftRole, RaftStatus> OnApplied(AppliedThrough applied)
    {
        _lastApplied = applied.Index;
        _metrics.AppliedIndex = applied.Index;
        return Stay();
    }

    private State<RaftRole, RaftStatus> Reply(object message)
    {
        Sender.Tell(message);
        return Stay();
    }

    private State<RaftRole, RaftStatus> Subscribe(IActorRef subscriber)
    {
        if (_subscribers.Add(subscriber))
            Context.Watch(subscriber);
        subscriber.Tell(Status());
        return Stay();
    }

    private State<RaftRole, RaftStatus> Unsubscribe(IActorRef subscriber)
    {
        if (_subscribers.Remove(subscriber))
            Context.Unwatch(subscriber);
        return Stay();
    }

    private State<RaftRole, RaftStatus> Ignore(object message)
    {
        _log.Warning("Node {0} dropped an unknown message of type {1}", _protocol.NodeId, message.GetType().FullName);
        return Stay();
    }

    private void Publish(RaftStateChanged change)
    {
        _log.Info("Node {0}: {1} in term {2}, leader {3}", change.NodeId, change.Role, change.Term, change.LeaderId ?? "unknown");
        Context.System.EventStream.Publish(change);
        foreach (var subscriber in _subscribers)
            subscriber.Tell(change);
    }

    /// <summary>The node's status; one whose storage failed leads nothing and follows no one.</summary>
    private RaftStatus Status()
    {
        var (role, term, leaderId) = Leadership();
        return new RaftStatus(_protocol.NodeId, role, term, leaderId,
            _protocol.HardState.VotedFor, _protocol.LastLog.Index, _protocol.CommitIndex, _lastApplied, _protocol.Snapshot.Index, _protocol.Snapshot.Term,
            _protocol.IsVoter, _storageFailure);
    }

    /// <summary>The part of the status whose change is published; one whose storage failed leads nothing and follows no one.</summary>
    private NodeLeadership Leadership() =>
        _storageFailure is not null
            ? new NodeLeadership(RaftRole.Follower, _protocol.Term, null)
            : new NodeLeadership(_protocol.Role, _protocol.Term, _protocol.LeaderId);

    private readonly record struct NodeLeadership(RaftRole Role, long Term, string? LeaderId);

    private sealed class ElectionTimerElapsed
    {
        public static readonly ElectionTimerElapsed Instance = new();
    }

    private sealed class HeartbeatTimerElapsed
    {
        public static readonly HeartbeatTimerElapsed Instance = new();
    }

    private sealed class FlushReplication
    {
        public static readonly FlushReplication Instance = new();
    }

    /// <summary>The system is stopping: a leader hands over; the answer releases the shutdown.</summary>
    private sealed class HandOverLeadership
    {
        public static readonly HandOverLeadership Instance = new();
    }

    private sealed record WriteDurable(object Incarnation, DurableWrite Write);

    private sealed record WriteFailed(object Incarnation, Exception Error);

    /// <summary>
    /// Akka.Remote's passive connections (its default) can leave two peers hearing each other one
    /// way only after one of them restarts on the same address; RaftActors' reference.conf turns
    /// them off, but only a system created with it as a fallback reads that.
    /// </summary>
    private void WarnOfPassiveConnections()
    {
        if (Context.System is ExtendedActorSystem { Provider: Akka.Remote.RemoteActorRefProvider remote } && remote.RemoteSettings.UsePassiveConnections)
            _log.Warning(
                "akka.remote.use-passive-connections is on in this ActorSystem: after a member restarts on the same address, two nodes can end up " +
                "hearing each other one way only and elect no leader. Create the ActorSystem with akka.remote.use-passive-connections = off " +
                "(RaftActors' reference.conf sets it: config.WithFallback(RaftSettings.DefaultConfig)).");
    }
}
