using Akka.Actor;
using RaftActors.Core;
using RaftActors.Messages;

namespace RaftActors.Server.Http;

/// <summary>
/// Takes the HTTP API's requests to the Raft cluster through the local node (which forwards to
/// the leader) and turns the many possible answers into three outcomes: done, certainly not
/// done, or unknown. Until the request's deadline it retries whatever is safe to retry: a
/// request that certainly did nothing (no leader yet, or the node pointed at the leader), a read,
/// and a write with a client session, which applies at most once however often it is sent.
/// </summary>
public sealed class RaftGateway
{
    private readonly ActorSystem system;
    private readonly IActorRef node;
    private readonly TimeSpan requestTimeout;

    // Completed, and replaced, each time the local node learns of a leader: an attempt waiting on
    // a leader that died is given up then and sent to the new one, not left to its whole timeout.
    private TaskCompletionSource _leaderKnown = NewSignal();

    public RaftGateway(ActorSystem system, IActorRef node, TimeSpan requestTimeout)
    {
        this.system = system;
        this.node = node;
        this.requestTimeout = requestTimeout;
        var watcher = system.ActorOf(Props.Create(() => new LeaderWatcher(OnLeaderKnown)), "gateway-leader-watcher");
        system.EventStream.Subscribe(watcher, typeof(RaftStateChanged));
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private void OnLeaderKnown() => Interlocked.Exchange(ref _leaderKnown, NewSignal()).TrySetResult();

    /// <summary>The longest one attempt waits before a safe retry.</summary>
    private static readonly TimeSpan AttemptTimeout = TimeSpan.FromSeconds(1);

    private static readonly TimeSpan FirstBackoff = TimeSpan.FromMilliseconds(20);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromMilliseconds(200);

    public TimeSpan RequestTimeout => requestTimeout;

    public IActorRef Node => node;

    /// <summary>Proposes a command in its client session, so that it is resent, at most once applied, until it is done or the request's time is up.</summary>
    public Task<GatewayResult> ProposeAsync(object command, string clientId, long sequence, CancellationToken cancel) =>
        RunAsync(new ClientCommand(command, clientId, sequence), retryUnknown: true, isWrite: true, cancel);

    /// <summary>A linearizable read (ReadIndex on the leader); reads change nothing, so every failure is retried.</summary>
    public Task<GatewayResult> QueryAsync(object query, CancellationToken cancel) =>
        RunAsync(new ClientQuery(query), retryUnknown: true, isWrite: false, cancel);

    /// <summary>
    /// A membership change or a leadership transfer (<see cref="AddMember"/>, <see cref="RemoveMember"/>,
    /// <see cref="TransferLeadership"/>), forwarded to the leader. Done carries the answer
    /// (<see cref="MembershipChanged"/> or <see cref="LeadershipTransferred"/>); a refusal comes back
    /// Rejected with the <see cref="MembershipRefused"/> as its result. A change whose outcome is
    /// unknown is not sent again: a second change may be refused, or do what the first did.
    /// Adding a voter waits for it to catch up, so these get <see cref="MembershipTimeout"/>.
    /// </summary>
    public Task<GatewayResult> ChangeMembershipAsync(object request, CancellationToken cancel) =>
        RunAsync(request, retryUnknown: false, isWrite: true, cancel, MembershipTimeout);

    /// <summary>How long a membership change may take here: a new server may have a whole snapshot and log to catch up on.</summary>
    public static readonly TimeSpan MembershipTimeout = TimeSpan.FromSeconds(60);

    /// <summary>How long a backup may take here: the leader writes the whole state before it answers.</summary>
    public static readonly TimeSpan SnapshotTimeout = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Asks the local node for a backup written to <paramref name="path"/> (<see cref="ExportSnapshot"/>):
    /// Done with the <see cref="SnapshotExported"/> when this node leads. While no leader is known it
    /// asks again until the request timeout; a follower that knows the leader answers at once,
    /// Unavailable with the <see cref="NotLeader"/> as its result: the leader must be asked over
    /// its own HTTP API, since it writes the file on its own disk.
    /// </summary>
    public async Task<GatewayResult> ExportSnapshotAsync(string path, CancellationToken cancel)
    {
        var leaderDeadline = DateTime.UtcNow + requestTimeout;
        while (true)
        {
            object reply;
            try
            {
                reply = await node.Ask<object>(new ExportSnapshot(path), SnapshotTimeout, cancel);
            }
            catch (AskTimeoutException)
            {
                return GatewayResult.Unavailable($"no snapshot within {SnapshotTimeout.TotalSeconds:F0} s");
            }

            switch (reply)
            {
                case SnapshotExported exported:
                    return GatewayResult.Answered(exported);
                case NotLeader { LeaderId: null } when DateTime.UtcNow + MaxBackoff < leaderDeadline:
                    await Task.Delay(MaxBackoff, cancel); // an election is under way
                    break;
                case NotLeader notLeader:
                    return new GatewayResult(GatewayOutcome.Unavailable, 0, notLeader, notLeader.LeaderId is { } leader
                        ? $"this node is not the leader: ask {leader}, which writes the snapshot"
                        : $"no leader is known within the request timeout ({requestTimeout.TotalMilliseconds:F0} ms)");
                case RequestRejected rejected:
                    return GatewayResult.Rejected(rejected.Reason);
                default:
                    return GatewayResult.Unavailable($"unexpected reply {reply.GetType().Name}");
            }
        }
    }

    /// <summary>The configuration the local node uses, or null when it does not answer.</summary>
    public async Task<CurrentConfiguration?> ConfigurationAsync(CancellationToken cancel)
    {
        try
        {
            return await node.Ask<CurrentConfiguration>(GetClusterConfiguration.Instance, TimeSpan.FromSeconds(2), cancel);
        }
        catch (AskTimeoutException)
        {
            return null;
        }
    }

    public async Task<RaftStatus?> StatusAsync(CancellationToken cancel)
    {
        try
        {
            return await node.Ask<RaftStatus>(GetRaftStatus.Instance, TimeSpan.FromSeconds(2), cancel);
        }
        catch (AskTimeoutException)
        {
            return null;
        }
    }

    private async Task<GatewayResult> RunAsync(object request, bool retryUnknown, bool isWrite, CancellationToken cancel, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? requestTimeout);
        var backoff = FirstBackoff;
        ICanTell target = node;
        string? lastProblem = null;
        var unknown = false;
        while (true)
        {
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
                break;

            // Without a session a write is sent once it may have reached a leader, so it waits for its whole time.
            var wait = retryUnknown && left > AttemptTimeout ? AttemptTimeout : left;
            object reply;
            try
            {
                var leaderKnown = Volatile.Read(ref _leaderKnown).Task;
                var answer = target.Ask<object>(request, wait, cancel);
                if (retryUnknown && await Task.WhenAny(answer, leaderKnown) != answer)
                {
                    // A (new) leader is known while this attempt waits: it may have gone to a
                    // leader that died. Resending is safe (reads, and writes in a session).
                    unknown |= isWrite;
                    lastProblem = "the leader changed while the request waited";
                    target = node;
                    continue;
                }

                reply = await answer;
            }
            catch (Exception e) when (!cancel.IsCancellationRequested)
            {
                // No answer in time (or a failure instead of one): the request may have reached a
                // leader, forwarded by this node, and be committed later.
                unknown |= isWrite;
                lastProblem = e is AskTimeoutException ? $"no answer within {wait.TotalMilliseconds:F0} ms" : e.Message;
                if (!retryUnknown)
                    break;
                target = node;
                continue;
            }

            switch (reply)
            {
                case CommandApplied applied:
                    return GatewayResult.Applied(applied.Index, applied.Result);
                case QueryResult result:
                    return GatewayResult.Answered(result.Result);
                case CommandFailed failed:
                    return GatewayResult.Failed(failed.Index, failed.Reason);
                case MembershipChanged or LeadershipTransferred:
                    return GatewayResult.Answered(reply);
                case MembershipRefused { Reason: MembershipRefusalReason.LeaderNotReady } notReady:
                    // A new leader has not committed an entry of its term yet: it will in a round trip.
                    lastProblem = notReady.Message;
                    target = node;
                    break;
                case MembershipRefused refused:
                    return new GatewayResult(GatewayOutcome.Rejected, 0, refused, refused.Message);
                case NotLeader notLeader:
                    // Nothing was done. Send the next attempt to the leader, if it is known.
                    lastProblem = notLeader.LeaderId is null ? "no leader is known" : $"the leader {notLeader.LeaderId} did not answer";
                    target = notLeader.LeaderPath is { } path ? system.ActorSelection(path) : node;
                    break;
                case RequestRejected rejected when isWrite:
                    // Certainly not applied; for a write the reason is final (a bad command, or a session's too old).
                    return GatewayResult.Rejected(rejected.Reason);
                case RequestRejected rejected:
                    lastProblem = rejected.Reason;
                    target = node;
                    break;
                case CommandOutcomeUnknown outcomeUnknown:
                    unknown = true;
                    lastProblem = outcomeUnknown.Reason;
                    if (!retryUnknown)
                        return GatewayResult.Unknown($"{outcomeUnknown.Reason}; read the members before asking again");
                    target = node;
                    break;
                default:
                    unknown |= isWrite;
                    lastProblem = $"unexpected reply {reply.GetType().Name}";
                    target = node;
                    break;
            }

            var pause = backoff < deadline - DateTime.UtcNow ? backoff : deadline - DateTime.UtcNow;
            if (pause > TimeSpan.Zero)
                await Task.Delay(pause, cancel);
            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, MaxBackoff.Ticks));
        }

        var why = $"not done within the request timeout ({requestTimeout.TotalMilliseconds:F0} ms){(lastProblem is null ? "" : $": {lastProblem}")}";
        return unknown
            ? GatewayResult.Unknown($"{why}; the write may still be applied{(isWrite && !retryUnknown ? " (read the members before asking again)" : "")}")
            : GatewayResult.Unavailable(why);
    }
}

