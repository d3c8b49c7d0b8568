using Akka.Actor;
using Akka.Event;
using RaftActors.Configuration;
using RaftActors.Core;
using RaftActors.Discovery;
using RaftActors.Messages;

namespace RaftActors.Client;

/// <summary>
/// A client of a Raft cluster as an actor (Ongaro's thesis §6.2-6.3): it finds the leader and
/// retries, so the application does not. Send it <see cref="SendCommand"/> or <see cref="SendQuery"/>;
/// <see cref="RaftClientFacade"/> wraps both in tasks.
/// <list type="bullet">
/// <item>It sends to the member it believes leads (at first a random one), follows <see cref="NotLeader"/>
/// hints at once (the hint's path, else the member with the hinted id), and after a <see cref="NotLeader"/>
/// without a hint or an attempt's timeout tries another member after a jittered backoff.</item>
/// <item>A query's first attempt goes to the one member in the client's own ActorSystem, when there
/// is exactly one: any member serves a query linearizably (a follower asks the leader for the read
/// index), and that one costs no network hop. Its retries follow the rules above.</item>
/// <item>It keeps a session: each command gets the next sequence number, and every retry of it
/// carries the same one, so the cluster applies it at most once — which makes retrying after
/// <see cref="CommandOutcomeUnknown"/> or a timeout safe. The cluster opens a session with its
/// command 1 and refuses any other on a session it does not know, so until the session has a
/// definite answer one command is sent at a time.</item>
/// <item>When the cluster forgot the session (idle past <c>raft.sessions.expiry</c>, or evicted),
/// a command answered <see cref="SessionExpired"/> was certainly not applied: the client opens a
/// new session (its client id with a "/n" suffix) and sends the command there — unless an earlier
/// attempt of it may have been applied, in which case it fails with
/// <see cref="RaftCommandOutcomeUnknownException"/>.</item>
/// <item>A command may instead be the first and only command of a session of the caller's own
/// (<see cref="RaftClientFacade.SendIdempotentAsync"/>): it is numbered 1 there, outside the
/// client's session and its window, and retried in that session, so a second request with the same
/// session id, from any client, applies it at most once.</item>
/// <item>In an ActorSystem that also hosts a node, the client hears the node's
/// <see cref="RaftStateChanged"/> events: once a node names a leader in a newer term, the attempts
/// in flight or backing off are sent again at once (commands within their session, so at most
/// once), to the new leader, instead of waiting out an attempt that may have gone to a leader that
/// died. A membership change or a snapshot export is not moved.</item>
/// <item>A command that would open a session while the cluster's session table is full of sessions
/// too young to evict (<c>raft.sessions.min-idle</c>) is answered <see cref="TooManySessions"/>,
/// certainly not applied: the client sends it again in the same session after a backoff, until its
/// deadline, when it fails with <see cref="RaftUnavailableException"/> (<see cref="RaftUnavailableException.TooManySessions"/>)
/// unless another attempt of it may have been applied.</item>
/// <item><see cref="RequestRejected"/> and <see cref="CommandFailed"/> are final answers.</item>
/// <item>At the deadline (or the last attempt) a command with no definite answer fails with
/// <see cref="RaftCommandOutcomeUnknownException"/> — or <see cref="RaftUnavailableException"/> when no
/// attempt can have reached a log; a query fails with <see cref="RaftUnavailableException"/>.</item>
/// </list>
/// Many requests may be outstanding at once; each command has its own sequence number.
/// Nodes are addressed by path — one in another ActorSystem through a reference resolved once
/// that reaches whatever actor lives at the path, one in the client's own system by selection at
/// every attempt — so a member that restarts (or is started after the client) is found there.
/// </summary>
public sealed class RaftClient : ReceiveActor, IWithTimers
{
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly RaftClientOptions _options;
    private readonly IReadOnlyList<RaftMember> _members;
    private readonly ClientRetryRules<ActorPath> _rules;
    private readonly Dictionary<long, Request> _requests = new();
    private readonly LinkedList<Request> _queued = new();
    private readonly SortedSet<long> _sequencesInFlight = new();
    private readonly Dictionary<IActorRef, int> _requesters = new();
    private readonly Dictionary<ActorPath, ICanTell> _routes = new();
    private readonly RequestTimeouts _timeouts;
    private readonly ActorPath? _localMember;
    private long _nextRequestId;
    private string _session;
    private int _sessionsOpened;
    private bool _sessionConfirmed;
    private long _lastSequence;
    private long _attemptsMade;
    private long _leaderTermHeard;
    private bool _stopping;

