using Akka.Actor;
using Akka.Cluster;
using RaftActors.Configuration;

namespace RaftActors.Discovery;

/// <summary>
/// Where each Raft peer lives, as Akka.Cluster membership tells it (<c>raft.discovery = cluster</c>).
/// A cluster member is a Raft member when it has the role <c>raft</c> and announces its node id
/// with a role <c>raft-id:&lt;id&gt;</c>; its node actor is <c>&lt;address&gt;/user/&lt;actor-name&gt;</c>.
/// The Raft configuration stays the configured member list: a cluster member with an id outside
/// it is ignored, never added. The book only follows membership: an unreachable member keeps its
/// place (Raft copes with lost messages and the member may come back), a removed one loses it, and
/// a newer incarnation (a restart, perhaps at another address) replaces the old one.
/// </summary>
internal sealed class ClusterAddressBook
{
    /// <summary>The role every Raft member of the cluster has.</summary>
    public const string Role = "raft";

    /// <summary>The prefix of the role that carries a member's Raft node id: <c>raft-id:n2</c>.</summary>
    public const string IdRolePrefix = "raft-id:";

    private readonly string _selfId;
    private readonly UniqueAddress? _self;
    private readonly string _actorName;
    private readonly Dictionary<string, UniqueAddress> _located = new(StringComparer.Ordinal);

    /// <param name="selfId">This node's id.</param>
    /// <param name="self">This node's own cluster address (a member claiming this node's id elsewhere is a misconfiguration).</param>
    /// <param name="actorName">The node actor's name under <c>/user</c> on every member.</param>
    /// <remarks>
    /// Every cluster member announcing a Raft id is located, listed in <c>raft.members</c> or not:
    /// the Raft configuration, which membership changes extend, says which ids count.
    /// </remarks>
    public ClusterAddressBook(string selfId, UniqueAddress? self, string actorName)
    {
        _selfId = selfId;
        _self = self;
        _actorName = actorName;
    }

    /// <summary>The cluster roles of the Raft member <paramref name="nodeId"/>: <c>raft</c> and <c>raft-id:&lt;id&gt;</c>.</summary>
    public static IReadOnlyList<string> RolesOf(string nodeId) => [Role, IdRolePrefix + nodeId];

    /// <summary>The ids announced by <c>raft-id:</c> roles among <paramref name="roles"/>.</summary>
    public static IReadOnlyList<string> IdRolesIn(IEnumerable<string> roles) =>
        roles.Where(r => r.StartsWith(IdRolePrefix, StringComparison.Ordinal)).Select(r => r[IdRolePrefix.Length..]).ToList();

    /// <summary>
    /// Checks that this node's own cluster roles announce it as the Raft member it is: the role
    /// <c>raft</c> and exactly one <c>raft-id:</c> role, with its id. Fails naming <c>akka.cluster.roles</c>.
    /// </summary>
    public static void CheckOwnRoles(string selfId, IReadOnlyCollection<string> roles)
    {
        var expected = RolesOf(selfId);
        if (expected.Any(role => !roles.Contains(role)) || IdRolesIn(roles).Count != 1)
            throw new RaftConfigurationException(
                "akka.cluster.roles",
                $"must contain \"{expected[0]}\" and \"{expected[1]}\" (and no other raft-id role), by which the other members find this node; got [{string.Join(", ", roles)}]");
    }

    /// <summary>Where the peer lives now, or null while no cluster member up announces it.</summary>
    public ActorPath? PathOf(string peerId) =>
        _located.TryGetValue(peerId, out var member) ? PathAt(member.Address) : null;

    /// <summary>
    /// A member is up (or weakly up). Returns the change to tell the node, if any; a member that
    /// claims an id wrongly is ignored and <paramref name="problem"/> says why (for the log).
    /// </summary>
    public PeerLocated? MemberUp(UniqueAddress member, IEnumerable<string> roles, out string? problem)
    {
        problem = null;
        var roleList = roles.ToList();
        if (!roleList.Contains(Role))
            return null; // not a Raft member: an application's other node, a client
        var ids = IdRolesIn(roleList);
        if (ids.Count != 1)
        {
            problem = $"cluster member {member.Address} has the role '{Role}' but {(ids.Count == 0 ? "no" : "several")} '{IdRolePrefix}<id>' roles: ignored";
            return null;
        }

        var id = ids[0];
        if (id == _selfId)
        {
            if (_self is not null && !member.Equals(_self))
                problem = $"cluster member {member.Address} claims this node's id '{id}': ignored (two nodes must not share an id)";
            return null;
        }

        if (_located.TryGetValue(id, out var known) && known.Equals(member))
            return null; // seen already (the initial state, then the event)
        _located[id] = member;
        return new PeerLocated(id, PathAt(member.Address));
    }

    /// <summary>A member left the cluster (removed, or exiting): the peer it housed is no longer known to live anywhere.</summary>
    public PeerLocated? MemberGone(UniqueAddress member)
    {
        var id = _located.FirstOrDefault(kv => kv.Value.Equals(member)).Key;
        if (id is null)
            return null; // not a peer, or already replaced by a newer incarnation
        _located.Remove(id);
        return new PeerLocated(id, null);
    }

    private ActorPath PathAt(Address address) => new RootActorPath(address) / "user" / _actorName;
}

/// <summary>Tells the node where a peer lives now; a null path means nowhere known (messages to it are dropped).</summary>
internal sealed record PeerLocated(string PeerId, ActorPath? Path);
