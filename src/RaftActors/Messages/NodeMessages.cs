using Akka.Actor;
using RaftActors.Core;

namespace RaftActors.Messages;

/// <summary>Asks a node for its <see cref="RaftStatus"/>.</summary>
public sealed class GetRaftStatus
{
    public static readonly GetRaftStatus Instance = new();

    private GetRaftStatus()
    {
    }
}

/// <summary>
/// A node's view of the cluster: its role, term, the leader it knows, its vote in this term, how
/// far its log reaches, is known committed and is applied, the last entry (index and term) its
/// latest snapshot covers (0 and 0 before the first), whether it votes in the configuration it
/// uses (a learner, a removed server or one still joining does not), and, once a write to its
/// stable storage failed, why (<see cref="StorageFailure"/>): such a node takes part in nothing
/// more and reports itself as a follower that knows no leader. <see cref="RaftReadiness.Of"/>
/// says whether the node is ready to serve.
/// </summary>
public sealed record RaftStatus(
    string NodeId,
    RaftRole Role,
    long Term,
    string? LeaderId,
    string? VotedFor,
    long LastLogIndex = 0,
    long CommitIndex = 0,
    long LastApplied = 0,
    long SnapshotIndex = 0,
    long SnapshotTerm = 0,
    bool IsVoter = true,
    string? StorageFailure = null);

/// <summary>
/// Published on the ActorSystem's EventStream, and sent to subscribers, whenever a node's role,
/// term or known leader changes.
/// </summary>
public sealed record RaftStateChanged(string NodeId, RaftRole Role, long Term, string? LeaderId, RaftStatus Previous);

/// <summary>
/// Subscribes <paramref name="Subscriber"/> to the node's <see cref="RaftStateChanged"/> events; it
/// first receives the current <see cref="RaftStatus"/>, so it misses nothing in between.
/// </summary>
public sealed record SubscribeRaftEvents(IActorRef Subscriber);

/// <summary>Ends a <see cref="SubscribeRaftEvents"/>; a terminated subscriber is dropped by itself.</summary>
public sealed record UnsubscribeRaftEvents(IActorRef Subscriber);