    public RaftClient(IEnumerable<RaftMember> members, RaftClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(members);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _members = members.ToList();
        CheckMembers(_members);
        // The client often lives in an application's own ActorSystem, created without RaftActors'
        // defaults: without the Raft serializers its commands would leave in Akka's JSON fallback,
        // which the nodes refuse.
        Serialization.RaftExtension.Get(Context.System);
        _options = options;
        _timeouts = new RequestTimeouts(Timers, Context.System.Scheduler, options.RequestTimeout);
        _session = options.ClientId;
        var seed = options.RandomSeed ?? Random.Shared.Next();
        var paths = _members.Select(m => m.Path!).ToList(); // every member has a path (CheckMembers)
        _rules = new ClientRetryRules<ActorPath>(() => paths, options, new Random(seed));
        var local = paths.Where(path => !Discovery.ActorPathRoutes.IsRemote(Context.System, path.Address)).Take(2).ToList();
        _localMember = local.Count == 1 ? local[0] : null;
        _log.Info("Raft client '{0}' for {1} members ({2}), random seed {3}",
            options.ClientId, _members.Count, string.Join(", ", _members.Select(m => m.Id)), seed);

        Receive<SendCommand>(c => Submit(RequestKind.Command, c.Command, c.Deadline, c.SessionId));
        Receive<SendQuery>(q => Submit(RequestKind.Query, q.Query, q.Deadline));
        Receive<SendSnapshotExport>(e => Submit(RequestKind.SnapshotExport, e.Path is null ? null : new ExportSnapshot(e.Path), e.Deadline));
        Receive<SendMembershipRequest>(m =>
        {
            switch (m.Request)
            {
                case GetClusterConfiguration:
                    Submit(RequestKind.ConfigurationRead, m.Request, m.Deadline);
                    break;
                case AddMember or RemoveMember or TransferLeadership:
                    Submit(RequestKind.MembershipChange, m.Request, m.Deadline);
                    break;
                default:
                    Sender.Tell(new Status.Failure(new ArgumentException($"not a membership request: {m.Request?.GetType().Name ?? "null"}", nameof(m))));
                    break;
            }
        });
        Receive<AttemptAnswered>(OnAnswered);
        Receive<RequestTimeouts.Due>(_ => _timeouts.Fired(OnAttemptTimedOut, OnDeadline));
        Receive<RetryDue>(OnRetryDue);
        Receive<GetRaftClientStatus>(_ => Sender.Tell(Status()));
        Receive<Terminated>(terminated => OnRequesterGone(terminated.ActorRef));
        Receive<StopWaiting>(stop => OnRequesterGone(stop.Requester));
        Receive<RaftStateChanged>(OnStateChanged);
    }

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>
    /// Props for a client of the cluster made of <paramref name="members"/> (ids and node actor paths).
    /// Throws <see cref="ArgumentException"/> here, not in the actor, for invalid options or members.
    /// </summary>
    public static Props Props(IEnumerable<RaftMember> members, RaftClientOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(members);
        var list = members.ToList();
        var settings = options ?? new RaftClientOptions();
        settings.Validate();
        CheckMembers(list);
        return Akka.Actor.Props.Create(() => new RaftClient(list, settings));
    }

