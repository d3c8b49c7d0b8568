using Akka.Actor;
using RaftActors.Configuration;
using RaftActors.Messages;

namespace RaftActors.Client;

/// <summary>
/// Tasks over a <see cref="RaftClient"/> actor: send a command, run a query, await the answer.
/// Failures are <see cref="RaftClientException"/>s: <see cref="RaftCommandFailedException"/>,
/// <see cref="RaftRequestRejectedException"/>, <see cref="RaftCommandOutcomeUnknownException"/>,
/// <see cref="RaftUnavailableException"/>. Safe to use from many threads at once.
/// </summary>
public sealed class RaftClientFacade
{
    // The actor answers every request by its deadline; this margin only guards against an actor
    // that died with requests outstanding.
    private static readonly TimeSpan AskMargin = TimeSpan.FromSeconds(5);

    private readonly TimeSpan _deadline;

    /// <summary>Wraps a running <see cref="RaftClient"/> actor started with <paramref name="options"/>.</summary>
    public RaftClientFacade(IActorRef client, RaftClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(options);
        Actor = client;
        ClientId = options.ClientId;
        _deadline = options.Deadline;
    }

    /// <summary>The <see cref="RaftClient"/> actor; stop it to end the client (outstanding requests then fail).</summary>
    public IActorRef Actor { get; }

    /// <summary>The client's session id.</summary>
    public string ClientId { get; }

    /// <summary>Starts a <see cref="RaftClient"/> actor for <paramref name="members"/> in <paramref name="system"/> and wraps it.</summary>
    public static RaftClientFacade Start(
        IActorRefFactory system, IEnumerable<RaftMember> members, RaftClientOptions? options = null, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(system);
        options ??= new RaftClientOptions();
        options.Validate();
        var actor = system.ActorOf(RaftClient.Props(members, options), name);
        return new RaftClientFacade(actor, options);
    }

