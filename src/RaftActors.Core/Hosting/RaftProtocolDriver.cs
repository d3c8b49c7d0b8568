using RaftActors.Messages;

namespace RaftActors.Core.Hosting;

/// <summary>
/// Hosts a <see cref="RaftProtocol"/> the same way wherever it runs: RaftNode (an Akka actor) and
/// the deterministic simulator both drive the protocol through this class, so the simulator checks
/// the hosting that production runs, not a copy of it. Each call gives the protocol one input and
/// then carries out its effects in the order the protocol emitted them:
/// <list type="bullet">
/// <item>persists go into a <see cref="DurableOutbox"/>, and sends through it, so a message waits
/// for the writes it depends on;</item>
/// <item>writes are group-committed, one at a time: the next starts when the one in flight is
/// durable, and carries everything decided meanwhile. A write's completion releases the outbox and
/// reports <see cref="RaftProtocol.Persisted"/>;</item>
/// <item>clients' commands wait for their entry's commit and are answered done only if the entry
/// is of the term they were proposed in; reads wait for the protocol's ServeRead or FailReads;</item>
/// <item>a leader that steps down answers its waiting commands "outcome unknown": a later leader
/// may commit them or not.</item>
/// </list>
/// What depends on where it runs (timers, the network, the disk, the state machine, snapshot
/// transfers) is the host's, through <see cref="IRaftProtocolHost{TClient,TRead}"/>. One driver
/// serves one incarnation of a node: a restarted node has a new one, with a fresh outbox and no
/// waiting clients. It is not thread-safe: the host calls it from one thread at a time.
/// </summary>
/// <typeparam name="TClient">Who waits for a command's outcome (the host's type, so that Akka stays out of Core).</typeparam>
/// <typeparam name="TRead">A read waiting to be served: the query and who asked it.</typeparam>
internal sealed class RaftProtocolDriver<TClient, TRead>
{
    private const string LeadershipLost = "leadership lost before the command was committed";
    private const string Displaced = "another leader's entry took the command's place";

    private readonly IRaftProtocolHost<TClient, TRead> _host;
    private readonly DurableOutbox _outbox = new();
    private readonly Action<string, IRaftProtocolMessage> _deliver;
    private readonly WaitingCommands<TClient> _commands = new();
    private readonly Dictionary<long, TRead> _reads = new();
    private readonly Dictionary<long, TClient> _membershipRequests = new();
    private long _nextReadId;
    private long _nextMembershipRequestId;
    private bool _flushScheduled;

    public RaftProtocolDriver(RaftProtocol protocol, IRaftProtocolHost<TClient, TRead> host)
    {
        Protocol = protocol;
        _host = host;
        _deliver = host.Deliver;
    }

    public RaftProtocol Protocol { get; }

    /// <summary>The write the host is making durable, if any: a crash now may or may not lose it.</summary>
    public DurableWrite? WriteInFlight { get; private set; }

    /// <summary>The version of everything decided so far; durable once <see cref="IsDurable"/> says so.</summary>
    public long LatestVersion => _outbox.LatestVersion;

    /// <summary>Whether what was decided up to <paramref name="version"/> is durable.</summary>
    public bool IsDurable(long version) => _outbox.IsDurable(version);

    /// <summary>Commands waiting for their commit.</summary>
    public int WaitingCommandCount => _commands.Count;

    /// <summary>Reads waiting to be served or failed.</summary>
    public int WaitingReadCount => _reads.Count;

    /// <summary>
    /// Gives the protocol one input (a timer, a peer's message, a snapshot event) and carries out
    /// its effects, then starts the next write if none is in flight.
    /// </summary>
    public void Run(Action<RaftProtocol> input)
    {
        var role = Protocol.Role;
        var term = Protocol.Term;
        var leader = Protocol.LeaderId;
        input(Protocol);
        if (Protocol.Role != role || Protocol.Term != term || Protocol.LeaderId != leader)
            _host.LeadershipChanged(); // before the effects, which may start the new leader's work

        CarryOutEffects();
        StartNextWrite();

        if (role == RaftRole.Leader && Protocol.Role != RaftRole.Leader)
        {
            foreach (var client in _commands.TakeAll())
                _host.CommandOutcomeUnknown(client, LeadershipLost);
        }
    }