    private static void CheckMembers(IReadOnlyList<RaftMember> members)
    {
        if (members.Count == 0)
            throw new ArgumentException("a Raft client needs at least one cluster member", nameof(members));
        var duplicate = members.GroupBy(m => m.Id, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
            throw new ArgumentException($"member id '{duplicate.Key}' appears {duplicate.Count()} times", nameof(members));
        if (members.FirstOrDefault(m => m.Path is null) is { } unplaced)
            throw new ArgumentException($"member '{unplaced.Id}' has no actor path: a Raft client sends to members' paths", nameof(members));
    }

    /// <summary>
    /// Reads the cluster's members from <c>raft.members</c> (and <c>raft.actor-name</c>) in the format the
    /// nodes read: each member an <c>id</c> with an <c>address</c> (the node actor is then
    /// <c>address/user/&lt;raft.actor-name&gt;</c>) or a full actor <c>path</c>. A client has no node id,
    /// so <c>raft.node-id</c> is not needed. Fails naming the key when a member is malformed, and
    /// under <c>raft.discovery = cluster</c>, where the members' paths are not in the configuration.
    /// </summary>
    public static IReadOnlyList<RaftMember> MembersFromConfig(Akka.Configuration.Config config)
    {
        var raft = config.WithFallback(RaftSettings.DefaultConfig);
        if (RaftMembership.ReadDiscovery(raft) != RaftDiscovery.Static)
            throw new RaftConfigurationException("raft.discovery", "a RaftClient needs the members' addresses or paths (raft.discovery = static)");
        var actorName = HoconReader.Read(raft, "raft.actor-name", c => c.GetString("raft.actor-name"));
        var members = RaftMembership.ReadMembers(raft, RaftDiscovery.Static, actorName);
        if (members.Count == 0)
            throw new RaftConfigurationException("raft.members", "is empty: a client needs the cluster's members");
        RaftMembership.ThrowOnDuplicateIds(members);
        return members;
    }

    protected override void PreStart()
    {
        base.PreStart();
        Context.System.EventStream.Subscribe(Self, typeof(RaftStateChanged));
    }

    protected override void PostStop()
    {
        Context.System.EventStream.Unsubscribe(Self);
        _stopping = true;
        foreach (var request in _requests.Values.ToList())
            GiveUp(request, "the client actor stopped");
        base.PostStop();
    }

    private void Submit(RequestKind kind, object? payload, TimeSpan? deadline, string? ownSession = null)
    {
        if (payload is null)
        {
            Sender.Tell(new Status.Failure(new ArgumentNullException(kind switch
            {
                RequestKind.Command => "command",
                RequestKind.SnapshotExport => "path",
                _ => "query",
            })));
            return;
        }

        var request = new Request(++_nextRequestId, kind, payload, Sender, Context.System.Scheduler.Now, deadline ?? _options.Deadline);
        _requests[request.Id] = request;
        WatchRequester(request.Requester);
        if (request.HasDeadline)
            _timeouts.RequestReceived(request.Id, request.Deadline);
        if (ownSession is not null)
        {
            // The first and only command of its session: it needs no place in the client's own.
            request.Session = ownSession;
            request.Sequence = 1;
            request.HasOwnSession = true;
        }

        if (kind != RequestKind.Command || request.HasOwnSession)
        {
            StartAttempt(request);
            return;
        }

        request.Node = _queued.AddLast(request);
        StartQueuedCommands();
    }

    /// <summary>
    /// Gives queued commands their sequence numbers while the window of sequences in flight allows:
    /// one at a time until the session is confirmed, for a command numbered above 1 that reached
    /// the log before the session's first would be refused as of an unknown session.
    /// </summary>
    private void StartQueuedCommands()
    {
        while (!_stopping && _queued.First is { } first)
        {
            var next = _lastSequence + 1;
            if (_sequencesInFlight.Count > 0 && (!_sessionConfirmed || next - _sequencesInFlight.Min >= _options.MaxCommandsInFlight))
                return;
            _queued.RemoveFirst();
            var request = first.Value;
            request.Node = null;
            request.Session = _session;
            request.Sequence = next;
            _lastSequence = next;
            _sequencesInFlight.Add(next);
            StartAttempt(request);
        }
    }

    private void StartAttempt(Request request)
    {
        if (_rules.OutOfAttempts(request))
        {
            GiveUp(request, $"{request.LastProblem}; no attempts left ({_options.MaxAttempts})");
            return;
        }

        var target = _rules.StartAttempt(request);
        if (request.Kind == RequestKind.Query && request.Attempts == 1 && _localMember is { } local)
            target = local;
        _attemptsMade++;
        request.Target = target;
        request.Phase = Phase.InFlight;
        object message = request.Kind switch
        {
            RequestKind.Command => new ClientCommand(request.Payload, request.Session, request.Sequence),
            RequestKind.Query => new ClientQuery(request.Payload),
            _ => request.Payload,
        };

        if (_log.IsDebugEnabled)
            _log.Debug("Client '{0}': {1}, attempt {2}, to {3}", _options.ClientId, request.Describe(), request.Attempts, target);
        var reply = new AttemptReply(((IInternalActorRef)Self).Provider, Self, request.Id, request.Attempts, target, request.Requester as ReplyPromise, request.SettledBy);
        request.OpenAttempts.Add(reply);
        Route(target).Tell(message, reply);
        // A membership change is not sent twice while it may be under way (adding a voter waits
        // for it to catch up), nor a snapshot export while the leader writes the file: each has
        // until its deadline.
        if (!request.WaitsWholeDeadline)
            _timeouts.AttemptStarted(request.Id, request.Attempts);
    }

    /// <summary>How to reach a member: see <see cref="ActorPathRoutes.Reach"/> (a local member's selection is resolved at each send).</summary>
    private ICanTell Route(ActorPath member)
    {
        if (!_routes.TryGetValue(member, out var route))
            _routes[member] = route = ActorPathRoutes.Reach(Context, Context.System, member);
        return route;
    }

    private void OnAnswered(AttemptAnswered answered)
    {
        if (!_requests.TryGetValue(answered.RequestId, out var request))
            return; // already answered or given up
        var current = request.Phase == Phase.InFlight && request.Attempts == answered.Attempt;

        // Definite answers count from any attempt: every attempt carries the same session
        // sequence, so a late answer to an earlier one is the command's answer too.
        switch (answered.Reply)
        {
            case CommandApplied applied when request.IsCommand:
                ConfirmSession(request);
                Complete(request, applied);
                return;
            case CommandFailed failed when request.IsCommand:
                ConfirmSession(request);
                Fail(request, new RaftCommandFailedException(request.Describe(), failed.Index, failed.Reason));
                return;
            case SessionExpired expired when request.IsCommand:
                OnSessionExpired(request, answered.Target, expired);
                return;
            case QueryResult result when request.Kind == RequestKind.Query:
                Complete(request, result);
                return;
            case MembershipChanged or LeadershipTransferred when request.Kind == RequestKind.MembershipChange:
            case CurrentConfiguration when request.Kind == RequestKind.ConfigurationRead:
            case SnapshotExported when request.Kind == RequestKind.SnapshotExport:
                Complete(request, answered.Reply);
                return;
            case MembershipRefused { Reason: not MembershipRefusalReason.LeaderNotReady } refused when request.Kind == RequestKind.MembershipChange:
                Fail(request, new RaftMembershipRefusedException(request.Describe(), refused.Reason, refused.Message));
                return;
        }

        if (!current)
            return; // a stale non-answer from an attempt already given up on
        var node = answered.Target;
        switch (answered.Reply)
        {
            case RequestRejected rejected:
                Fail(request, new RaftRequestRejectedException(request.Describe(), rejected.Reason));
                break;
            case NotLeader notLeader when request.Kind == RequestKind.SnapshotExport && LeaderOutsideMembers(notLeader):
                // The leader would write the file on its own disk, which is not among the ones asked for.
                Complete(request, notLeader);
                break;
            case NotLeader notLeader:
                var hint = notLeader.LeaderPath ?? MemberPath(notLeader.LeaderId);
                var problem = hint is null
                    ? $"{node} is not the leader and knows no leader"
                    : $"{node} is not the leader; it named {notLeader.LeaderId ?? hint.ToString()}";
                Retry(request, node, AttemptEnd.NotLeader, problem, hint);
                break;
            case MembershipRefused notReady:
                Retry(request, node, AttemptEnd.LeaderNotReady, $"{node}: {notReady.Message}");
                break;
            case CommandOutcomeUnknown unknown:
                Retry(request, node, AttemptEnd.OutcomeUnknown, $"{node} answered outcome unknown: {unknown.Reason}");
                break;
            case TooManySessions full when request.IsCommand:
                Retry(request, node, AttemptEnd.TooManySessions, $"{node}: {full.Reason}");
                break;
            default:
                _log.Warning("Client '{0}': unexpected answer {1} from {2} to {3}", _options.ClientId, answered.Reply, node, request.Describe());
                Retry(request, node, AttemptEnd.UnexpectedAnswer, $"{node} gave an unexpected answer {answered.Reply.GetType().Name}");
                break;
        }
    }

    private ActorPath? MemberPath(string? id) => id is null ? null : _members.FirstOrDefault(m => m.Id == id)?.Path;

    private bool LeaderOutsideMembers(NotLeader notLeader) =>
        (notLeader.LeaderId is not null || notLeader.LeaderPath is not null) &&
        !_members.Any(m => m.Id == notLeader.LeaderId || m.Path!.Equals(notLeader.LeaderPath));

    /// <summary>
    /// A node in this ActorSystem names a leader. The first such event of a newer term moves every
    /// request that may be waiting on a leader that is gone — an attempt in flight, or a backoff
    /// after "no leader known" — on to the new leader at once. Commands are sent again in their
    /// session, so they apply at most once; membership changes and snapshot exports wait, since
    /// sending them twice is not safe or not cheap.
    /// </summary>
    private void OnStateChanged(RaftStateChanged change)
    {
        if (change.LeaderId is not { } leaderId || change.Term <= _leaderTermHeard)
            return;
        _leaderTermHeard = change.Term;
        // A leader outside the members is reached through one of them: the one tried last, if it is one.
        _rules.Leader = MemberPath(leaderId) ?? (_members.Any(m => m.Path!.Equals(_rules.Leader)) ? _rules.Leader : null);
        foreach (var request in _requests.Values.Where(r => r.Phase is Phase.InFlight or Phase.BackingOff && !r.WaitsWholeDeadline).ToList())
        {
            var problem = request.Phase == Phase.InFlight
                ? $"{leaderId} leads in term {change.Term} while the attempt to {request.Target} waited"
                : $"{leaderId} leads in term {change.Term}";
            if (request.Phase == Phase.InFlight)
                request.MayHaveTakenEffect |= request.ChangesState;
            EndAttempt(request);
            Timers.Cancel(RetryKey(request.Id));
            request.LastProblem = problem;
            request.HintsFollowed = 0;
            _log.Debug("Client '{0}': {1}: {2}; sending it there now", _options.ClientId, request.Describe(), problem);
            StartAttempt(request);
        }
    }

    /// <summary>The cluster knows the session now: the commands after its first may go together.</summary>
    private void ConfirmSession(Request request)
    {
        if (request.Session == _session)
            _sessionConfirmed = true;
    }

    /// <summary>
    /// The cluster does not know the command's session, and refused the command without applying it.
    /// If no other attempt of it may have been applied, it is sent again as the first command of a
    /// new session; otherwise whether it was applied cannot be told.
    /// </summary>
    private void OnSessionExpired(Request request, ActorPath node, SessionExpired expired)
    {
        if (request.MayHaveTakenEffect)
        {
            GiveUp(request, $"{node}: {expired.Reason}, and an earlier attempt may have been applied before the session expired");
            return;
        }

        if (request.HasOwnSession)
        {
            // The caller's session, which the client does not renumber: certainly not applied.
            GiveUp(request, $"{node}: {expired.Reason}");
            return;
        }

        if (request.Session == _session)
        {
            var expiredSession = _session;
            _session = $"{_options.ClientId}/{++_sessionsOpened}";
            _sessionConfirmed = false;
            _lastSequence = 0;

            // The old session's commands still out settle on their own: one of them may have
            // been applied before the session expired, so none is moved to the new session unasked.
            _sequencesInFlight.Clear();
            _log.Info("Client '{0}': the cluster forgot session {1} ({2}); continuing in session {3}", _options.ClientId, expiredSession, expired.Reason, _session);
        }

        Requeue(request);
        StartQueuedCommands();
    }

    /// <summary>Puts a command that was certainly not applied back in the queue, in submission order, to be numbered again.</summary>
    private void Requeue(Request request)
    {
        EndAttempt(request);
        CancelAttempts(request);
        Timers.Cancel(RetryKey(request.Id));
        if (request.Session == _session)
            _sequencesInFlight.Remove(request.Sequence);
        request.Session = null;
        request.Sequence = 0;
        request.Phase = Phase.Queued;
        var later = _queued.First;
        while (later is not null && later.Value.Id < request.Id)
            later = later.Next;
        request.Node = later is null ? _queued.AddLast(request) : _queued.AddBefore(later, request);
    }

    private void OnAttemptTimedOut(long requestId, int attempt)
    {
        if (!_requests.TryGetValue(requestId, out var request) || request.Phase != Phase.InFlight || request.Attempts != attempt)
            return;
        var node = request.Target!;
        Retry(request, node, AttemptEnd.TimedOut, $"no answer from {node} within {RaftCommandOutcomeUnknownException.Describe(_options.RequestTimeout)}");
    }

    /// <summary>
    /// The attempt to <paramref name="node"/> ended without a definite answer: the retry rules say
    /// whether it goes again at once (a leader hint), after a backoff, or not at all.
    /// </summary>
    private void Retry(Request request, ActorPath node, AttemptEnd end, string problem, ActorPath? hint = null)
    {
        EndAttempt(request);
        request.LastProblem = problem;
        request.LastEnd = end;
        TimeSpan? timeLeft = request.HasDeadline ? request.Deadline - (Context.System.Scheduler.Now - request.Received) : null;
        var decision = _rules.AfterAttempt(request, node, end, hint, timeLeft);
        switch (decision.Action)
        {
            case RetryAction.SendNow:
                StartAttempt(request);
                break;
            case RetryAction.SendAfterBackoff:
                request.Phase = Phase.BackingOff;
                _log.Debug("Client '{0}': {1}: {2}; retrying in {3}", _options.ClientId, request.Describe(), problem, decision.Delay);
                Timers.StartSingleTimer(RetryKey(request.Id), new RetryDue(request.Id), decision.Delay);
                break;
            default:
                GiveUp(request, decision.Reason is null ? problem : $"{problem}; {decision.Reason}");
                break;
        }
    }

    private void OnRetryDue(RetryDue due)
    {
        if (_requests.TryGetValue(due.RequestId, out var request) && request.Phase == Phase.BackingOff)
            StartAttempt(request);
    }

    private void OnDeadline(long requestId)
    {
        if (_requests.TryGetValue(requestId, out var request))
        {
            var problem = request.Phase == Phase.InFlight
                ? $"no answer yet from {request.Target}"
                : request.LastProblem;
            GiveUp(request, $"{problem}; deadline of {RaftCommandOutcomeUnknownException.Describe(request.Deadline)} passed");
        }
    }

    private void GiveUp(Request request, string problem)
    {
        var outcome = ClientRetryRules<ActorPath>.GiveUp(request, attemptInFlight: request.Phase == Phase.InFlight);
        var elapsed = Context.System.Scheduler.Now - request.Received;
        Exception failure = request switch
        {
            { Kind: RequestKind.MembershipChange } when outcome == GivenUpOutcome.Unknown => new RaftMembershipOutcomeUnknownException(
                request.Describe(), request.Attempts, elapsed, problem),
            { IsCommand: true, Phase: Phase.Queued } => new RaftUnavailableException(
                "a command (never sent: it waited for older commands to be answered)", 0, elapsed, problem),
            { IsCommand: true } when outcome == GivenUpOutcome.Unknown => new RaftCommandOutcomeUnknownException(
                request.Session ?? _options.ClientId, request.Sequence, request.Attempts, elapsed, problem),
            _ => new RaftUnavailableException(request.Describe(), request.Attempts, elapsed, problem)
            {
                TooManySessions = request.LastEnd == AttemptEnd.TooManySessions,
            },
        };
        _log.Info("Client '{0}': giving up on {1}: {2}", _options.ClientId, request.Describe(), failure.Message);
        Fail(request, failure);
    }

    private void Complete(Request request, object reply)
    {
        request.Requester.Tell(reply);
        Forget(request);
    }

    private void Fail(Request request, Exception failure)
    {
        request.Requester.Tell(new Status.Failure(failure));
        Forget(request);
    }

    /// <summary>Ends the request's attempt, timers and place in the window, and lets queued commands move.</summary>
    private void Forget(Request request)
    {
        EndAttempt(request);
        CancelAttempts(request);
        Timers.Cancel(RetryKey(request.Id));
        if (request.Node is { } node)
            _queued.Remove(node);
        request.Node = null;
        if (_requests.Remove(request.Id))
            UnwatchRequester(request.Requester);
        request.Phase = Phase.Done;
        if (request.Sequence > 0 && !request.HasOwnSession && request.Session == _session && _sequencesInFlight.Remove(request.Sequence))
            StartQueuedCommands();
    }

    private static void CancelAttempts(Request request)
    {
        foreach (var attempt in request.OpenAttempts)
            attempt.Release();
        request.OpenAttempts.Clear();
    }

    /// <summary>
    /// Stops waiting for the current attempt. Its reply address stays open until the request ends:
    /// a late definite answer to it is still the request's answer.
    /// </summary>
    private void EndAttempt(Request request)
    {
        if (request.Phase == Phase.InFlight)
            request.Phase = Phase.Between;
    }

    /// <summary>
    /// A requester that stopped waiting — a cancelled or timed-out Ask (its temporary actor
    /// terminates), a <see cref="RaftClientFacade"/> call that says so (<see cref="StopWaiting"/>),
    /// a stopped actor — needs no more retries: its requests are dropped. Only local actors are
    /// watched (watching remote actors risks quarantine; a facade's <see cref="ReplyPromise"/> is
    /// no actor and says when it stops waiting); a request sent without a sender is carried out all
    /// the same.
    /// </summary>
    private void OnRequesterGone(IActorRef requester)
    {
        foreach (var request in _requests.Values.Where(r => r.Requester.Equals(requester)).ToList())
        {
            _log.Debug("Client '{0}': the requester of {1} is gone; dropping it", _options.ClientId, request.Describe());
            Forget(request);
        }

        _requesters.Remove(requester);
    }

    private void WatchRequester(IActorRef requester)
    {
        if (requester.IsNobody() || requester is ReplyPromise || requester is not IInternalActorRef { IsLocal: true })
            return;
        if (_requesters.TryGetValue(requester, out var count))
        {
            _requesters[requester] = count + 1;
            return;
        }

        _requesters[requester] = 1;
        Context.Watch(requester);
    }

    private void UnwatchRequester(IActorRef requester)
    {
        if (!_requesters.TryGetValue(requester, out var count))
            return;
        if (count > 1)
        {
            _requesters[requester] = count - 1;
            return;
        }

        _requesters.Remove(requester);
        Context.Unwatch(requester);
    }

    private RaftClientStatus Status() => new(
        _session,
        _lastSequence,
        _rules.Leader,
        _requests.Values.Count(r => r.Phase == Phase.InFlight),
        _requests.Values.Count(r => r.Phase == Phase.BackingOff),
        _queued.Count,
        _attemptsMade);

    private static object RetryKey(long id) => ("retry", id);

    private enum Phase
    {
        Queued,
        InFlight,
        Between,
        BackingOff,
        Done,
    }

    private enum RequestKind
    {
        /// <summary>A command of the session: numbered, sent again until answered.</summary>
        Command,

        /// <summary>A linearizable query: changes nothing, sent again freely.</summary>
        Query,

        /// <summary>A membership change or a transfer: sent again only where it certainly did nothing.</summary>
        MembershipChange,

        /// <summary>The configuration a node uses: a read, from any node.</summary>
        ConfigurationRead,

        /// <summary>A backup written by the leader on its own disk: sent only to the members, never to a leader outside them.</summary>
        SnapshotExport,
    }

    private sealed class Request(long id, RequestKind kind, object payload, IActorRef requester, DateTimeOffset received, TimeSpan deadline)
        : RetryState(changesState: kind is RequestKind.Command or RequestKind.MembershipChange, sentAgainAfterUnknown: kind != RequestKind.MembershipChange)
    {
        public long Id { get; } = id;

        public RequestKind Kind { get; } = kind;

        public bool IsCommand => Kind == RequestKind.Command;

        /// <summary>The answer that settles the request from any attempt and carries its result: a command's or a query's (see <see cref="OnAnswered"/>).</summary>
        public Type? SettledBy => Kind switch
        {
            RequestKind.Command => typeof(CommandApplied),
            RequestKind.Query => typeof(QueryResult),
            _ => null,
        };

        public object Payload { get; } = payload;

        public IActorRef Requester { get; } = requester;

        public DateTimeOffset Received { get; } = received;

        /// <summary>How long the request may take in all; <see cref="Timeout.InfiniteTimeSpan"/> for no bound but the attempts.</summary>
        public TimeSpan Deadline { get; } = deadline;

        public bool HasDeadline => Deadline != Timeout.InfiniteTimeSpan;

        /// <summary>Sent once and given its whole deadline: sending it again while it may be under way is not safe, or not cheap.</summary>
        public bool WaitsWholeDeadline => Kind is RequestKind.MembershipChange or RequestKind.SnapshotExport && HasDeadline;

        /// <summary>A command that is the first and only one of the caller's session <see cref="Session"/>.</summary>
        public bool HasOwnSession { get; set; }

        public Phase Phase { get; set; } = Phase.Queued;

        /// <summary>The client session the command is numbered in; null for queries and for commands still queued.</summary>
        public string? Session { get; set; }

        /// <summary>The session sequence number; 0 for queries and for commands still queued.</summary>
        public long Sequence { get; set; }

        public LinkedListNode<Request>? Node { get; set; }

        public ActorPath? Target { get; set; }

        /// <summary>The attempts' reply addresses still waiting: releasing one drops its late answer.</summary>
        public List<AttemptReply> OpenAttempts { get; } = new(1);

        public string LastProblem { get; set; } = "no attempt made yet";

        /// <summary>How the last attempt without a definite answer ended; null before one did.</summary>
        public AttemptEnd? LastEnd { get; set; }

        public string Describe() => Kind switch
        {
            RequestKind.Command when HasOwnSession => $"the command ({Payload.GetType().Name}) of session {Session}",
            RequestKind.Command => Sequence > 0 ? $"command {Sequence} ({Payload.GetType().Name})" : $"command ({Payload.GetType().Name})",
            RequestKind.Query => $"query ({Payload.GetType().Name})",
            _ => $"{Payload}",
        };
    }

    private sealed record RetryDue(long RequestId);
}