    /// <summary>
    /// Has <paramref name="command"/> committed and applied, at most once, and returns its log index
    /// and the state machine's result. Cancelling stops the waiting (and the client's retries of it);
    /// a command already sent may still be applied.
    /// </summary>
    /// <exception cref="RaftCommandFailedException">Committed, but the state machine failed on it.</exception>
    /// <exception cref="RaftRequestRejectedException">Refused; it had no effect.</exception>
    /// <exception cref="RaftCommandOutcomeUnknownException">No definite answer by the deadline: maybe applied, maybe not.</exception>
    /// <exception cref="RaftUnavailableException">No leader took it by the deadline; it was not applied.</exception>
    public async Task<CommandApplied> SendAsync(object command, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(command);
        return await AskAsync<CommandApplied>(new SendCommand(command), "command", deadline: null, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Has <paramref name="command"/> committed and applied as the first and only command of the
    /// client session <paramref name="idempotencyKey"/>, not of this client's own session, and
    /// returns its log index and result. A second request with the same key — a retry after an
    /// unknown outcome, from this client or any other — applies it at most once and returns the
    /// first one's answer, for as long as the cluster remembers the session
    /// (<c>raft.sessions.expiry</c> after its last use, and while among the <c>raft.sessions.max</c>
    /// most recently used). The key must not be any client's <see cref="RaftClientOptions.ClientId"/>.
    /// Many such commands may be outstanding at once.
    /// </summary>
    /// <exception cref="RaftCommandFailedException">Committed, but the state machine failed on it.</exception>
    /// <exception cref="RaftRequestRejectedException">Refused; it had no effect.</exception>
    /// <exception cref="RaftCommandOutcomeUnknownException">No definite answer by the deadline: send it again with the same key.</exception>
    /// <exception cref="RaftUnavailableException">No leader took it by the deadline; it was not applied.</exception>
    public async Task<CommandApplied> SendIdempotentAsync(object command, string idempotencyKey, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(command);
        ArgumentException.ThrowIfNullOrWhiteSpace(idempotencyKey);
        return await AskAsync<CommandApplied>(new SendCommand(command, idempotencyKey), "command", deadline: null, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Runs the read-only <paramref name="query"/> on the leader, linearizably, and returns the state
    /// machine's answer.
    /// </summary>
    /// <exception cref="RaftRequestRejectedException">Refused (for instance, the state machine failed on the query).</exception>
    /// <exception cref="RaftUnavailableException">No leader answered by the deadline.</exception>
    public async Task<object?> QueryAsync(object query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        var result = await AskAsync<QueryResult>(new SendQuery(query), "query", deadline: null, cancellationToken).ConfigureAwait(false);
        return result.Result;
    }

    /// <summary>
    /// Adds the server <paramref name="id"/>, started with <c>raft.join = on</c> at
    /// <paramref name="address"/> (an Akka address, or null under cluster discovery): a learner that
    /// becomes a voter once caught up (<paramref name="promote"/>), or stays a learner. Returns once
    /// the final configuration is committed; give the client a deadline long enough for the server
    /// to catch up.
    /// </summary>
    /// <exception cref="RaftMembershipRefusedException">Refused (a change under way, already a member, did not catch up, ...): nothing changed, or the server stays a learner.</exception>
    /// <exception cref="RaftMembershipOutcomeUnknownException">Leadership changed midway: read the configuration.</exception>
    /// <exception cref="RaftUnavailableException">No leader took it: nothing changed.</exception>
    public Task<MembershipChanged> AddMemberAsync(string id, string? address, bool promote = true, CancellationToken cancellationToken = default) =>
        ChangeMembershipAsync<MembershipChanged>(new AddMember(id, address, promote), deadline: null, cancellationToken);

    /// <summary>Removes the member <paramref name="id"/>; returns once the configuration without it is committed (exceptions as <see cref="AddMemberAsync"/>).</summary>
    public Task<MembershipChanged> RemoveMemberAsync(string id, CancellationToken cancellationToken = default) =>
        ChangeMembershipAsync<MembershipChanged>(new RemoveMember(id), deadline: null, cancellationToken);

    /// <summary>Hands leadership to the voter <paramref name="to"/>, or the most up-to-date one; returns the new leader and its term (exceptions as <see cref="AddMemberAsync"/>).</summary>
    public Task<LeadershipTransferred> TransferLeadershipAsync(string? to = null, CancellationToken cancellationToken = default) =>
        ChangeMembershipAsync<LeadershipTransferred>(new TransferLeadership(to), deadline: null, cancellationToken);

    /// <summary>The configuration a node uses (the latest in its log), and the leader it knows.</summary>
    /// <exception cref="RaftUnavailableException">No node answered.</exception>
    public Task<CurrentConfiguration> GetConfigurationAsync(CancellationToken cancellationToken = default) =>
        AskAsync<CurrentConfiguration>(new SendMembershipRequest(GetClusterConfiguration.Instance), "configuration read", deadline: null, cancellationToken);

    /// <summary>
    /// An <see cref="AddMember"/>, <see cref="RemoveMember"/> or <see cref="TransferLeadership"/>,
    /// with <paramref name="deadline"/> in place of the client's (null keeps it).
    /// </summary>
    internal Task<T> ChangeMembershipAsync<T>(object change, TimeSpan? deadline, CancellationToken cancellationToken) =>
        AskAsync<T>(new SendMembershipRequest(change, deadline), change is TransferLeadership ? "leadership transfer" : "membership change", deadline, cancellationToken);

    /// <summary>
    /// Has the leader write a backup to <paramref name="path"/> on its own disk (<see cref="SendSnapshotExport"/>):
    /// <see cref="SnapshotExported"/>, or the <see cref="NotLeader"/> of a member that names a leader outside the client's members.
    /// </summary>
    internal Task<IClientReply> ExportSnapshotAsync(string path, TimeSpan deadline, CancellationToken cancellationToken) =>
        AskAsync<IClientReply>(new SendSnapshotExport(path, deadline), "snapshot export", deadline, cancellationToken);

    /// <summary>
    /// Sends <paramref name="request"/> to the actor with a <see cref="ReplyPromise"/> as its sender
    /// and awaits the one reply (no Ask: no death watch, no hop through a task). A call that stops waiting
    /// (cancelled, or the actor never answered) tells the actor, which drops the request.
    /// <paramref name="deadline"/> replaces the client's for this request (null keeps it).
    /// </summary>
    private async Task<T> AskAsync<T>(object request, string what, TimeSpan? deadline, CancellationToken cancellationToken)
    {
        var requestDeadline = deadline ?? _deadline;
        TimeSpan? askTimeout = requestDeadline == Timeout.InfiniteTimeSpan ? null : requestDeadline + AskMargin;
        var promise = new ReplyPromise(((IInternalActorRef)Actor).Provider);
        Actor.Tell(request, promise);
        object reply;
        try
        {
            reply = askTimeout is { } timeout
                ? await promise.Reply.WaitAsync(timeout, cancellationToken).ConfigureAwait(false)
                : await promise.Reply.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            promise.Release();
            Actor.Tell(new StopWaiting(promise));
            throw;
        }
        catch (TimeoutException)
        {
            promise.Release();
            Actor.Tell(new StopWaiting(promise));

            // The actor promises an answer by the deadline; only a dead or wedged actor misses it.
            var problem = $"the Raft client actor {Actor.Path} did not answer within {askTimeout}";
            var waited = askTimeout ?? TimeSpan.Zero;
            throw request switch
            {
                SendCommand command => new RaftCommandOutcomeUnknownException(command.SessionId ?? ClientId, $"The command's outcome is unknown: {problem}; it may or may not have been applied."),
                SendMembershipRequest { Request: not GetClusterConfiguration } => new RaftMembershipOutcomeUnknownException($"the {what}", 0, waited, problem),
                _ => new RaftUnavailableException($"the {what}", 0, waited, problem),
            };
        }

        return reply switch
        {
            T answer => answer,
            Status.Failure { Cause: { } cause } => throw Rethrow(cause),
            _ => throw new InvalidOperationException($"the Raft client answered a {what} with an unexpected {reply.GetType().Name}"),
        };
    }

    private static Exception Rethrow(Exception cause)
    {
        System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(cause).Throw();
        return cause; // not reached
    }
}