    /// <summary>
    /// A leader appends a client's command; the client is answered once it is applied. It
    /// replicates at the next <see cref="Flush"/>, so commands that arrive together travel together.
    /// </summary>
    public void Propose(EntryCommand command, TClient client) => Run(protocol =>
    {
        var index = protocol.Propose(command) ?? throw NotLeader();
        _commands.Add(index, protocol.Term, client);
        ScheduleFlush();
    });

    /// <summary>
    /// Starts a linearizable read (ReadIndex): a leader's confirming heartbeat round leaves at the
    /// next <see cref="Flush"/>; a follower asks its leader for the read index. Returns false, the
    /// read not taken, when this node can do neither (see <see cref="RaftProtocol.RequestRead"/>).
    /// </summary>
    public bool Read(TRead read)
    {
        var readId = ++_nextReadId;
        _reads[readId] = read;
        var taken = false;
        Run(protocol =>
        {
            taken = protocol.RequestRead(readId);
            if (!taken)
                _reads.Remove(readId);
            else if (protocol.Role == RaftRole.Leader)
                ScheduleFlush();
        });
        return taken;
    }

    /// <summary>
    /// A leader starts a membership change; <paramref name="client"/> is answered when it is
    /// committed, refused, or of unknown outcome (see <see cref="RaftProtocol.ChangeMembership"/>).
    /// </summary>
    public void ChangeMembership(MembershipChange change, TClient client) =>
        StartMembershipRequest(client, (protocol, id) => protocol.ChangeMembership(id, change));

    /// <summary>A leader hands its leadership over (see <see cref="RaftProtocol.TransferLeadership"/>); <paramref name="client"/> is answered once it is done or refused.</summary>
    public void TransferLeadership(string? target, TClient client) =>
        StartMembershipRequest(client, (protocol, id) => protocol.TransferLeadership(id, target));

    private void StartMembershipRequest(TClient client, Func<RaftProtocol, long, MembershipRefusal?> start)
    {
        var requestId = ++_nextMembershipRequestId;
        _membershipRequests[requestId] = client;
        Run(protocol =>
        {
            if (start(protocol, requestId) is { } refusal)
            {
                _membershipRequests.Remove(requestId);
                _host.MembershipRefused(client, refusal);
                return;
            }

            ScheduleFlush();
        });
    }

    /// <summary>What <see cref="IRaftProtocolHost{TClient,TRead}.ScheduleFlush"/> asked for: replicate what the requests taken in need.</summary>
    public void Flush()
    {
        _flushScheduled = false;
        Run(protocol => protocol.Replicate());
    }

    /// <summary>
    /// The write the host started is durable: the messages that waited for it leave, the protocol
    /// hears how far the log is durable, and the next write starts.
    /// </summary>
    public void WriteDurable(DurableWrite write)
    {
        if (!ReferenceEquals(write, WriteInFlight))
            throw new InvalidOperationException($"{Protocol.NodeId}: the durable write (version {write.Version}) is not the one in flight");
        WriteInFlight = null;
        _outbox.Durable(write.Version, _deliver);
        _host.WriteLanded(write);
        if (write.LastAfter is { } last)
            Run(protocol => protocol.Persisted(last));
        StartNextWrite();
    }

    /// <summary>Sends a message of the host's own (a snapshot transfer's) once the hard state decided before it is durable, or the log too.</summary>
    public void Send(string to, IRaftProtocolMessage message, bool afterLogDurable) =>
        _outbox.Send(to, message, _deliver, afterLogDurable);

