using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using RaftActors.Configuration;

namespace RaftActors.Discovery;

/// <summary>
/// A node's child under cluster discovery: follows Akka.Cluster membership and tells its parent
/// where each peer lives (<see cref="PeerLocated"/>) as members with the role <c>raft</c> come up
/// and leave. Reachability is not its business: an unreachable peer keeps its place and Raft
/// copes with the messages it loses.
/// </summary>
internal sealed class ClusterMemberLocator : ReceiveActor
{
    private readonly Akka.Cluster.Cluster _cluster;
    private readonly ClusterAddressBook _book;
    private readonly ILoggingAdapter _log = Context.GetLogger();

    public ClusterMemberLocator(RaftMembership membership)
    {
        _cluster = JoinedCluster(Context.System, membership);
        _book = new ClusterAddressBook(membership.SelfId, _cluster.SelfUniqueAddress, membership.ActorName);

        Receive<ClusterEvent.MemberUp>(up => Up(up.Member));
        Receive<ClusterEvent.MemberWeaklyUp>(up => Up(up.Member));
        Receive<ClusterEvent.MemberRemoved>(removed => Tell(_book.MemberGone(removed.Member.UniqueAddress)));
        Receive<ClusterEvent.IMemberEvent>(_ => { }); // joining, leaving, exiting, downed: nothing changes until up or removed
    }

    public static Props Props(RaftMembership membership) => Akka.Actor.Props.Create(() => new ClusterMemberLocator(membership));

    /// <summary>
    /// The system's cluster, checked to suit cluster discovery: the cluster provider, and this
    /// node's roles announcing it as the Raft member it is. Fails naming the key otherwise.
    /// </summary>
    public static Akka.Cluster.Cluster JoinedCluster(ActorSystem system, RaftMembership membership)
    {
        if (((ExtendedActorSystem)system).Provider is not IClusterActorRefProvider)
            throw new RaftConfigurationException(
                "akka.actor.provider", $"must be \"cluster\" with raft.discovery = cluster (the nodes are Akka.Cluster members), got {system.Settings.ProviderClass}");
        var cluster = Akka.Cluster.Cluster.Get(system);
        ClusterAddressBook.CheckOwnRoles(membership.SelfId, cluster.SelfRoles);
        return cluster;
    }

    protected override void PreStart() =>
        _cluster.Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents, typeof(ClusterEvent.IMemberEvent));

    protected override void PostStop() => _cluster.Unsubscribe(Self);

    private void Up(Member member)
    {
        var located = _book.MemberUp(member.UniqueAddress, member.Roles, out var problem);
        if (problem is not null)
            _log.Warning(problem);
        Tell(located);
    }

    private void Tell(PeerLocated? change)
    {
        if (change is null)
            return;
        if (change.Path is null)
            _log.Info("Raft peer {0} left the cluster; messages to it are dropped until it is up again", change.PeerId);
        else
            _log.Info("Raft peer {0} is at {1}", change.PeerId, change.Path);
        Context.Parent.Tell(change);
    }
}
