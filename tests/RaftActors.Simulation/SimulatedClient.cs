using RaftActors.Core;

namespace RaftActors.Simulation;

/// <summary>
/// A client process with one operation open at a time, as <c>RaftClient</c> behaves: it sends to
/// the node it believes leads, follows NotLeader hints, moves on to the next node when a request
/// times out, and retries a write whose outcome is unknown under the same session sequence (so it
/// applies at most once, and the retry learns the first result). An operation without a definite
/// answer by its deadline is given up: its outcome stays unknown in the history. Reads go through
/// the leader's ReadIndex. A write answered SessionExpired (the cluster does not know its session)
/// goes again as the first command of a new session, as RaftClient does, unless an earlier attempt
/// of it may have been applied: then it is given up.
/// In the history a client is a process with one operation open at a time; an operation given up
/// stays open for ever (it may still take effect), so the client goes on as a new process.
/// </summary>
internal sealed class SimulatedClient
{
    private static readonly long RequestTimeout = Micros.Millis(300);
    private static readonly long OperationDeadline = Micros.Millis(2500);

    private readonly ClusterSimulation _sim;
    private readonly Random _random;
    private readonly string _clientId;
    private string _sessionId;
    private int _sessionsOpened;
    private long _sequence;
    private long _operationId;
    private long _attempts;
    private int _process;
    private Open? _open;
    private int _target;
    private bool _finalRequested;

    public SimulatedClient(ClusterSimulation sim, int index, Random random)
    {
        _sim = sim;
        Index = index;
        _process = index;
        _random = random;
        _clientId = $"c{index}";
        _sessionId = _clientId;
        _target = random.Next(sim.Options.ClusterSize);
    }

    public int Index { get; }

    /// <summary>The client ran its final operation (after the last heal) to the end.</summary>
    public bool Finished { get; private set; }

    /// <summary>Once the current operation ends, run one last one that must get a definite answer.</summary>
    public void RequestFinalOperation() => _finalRequested = true;

    public void OnNextOperation(long operationId)
    {
        if (operationId != _operationId || _open is not null || Finished)
            return;
        var final = _finalRequested;
        var command = _sim.NextCommand(_random, Index);
        var commandId = _sim.Register(command);
        var entry = command.Kind == KvKind.Get ? null : CommandIds.Entry(commandId, _sessionId, ++_sequence);
        var handle = _sim.History.Invoke(_process, command, _sim.Queue.Now);
        var deadline = _sim.Queue.Now + (final ? Micros.Of(_sim.Options.FinalOperationBound) : OperationDeadline);
        _operationId++;
        _open = new Open(_operationId, new ClientRequest(Index, _operationId, commandId, command, entry), handle, deadline, final) { Attempt = ++_attempts };
        Send();
    }

    public void OnReply(ClientReply reply)
    {
        if (_open is not { } open || reply.OperationId != open.Id)
            return; // an answer to an operation already over
        switch (reply.Kind)
        {
            case ReplyKind.Done:
                if (open.Final && _sim.Queue.Now > open.Deadline)
                    FinalOperationLate(open);
                _sim.History.Complete(open.Handle, reply.Result, _sim.Queue.Now);
                End(open);
                return;
            case ReplyKind.NotLeader:
                _target = reply.LeaderHint >= 0 && reply.LeaderHint != _target ? reply.LeaderHint : NextNode();
                break;
            case ReplyKind.OutcomeUnknown:
                open.MayHaveTakenEffect = true;
                break; // the same node may lead again; the session makes the retry safe
            case ReplyKind.SessionExpired when open.MayHaveTakenEffect:
                GiveUp(open);
                return;
            case ReplyKind.SessionExpired:
                OpenSession(open);
                break;
        }

        Retry(open, Micros.Millis(5 + _random.NextDouble() * 25));
    }

    public void OnRequestTimeout(long attempt)
    {
        if (_open is not { } open || attempt != open.Attempt)
            return;
        open.MayHaveTakenEffect = true;
        _target = NextNode();
        Retry(open, 0);
    }

    /// <summary>The cluster does not know the session: the write goes again as command 1 of a new one.</summary>
    private void OpenSession(Open open)
    {
        _sessionId = $"{_clientId}/{++_sessionsOpened}";
        _sequence = 1;
        open.Request = open.Request with { Entry = CommandIds.Entry(open.Request.CommandId, _sessionId, _sequence) };
    }

    private void Retry(Open open, long backoff)
    {
        if (_sim.Queue.Now + backoff >= open.Deadline)
        {
            GiveUp(open);
            return;
        }

        open.Attempt = ++_attempts;
        open.Backoff = backoff;
        Send();
    }

    private void GiveUp(Open open)
    {
        if (open.Final)
            FinalOperationLate(open);
        _process += _sim.Options.Clients; // the outcome stays unknown
        End(open);
    }

    private void Send()
    {
        var open = _open!;
        _sim.SendToNode(_target, open.Request, open.Backoff);
        _sim.Queue.After(open.Backoff + RequestTimeout, new SimEvent(EventKind.ClientRequestTimeout, Index, open.Attempt));
    }

    private void End(Open open)
    {
        _open = null;
        if (open.Final)
        {
            Finished = true;
            _sim.ClientFinished();
            return;
        }

        _sim.Queue.After(Micros.Millis(20 + _random.NextDouble() * 200), new SimEvent(EventKind.ClientNextOperation, Index, _operationId));
    }

    private void FinalOperationLate(Open open) =>
        throw new SimulationFailure("Liveness", $"client {_clientId}'s operation {open.Request.Command} after the final heal " +
                                                $"got no definite answer within {_sim.Options.FinalOperationBound.TotalSeconds} s");

    /// <summary>
    /// The next member of the cluster after the current target: the operator keeps the clients' list of
    /// servers up to date with the configuration (so a removed server's stale leader hint, which may
    /// name a server long gone, leads the client astray for one timeout at most).
    /// </summary>
    private int NextNode()
    {
        var slots = _sim.Nodes.Length;
        var members = _sim.CurrentConfiguration();
        for (var i = 1; i < slots; i++)
        {
            var candidate = (_target + i) % slots;
            if (_sim.Nodes[candidate] is { Created: true, Retired: false } node && members.IsMember(node.Id))
                return candidate;
        }

        return (_target + 1) % slots;
    }

    private sealed class Open(long id, ClientRequest request, int handle, long deadline, bool final)
    {
        public long Id { get; } = id;

        public ClientRequest Request { get; set; } = request;

        public int Handle { get; } = handle;

        public long Deadline { get; } = deadline;

        public bool Final { get; } = final;

        public long Attempt { get; set; }

        public long Backoff { get; set; }

        /// <summary>An attempt may have reached a log (its outcome was unknown, or it timed out).</summary>
        public bool MayHaveTakenEffect { get; set; }
    }
}
