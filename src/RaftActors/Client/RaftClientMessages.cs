using Akka.Actor;
using RaftActors.Messages;

namespace RaftActors.Client;

/// <summary>
/// Asks a <see cref="RaftClient"/> to have <see cref="Command"/> applied by the cluster. The client
/// gives it the session's next sequence number and retries it, with that same number, until a
/// definite answer or its deadline. The sender gets exactly one reply: <see cref="CommandApplied"/>,
/// or <see cref="Status.Failure"/> with a <see cref="RaftCommandFailedException"/>,
/// <see cref="RaftRequestRejectedException"/>, <see cref="RaftCommandOutcomeUnknownException"/> or
/// <see cref="RaftUnavailableException"/>.
/// With <see cref="SessionId"/> the command is instead the first and only command of that session
/// (sequence 1), retried there. <see cref="Deadline"/> replaces the client's
/// <see cref="RaftClientOptions.Deadline"/> for this command.
/// </summary>
internal sealed record SendCommand(object Command, string? SessionId = null, TimeSpan? Deadline = null);

/// <summary>
/// Asks a <see cref="RaftClient"/> for the leader's linearizable answer to <see cref="Query"/>.
/// The sender gets exactly one reply: <see cref="QueryResult"/>, or <see cref="Status.Failure"/> with a
/// <see cref="RaftRequestRejectedException"/> or <see cref="RaftUnavailableException"/>.
/// <see cref="Deadline"/> replaces the client's <see cref="RaftClientOptions.Deadline"/> for this query.
/// </summary>
internal sealed record SendQuery(object Query, TimeSpan? Deadline = null);

/// <summary>
/// Asks a <see cref="RaftClient"/> to take <see cref="Request"/> — an <see cref="AddMember"/>,
/// <see cref="RemoveMember"/>, <see cref="TransferLeadership"/> or
/// <see cref="GetClusterConfiguration"/> — to the leader (the configuration to any node). A change
/// is sent again only where it certainly did nothing (not the leader; a leader not ready yet), and
/// gets the whole deadline for its answer (adding a voter waits for it to catch up). The sender
/// gets exactly one reply: <see cref="MembershipChanged"/>, <see cref="LeadershipTransferred"/> or
/// <see cref="CurrentConfiguration"/>, or <see cref="Status.Failure"/> with a
/// <see cref="RaftMembershipRefusedException"/>, <see cref="RaftRequestRejectedException"/>,
/// <see cref="RaftMembershipOutcomeUnknownException"/> or <see cref="RaftUnavailableException"/>.
/// <see cref="Deadline"/> replaces the client's <see cref="RaftClientOptions.Deadline"/> for this request.
/// </summary>
internal sealed record SendMembershipRequest(object Request, TimeSpan? Deadline = null);

/// <summary>
/// Asks a <see cref="RaftClient"/> to have the leader write a backup to <see cref="Path"/>
/// (<see cref="ExportSnapshot"/>), a path on the leader's own disk. It goes only to the client's
/// members: a client of one member asks that node alone. A member that knows no leader is asked
/// again after a backoff; the attempt that reaches the leader gets the whole deadline (the leader
/// writes the whole state before it answers) and is not sent twice. The sender gets exactly one
/// reply: <see cref="SnapshotExported"/>; the <see cref="NotLeader"/> of a member that names a
/// leader outside the members; or <see cref="Status.Failure"/> with a
/// <see cref="RaftRequestRejectedException"/> (the file could not be written) or
/// <see cref="RaftUnavailableException"/>.
/// </summary>
internal sealed record SendSnapshotExport(string Path, TimeSpan? Deadline = null);

/// <summary>Asks a <see cref="RaftClient"/> for its <see cref="RaftClientStatus"/>.</summary>
public sealed class GetRaftClientStatus
{
    public static readonly GetRaftClientStatus Instance = new();

    private GetRaftClientStatus()
    {
    }
}

/// <summary>
/// A <see cref="RaftClient"/>'s view: its session, the node it believes leads, and its requests —
/// <see cref="InFlight"/> waiting for a node's answer, <see cref="BackingOff"/> waiting to retry,
/// <see cref="Queued"/> commands waiting for older ones to finish (see <see cref="RaftClientOptions.MaxCommandsInFlight"/>).
/// <see cref="ClientId"/> is the session in use: the options' client id, or, once the cluster
/// forgot that session, the id with a "/n" suffix.
/// </summary>
public sealed record RaftClientStatus(
    string ClientId,
    long LastSequence,
    ActorPath? Leader,
    int InFlight,
    int BackingOff,
    int Queued,
    long AttemptsMade);

/// <summary>
/// Tells a <see cref="RaftClient"/> that <see cref="Requester"/> no longer waits for its requests
/// (a <see cref="RaftClientFacade"/> call was cancelled or gave up): they are dropped, as those of a
/// requester that terminated.
/// </summary>
internal sealed record StopWaiting(IActorRef Requester);