    /// <summary>
    /// The node stops: every waiting command's outcome is unknown, for <paramref name="reason"/>,
    /// and every waiting read fails pointing nowhere (a read has no effect: safe to retry elsewhere).
    /// </summary>
    public void Stop(string reason)
    {
        foreach (var client in _commands.TakeAll())
            _host.CommandOutcomeUnknown(client, reason);
        foreach (var read in _reads.Values)
            _host.FailRead(read, leaderId: null);
        _reads.Clear();
        foreach (var client in _membershipRequests.Values)
            _host.MembershipOutcomeUnknown(client, reason);
        _membershipRequests.Clear();
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
                case LogChange change:
                    _host.LogChanging(change);
                    _outbox.Persist(change);
                    break;
                case SendMessage send:
                    _outbox.Send(send.To, send.Message, _deliver, send.AfterLogDurable);
                    break;
                case ResetElectionTimer reset:
                    _host.ResetElectionTimer(reset.Timeout);
                    break;
                case StopElectionTimer:
                    _host.StopElectionTimer();
                    break;
                case StartHeartbeatTimer start:
                    _host.StartHeartbeatTimer(start.Interval);
                    break;
                case StopHeartbeatTimer:
                    _host.StopHeartbeatTimer();
                    break;
                case ApplyEntries apply:
                    var (committed, displaced) = _commands.Take(apply.Entries);
                    foreach (var client in displaced)
                        _host.CommandOutcomeUnknown(client, Displaced);
                    _host.Apply(apply.Entries, committed);
                    break;
                case ServeRead serve:
                    if (_reads.Remove(serve.ReadId, out var read))
                        _host.ServeRead(read, serve.ReadIndex);
                    break;
                case FailReads failed:
                    foreach (var readId in failed.ReadIds)
                    {
                        if (_reads.Remove(readId, out var lost))
                            _host.FailRead(lost, Protocol.LeaderId);
                    }

                    break;
                case SendSnapshot send:
                    _host.SendSnapshot(send.To);
                    break;
                case AcceptSnapshotChunk accept:
                    _host.AcceptSnapshotChunk(accept.Chunk);
                    break;
                case RestoreSnapshot restore:
                    _host.RestoreSnapshot(restore.Snapshot);
                    break;
                case ConfigurationChanged changed:
                    _host.ConfigurationChanged(changed.Configuration, changed.Index, changed.Committed);
                    break;
                case MembershipRequestDone done:
                    foreach (var changer in TakeMembershipRequests([done.RequestId]))
                        _host.MembershipChanged(changer, done.Configuration, done.Index);
                    break;
                case MembershipRequestRefused refused:
                    foreach (var refusedClient in TakeMembershipRequests([refused.RequestId]))
                        _host.MembershipRefused(refusedClient, refused.Refusal);
                    break;
                case LeadershipTransferDone transferred:
                    foreach (var requester in TakeMembershipRequests(transferred.RequestIds))
                        _host.LeadershipTransferred(requester, transferred.LeaderId, transferred.Term);
                    break;
                case MembershipOutcomeUnknown unknown:
                    foreach (var requester in TakeMembershipRequests(unknown.RequestIds))
                        _host.MembershipOutcomeUnknown(requester, unknown.Reason);
                    break;
                default:
                    throw new InvalidOperationException($"unknown effect {effect}");
            }
        }
    }

    /// <summary>The clients of these membership requests, which are answered now (an id answered already has none).</summary>
    private List<TClient> TakeMembershipRequests(IEnumerable<long> requestIds)
    {
        var clients = new List<TClient>();
        foreach (var requestId in requestIds)
        {
            if (_membershipRequests.Remove(requestId, out var client))
                clients.Add(client);
        }

        return clients;
    }

    private void StartNextWrite()
    {
        if (_outbox.TakeNextWrite() is not { } write)
            return;
        WriteInFlight = write;
        _host.StartWrite(write);
    }

    private void ScheduleFlush()
    {
        if (_flushScheduled)
            return;
        _flushScheduled = true;
        _host.ScheduleFlush();
    }

    private InvalidOperationException NotLeader() =>
        new($"{Protocol.NodeId} is not the leader: only a leader takes clients' requests (the host checks the role first)");
}
