using RaftActors.Core;

namespace RaftActors.Messages;

/// <summary>
/// Asks the leader to add the server <see cref="Id"/>, whose node lives at <see cref="Address"/>
/// (an Akka address such as <c>akka.tcp://raft@host:4054</c>, or the node actor's full path; none
/// with <c>raft.discovery = cluster</c>). With <see cref="Promote"/> (the default) it joins as a
/// learner and becomes a voter once it has caught up with the leader's log; without, it stays a
/// learner. An existing learner is promoted. Answered <see cref="MembershipChanged"/> once the
/// final configuration is committed, <see cref="MembershipRefused"/> when it did not happen,
/// <see cref="NotLeader"/>, or <see cref="CommandOutcomeUnknown"/> when leadership was lost midway.
/// The server to add runs with <c>raft.join = on</c>, so that it waits for the leader to contact it.
/// </summary>
public sealed record AddMember(string Id, string? Address, bool Promote = true);

/// <summary>
/// Asks the leader to remove the member <see cref="Id"/>, voter or learner. Answered as
/// <see cref="AddMember"/> is; a leader that removes itself answers, then steps down and hands over.
/// </summary>
public sealed record RemoveMember(string Id);

/// <summary>
/// Asks the leader to hand its leadership to the voter <see cref="To"/>, or to the most up-to-date
/// other voter when null (Raft thesis §3.10). Answered <see cref="LeadershipTransferred"/> once a
/// new leader is known, or <see cref="MembershipRefused"/> (not a voter, or not done within an
/// election timeout: the old leader leads on).
/// </summary>
public sealed record TransferLeadership(string? To = null);

/// <summary>Asks any node for the configuration it uses; answered with <see cref="CurrentConfiguration"/>.</summary>
public sealed class GetClusterConfiguration
{
    public static readonly GetClusterConfiguration Instance = new();

    private GetClusterConfiguration()
    {
    }
}

/// <summary>A membership change is done: <see cref="Configuration"/>, at log entry <see cref="Index"/>, is committed.</summary>
public sealed record MembershipChanged(long Index, ClusterConfiguration Configuration) : IClientReply;

/// <summary>The leader refused a membership request or a transfer, for <see cref="Reason"/>: it certainly did not take effect.</summary>
public sealed record MembershipRefused(MembershipRefusalReason Reason, string Message) : IClientReply;

/// <summary>Leadership moved: <see cref="LeaderId"/> leads term <see cref="Term"/>.</summary>
public sealed record LeadershipTransferred(string LeaderId, long Term) : IClientReply;

/// <summary>
/// A node's configuration: the latest in its log (<see cref="Index"/>, 0 for the one the cluster
/// started with), whether it is known committed, and the leader the node knows.
/// </summary>
public sealed record CurrentConfiguration(string NodeId, string? LeaderId, ClusterConfiguration Configuration, long Index, bool Committed) : IClientReply;

/// <summary>
/// Published on the ActorSystem's EventStream, and sent to a node's subscribers, whenever the
/// configuration a node uses changes (a change appended or undone) or is committed.
/// </summary>
public sealed record RaftConfigurationChanged(string NodeId, ClusterConfiguration Configuration, long Index, bool Committed);
