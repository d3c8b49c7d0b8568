using RaftActors.Client;
using RaftActors.Core;

namespace RaftActors.Simulation;

/// <summary>
/// A client process with one operation open at a time, on <see cref="RaftClient"/>'s own retry
/// rules (<see cref="ClientRetryRules{TNode}"/>, the same class): it sends to the node it believes
/// leads, follows NotLeader hints at once, after a timeout or an answer without a definite outcome
/// tries another node after a backoff, and retries a write whose outcome is unknown under the same
/// session sequence (so it applies at most once, and the retry learns the first result). An
/// operation without a definite answer by its deadline is given up: its outcome stays unknown in
/// the history. Reads go to the leader, or half of them to any server, which asks the leader for
/// the read index (ReadIndex, FollowerReads). A write answered SessionExpired (the
/// cluster does not know its session) goes again as the first command of a new session, as
/// RaftClient does, unless an earlier attempt of it may have been applied: then it is given up.
/// A write answered TooManySessions (its new session finds the table full of young sessions) goes
/// again in the same session after a backoff, as RaftClient does; given up at its deadline with no
/// attempt that may have been applied, it is certainly not applied, and the history says so.
/// In the history a client is a process with one operation open at a time; an operation given up
/// stays open for ever (it may still take effect), so the client goes on as a new process.
/// </summary>
internal sealed class SimulatedClient
{
    private static readonly RaftClientOptions Options = new()
    {
        RequestTimeout = TimeSpan.FromMilliseconds(300),
        RetryBackoffMin = TimeSpan.FromMilliseconds(5),
        RetryBackoffMax = TimeSpan.FromMilliseconds(100),
        Deadline = TimeSpan.FromMilliseconds(2500),
    };

    private static readonly long RequestTimeout = Micros.Of(Options.RequestTimeout);
    private static readonly long OperationDeadline = Micros.Of(Options.Deadline);

    private readonly ClusterSimulation _sim;
    private readonly Random _random;

    // Which reads go to any server: a stream of its own, so that the rest of a seed's schedule
    // (commands, backoffs, pauses) draws the same numbers as before follower reads existed.
    private readonly Random _readTargets;
    private readonly ClientRetryRules<string> _rules;
    private readonly string _clientId;
    private string _sessionId;
    private int _sessionsOpened;
    private long _sequence;
    private long _operationId;
    private long _attempts;
    private int _process;
    private Open? _open;
    private bool _finalRequested;

    public SimulatedClient(ClusterSimulation sim, int index, Random random)
    {
        _sim = sim;
        Index = index;
        _process = index;
        _random = random;
        _readTargets = new Random(unchecked((sim.Options.Seed * 7919) + index));
        _rules = new ClientRetryRules<string>(Servers, Options, random);
        _clientId = $"c{index}";
        _sessionId = _clientId;
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
        var write = command.Kind != KvKind.Get;
        var entry = write ? CommandIds.Entry(commandId, _sessionId, ++_sequence) : null;
        var handle = _sim.History.Invoke(_process, command, _sim.Queue.Now);
        var deadline = _sim.Queue.Now + (final ? Micros.Of(_sim.Options.FinalOperationBound) : OperationDeadline);
        _operationId++;
        _open = new Open(_operationId, new ClientRequest(Index, _operationId, commandId, command, entry), handle, deadline, final, write);
        Send(_open, 0);
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
                Retry(open, AttemptEnd.NotLeader, reply.LeaderHint >= 0 ? _sim.Nodes[reply.LeaderHint].Id : null);
                break;
            case ReplyKind.OutcomeUnknown:
                Retry(open, AttemptEnd.OutcomeUnknown);
                break;
            case ReplyKind.SessionExpired when open.MayHaveTakenEffect:
                GiveUp(open);
                break;
            case ReplyKind.SessionExpired:
                OpenSession(open);
                Send(open, 0);
                break;
            case ReplyKind.TooManySessions:
                Retry(open, AttemptEnd.TooManySessions);
                break;
        }
    }

    /// <summary>The cluster does not know the session: the write goes again as command 1 of a new one.</summary>
    private void OpenSession(Open open)
    {
        _sessionId = $"{_clientId}/{++_sessionsOpened}";
        _sequence = 1;
        open.Request = open.Request with { Entry = CommandIds.Entry(open.Request.CommandId, _sessionId, _sequence) };
    }

    public void OnRequestTimeout(long attempt)
    {
        if (_open is { } open && attempt == open.Attempt)
            Retry(open, AttemptEnd.TimedOut);
    }

    private void Retry(Open open, AttemptEnd end, string? hint = null)
    {
        open.LastEnd = end;
        var timeLeft = TimeSpan.FromTicks((open.Deadline - _sim.Queue.Now) * TimeSpan.TicksPerMicrosecond);
        var decision = _rules.AfterAttempt(open, open.Target!, end, hint, timeLeft);
        if (decision.Action == RetryAction.GiveUp || timeLeft <= TimeSpan.Zero)
        {
            GiveUp(open);
            return;
        }

        Send(open, decision.Action == RetryAction.SendAfterBackoff ? Micros.Of(decision.Delay) : 0);
    }

    private void GiveUp(Open open)
    {
        if (open.Final)
            FinalOperationLate(open);
        if (open.LastEnd == AttemptEnd.TooManySessions && ClientRetryRules<string>.GiveUp(open, attemptInFlight: false) == GivenUpOutcome.Unavailable)
            _sim.History.NotApplied(open.Handle); // refused, and no attempt of it may have been applied
        _process += _sim.Options.Clients; // given up: the outcome stays unknown
        End(open);
    }

    private void Send(Open open, long delay)
    {
        open.Target = _rules.StartAttempt(open);
        if (!open.ChangesState && _readTargets.Next(2) == 0)
        {
            // Half the reads go to any server: a follower serves them at the read index its leader confirms.
            var servers = Servers();
            open.Target = servers[_readTargets.Next(servers.Count)];
        }

        open.Attempt = ++_attempts;
        _sim.SendToNode(ClusterSimulation.IndexOf(open.Target), open.Request, delay);
        _sim.Queue.After(delay + RequestTimeout, new SimEvent(EventKind.ClientRequestTimeout, Index, open.Attempt));
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
    /// The servers the client knows: the operator keeps the clients' list up to date with the
    /// configuration (so a removed server's stale leader hint, which may name a server long gone,
    /// leads the client astray for one timeout at most).
    /// </summary>
    private IReadOnlyList<string> Servers()
    {
        var members = _sim.CurrentConfiguration();
        var servers = _sim.Nodes.Where(n => n is { Created: true, Retired: false } && members.IsMember(n.Id)).Select(n => n.Id).ToList();
        return servers.Count > 0 ? servers : members.Members.Select(m => m.Id).ToList();
    }

    private sealed class Open(long id, ClientRequest request, int handle, long deadline, bool final, bool write)
        : RetryState(changesState: write, sentAgainAfterUnknown: true)
    {
        public long Id { get; } = id;

        public ClientRequest Request { get; set; } = request;

        public int Handle { get; } = handle;

        public long Deadline { get; } = deadline;

        public bool Final { get; } = final;

        /// <summary>The attempt now awaited (a client-wide number, which timeouts name).</summary>
        public long Attempt { get; set; }

        /// <summary>The node the attempt went to.</summary>
        public string? Target { get; set; }

        /// <summary>How the last attempt without a definite answer ended.</summary>
        public AttemptEnd? LastEnd { get; set; }
    }
}