public enum GatewayOutcome
{
    /// <summary>The command was committed and applied, or the query answered.</summary>
    Done,

    /// <summary>The command was committed but the state machine refused it.</summary>
    Failed,

    /// <summary>Certainly not applied: refused for a reason that a retry will not change.</summary>
    Rejected,

    /// <summary>Certainly not applied: no leader could take it in time.</summary>
    Unavailable,

    /// <summary>May or may not be applied.</summary>
    Unknown,
}

public sealed record GatewayResult(GatewayOutcome Outcome, long Index, object? Result, string? Problem)
{
    public static GatewayResult Applied(long index, object? result) => new(GatewayOutcome.Done, index, result, null);

    public static GatewayResult Answered(object? result) => new(GatewayOutcome.Done, 0, result, null);

    public static GatewayResult Failed(long index, string reason) => new(GatewayOutcome.Failed, index, null, reason);

    public static GatewayResult Rejected(string reason) => new(GatewayOutcome.Rejected, 0, null, reason);

    public static GatewayResult Unavailable(string reason) => new(GatewayOutcome.Unavailable, 0, null, reason);

    public static GatewayResult Unknown(string reason) => new(GatewayOutcome.Unknown, 0, null, reason);
}

/// <summary>Tells the gateway each time the local node names a leader.</summary>
internal sealed class LeaderWatcher : ReceiveActor
{
    public LeaderWatcher(Action leaderKnown) =>
        Receive<RaftStateChanged>(change =>
        {
            if (change.LeaderId is not null)
                leaderKnown();
        });
}
