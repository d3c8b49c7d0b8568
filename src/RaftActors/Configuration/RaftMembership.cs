using Akka.Actor;
using Akka.Configuration;
using Akka.Configuration.Hocon;
using RaftActors.Core;
using RaftActors.Discovery;

namespace RaftActors.Configuration;

/// <summary>How a node finds where its peers live (<c>raft.discovery</c>).</summary>
public enum RaftDiscovery
{
    /// <summary>Every member's address or actor path is in the configuration (<c>akka.actor.provider = remote</c>).</summary>
    Static,

    /// <summary>
    /// The members are Akka.Cluster members with the role <c>raft</c> and a role
    /// <c>raft-id:&lt;id&gt;</c>; a node learns where a peer lives when the cluster reports it up.
    /// </summary>
    Cluster,
}

/// <summary>
/// One member of the Raft cluster: its id and where its node actor lives. The path is null when
/// Akka.Cluster tells where the member lives (<see cref="RaftDiscovery.Cluster"/>).
/// </summary>
public sealed record RaftMember(string Id, ActorPath? Path);

/// <summary>
/// The membership as a node sees it: its own id, its peers and how it finds them. Checked when
/// made: a node listed as its own peer or an id listed twice is refused naming <c>raft.members</c>.
/// The Raft configuration is always this member list; cluster discovery only tells where each
/// listed member lives.
/// </summary>
public sealed record RaftMembership
{
    public const string DefaultActorName = "raft";

    /// <summary>Peers at fixed actor paths (<see cref="RaftDiscovery.Static"/>).</summary>
    public RaftMembership(string selfId, IReadOnlyList<RaftMember> peers)
        : this(selfId, peers, RaftDiscovery.Static, DefaultActorName)
    {
    }

    /// <param name="selfId">This node's id.</param>
    /// <param name="peers">The other members: with paths for static discovery, without for cluster discovery.</param>
    /// <param name="discovery">How the peers are found.</param>
    /// <param name="actorName">With cluster discovery, the node actor's name under <c>/user</c> on every member.</param>
    public RaftMembership(string selfId, IReadOnlyList<RaftMember> peers, RaftDiscovery discovery, string actorName)
    {
        if (string.IsNullOrWhiteSpace(selfId))
            throw new RaftConfigurationException("raft.node-id", "is missing");
        if (peers.Any(p => p.Id == selfId))
            throw new RaftConfigurationException("raft.members", $"node '{selfId}' is listed as its own peer");
        ThrowOnDuplicateIds(peers);
        if (discovery == RaftDiscovery.Static && peers.FirstOrDefault(p => p.Path is null) is { } unplaced)
            throw new RaftConfigurationException("raft.members", $"member '{unplaced.Id}' has no address or path (needed unless raft.discovery = cluster)");
        if (discovery == RaftDiscovery.Cluster && peers.FirstOrDefault(p => p.Path is not null) is { } placed)
            throw new RaftConfigurationException("raft.members", $"member '{placed.Id}' has a path, but with raft.discovery = cluster the cluster tells where members live");
        if (string.IsNullOrWhiteSpace(actorName) || !ActorPath.IsValidPathElement(actorName))
            throw new RaftConfigurationException("raft.actor-name", $"must be a valid actor name, got '{actorName}'");
        SelfId = selfId;
        Peers = peers;
        Discovery = discovery;
        ActorName = actorName;
    }

    public string SelfId { get; }

    public IReadOnlyList<RaftMember> Peers { get; }

    public RaftDiscovery Discovery { get; }

    /// <summary>The node actor's name under <c>/user</c>; with cluster discovery, a peer's node is <c>&lt;member address&gt;/user/&lt;ActorName&gt;</c>.</summary>
    public string ActorName { get; }

    /// <summary>Where this node's own actor lives, as its entry in the member list says (null under cluster discovery).</summary>
    public ActorPath? SelfPath { get; init; }

    /// <summary>
    /// <c>raft.join</c>: this node is started to join a running cluster. It starts with no
    /// configuration, never campaigns, and waits for the cluster's leader, which adds it (as a
    /// learner, then a voter), to send it the log or a snapshot; it learns the configuration from
    /// them. The member list then only says where servers live. A node with a log or a snapshot
    /// uses the configuration they hold either way.
    /// </summary>
    public bool Join { get; init; }

    /// <summary>
    /// The configuration the cluster starts with, used while neither the log nor a snapshot holds
    /// one: by default every listed member a voter, with where each lives, or nothing for a node
    /// that joins a running cluster (<see cref="Join"/>). Set it to list more servers (where they
    /// live) than start as voters.
    /// </summary>
    public ClusterConfiguration Bootstrap
    {
        get => _bootstrap ?? (Join
            ? ClusterConfiguration.Empty
            : new ClusterConfiguration(Peers.Append(new RaftMember(SelfId, SelfPath))
                .Select(m => new ClusterMember(m.Id, m.Path?.ToString(), IsVoter: true))));
        init => _bootstrap = value;
    }

    private readonly ClusterConfiguration? _bootstrap;

    /// <summary>
    /// Reads <c>raft.node-id</c>, <c>raft.discovery</c> and <c>raft.members</c>. With static
    /// discovery every member names an <c>id</c> and an <c>address</c> (its node actor then is
    /// <c>address/user/&lt;raft.actor-name&gt;</c>) or a full actor <c>path</c>; with cluster
    /// discovery only an <c>id</c>, and the ActorSystem must be a cluster member with the roles
    /// <c>raft</c> and <c>raft-id:&lt;node-id&gt;</c>. Fails naming the key when ids repeat, this
    /// node is not a member or the cluster settings do not fit.
    /// </summary>
    public static RaftMembership FromConfig(Config config)
    {
        var raft = config.WithFallback(RaftSettings.DefaultConfig);
        var selfId = HoconReader.Read(raft, "raft.node-id", c => c.GetString("raft.node-id"));
        if (string.IsNullOrWhiteSpace(selfId))
            throw new RaftConfigurationException("raft.node-id", "is missing");
        var discovery = ReadDiscovery(raft);
        if (discovery == RaftDiscovery.Cluster)
            CheckClusterSettings(raft, selfId);
        var actorName = HoconReader.Read(raft, "raft.actor-name", c => c.GetString("raft.actor-name"));
        var members = ReadMembers(raft, discovery, actorName);
        ThrowOnDuplicateIds(members);
        if (members.All(m => m.Id != selfId))
            throw new RaftConfigurationException("raft.node-id", $"'{selfId}' is not one of raft.members ({string.Join(", ", members.Select(m => m.Id))})");
        var join = HoconReader.Read(raft, "raft.join", c => c.GetBoolean("raft.join"));
        return new RaftMembership(selfId, members.Where(m => m.Id != selfId).ToList(), discovery, actorName)
        {
            SelfPath = members.First(m => m.Id == selfId).Path,
            Join = join,
        };
    }

    /// <summary>Checks a member list with paths and splits it into this node and its peers.</summary>
    public static RaftMembership Create(string selfId, IReadOnlyList<RaftMember> members)
    {
        ThrowOnDuplicateIds(members);
        if (members.All(m => m.Id != selfId))
            throw new RaftConfigurationException("raft.node-id", $"'{selfId}' is not one of raft.members ({string.Join(", ", members.Select(m => m.Id))})");
        return new RaftMembership(selfId, members.Where(m => m.Id != selfId).ToList()) { SelfPath = members.First(m => m.Id == selfId).Path };
    }

    /// <summary>
    /// Membership whose peers Akka.Cluster locates: every member, this node included, by id. The
    /// ActorSystem must have the cluster roles <c>raft</c> and <c>raft-id:&lt;selfId&gt;</c>
    /// (see <see cref="ClusterAddressBook.RolesOf"/>), and each node actor be named <paramref name="actorName"/>.
    /// </summary>
    public static RaftMembership ForCluster(string selfId, IEnumerable<string> memberIds, string actorName = DefaultActorName)
    {
        var members = memberIds.Select(id => new RaftMember(id, null)).ToList();
        ThrowOnDuplicateIds(members);
        if (members.All(m => m.Id != selfId))
            throw new RaftConfigurationException("raft.node-id", $"'{selfId}' is not one of raft.members ({string.Join(", ", members.Select(m => m.Id))})");
        return new RaftMembership(selfId, members.Where(m => m.Id != selfId).ToList(), RaftDiscovery.Cluster, actorName);
    }

    /// <summary>Reads <c>raft.discovery</c>: <c>static</c> (the default) or <c>cluster</c>.</summary>
    public static RaftDiscovery ReadDiscovery(Config config)
    {
        var value = HoconReader.Read(config, "raft.discovery", c => c.GetString("raft.discovery", "static"));
        return value switch
        {
            "static" or "" => RaftDiscovery.Static,
            "cluster" => RaftDiscovery.Cluster,
            _ => throw new RaftConfigurationException("raft.discovery", $"must be \"static\" or \"cluster\", got \"{value}\""),
        };
    }

    /// <summary>
    /// Reads <c>raft.members</c>, every entry checked and named by its index when bad. With static
    /// discovery each needs an address or a path; with cluster discovery neither is allowed.
    /// </summary>
    internal static IReadOnlyList<RaftMember> ReadMembers(Config raft, RaftDiscovery discovery, string actorName)
    {
        var entries = HoconReader.Read(raft, "raft.members", c => c.GetValue("raft.members") switch
        {
            null or { IsEmpty: true } => [],
            var v when !v.IsString() && !v.IsObject() => v.GetArray(),
            _ => throw new RaftConfigurationException("raft.members", "must be a list of { id, address } or { id, path } objects (or { id } with raft.discovery = cluster)"),
        });

        var members = new List<RaftMember>();
        for (var i = 0; i < entries.Count; i++)
        {
            var key = $"raft.members[{i}]";
            var member = HoconReader.Read(raft, key, _ => new Config(new HoconRoot(entries[i])));
            var id = HoconReader.Read(member, $"{key}.id", c => c.GetValue("id") is { } v && v.IsString() ? v.GetString() : null);
            if (string.IsNullOrWhiteSpace(id))
                throw new RaftConfigurationException($"{key}.id", "is missing");
            members.Add(new RaftMember(id, discovery == RaftDiscovery.Cluster ? NoPath(member, key) : MemberPath(member, key, actorName)));
        }

        return members;
    }

    internal static void ThrowOnDuplicateIds(IReadOnlyList<RaftMember> members)
    {
        var duplicate = members.GroupBy(m => m.Id, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
            throw new RaftConfigurationException("raft.members", $"member id '{duplicate.Key}' appears {duplicate.Count()} times");
    }

    private static ActorPath MemberPath(Config member, string key, string actorName)
    {
        var path = member.GetString("path");
        var address = member.GetString("address");
        if (!string.IsNullOrWhiteSpace(path))
            return ActorPath.TryParse(path, out var parsed)
                ? parsed
                : throw new RaftConfigurationException($"{key}.path", $"'{path}' is not an actor path");
        if (string.IsNullOrWhiteSpace(address))
            throw new RaftConfigurationException($"{key}.address", "is missing (give an address or a path, or set raft.discovery = cluster)");
        return Address.TryParse(address, out var parsedAddress)
            ? new RootActorPath(parsedAddress) / "user" / actorName
            : throw new RaftConfigurationException($"{key}.address", $"'{address}' is not an Akka address");
    }

    private static ActorPath? NoPath(Config member, string key)
    {
        foreach (var field in new[] { "address", "path" })
        {
            if (member.HasPath(field))
                throw new RaftConfigurationException(
                    $"{key}.{field}", "is not used with raft.discovery = cluster: the cluster tells where each member lives; give only the id");
        }

        return null;
    }

    /// <summary>
    /// Cluster discovery needs the cluster actor-ref provider, and this node's roles must say it
    /// is a Raft member and which one: that is how the other members find it.
    /// </summary>
    private static void CheckClusterSettings(Config config, string selfId)
    {
        var provider = HoconReader.OptionalString(config, "akka.actor.provider") ?? "";
        if (provider != "cluster" && !provider.StartsWith("Akka.Cluster.ClusterActorRefProvider", StringComparison.Ordinal))
            throw new RaftConfigurationException(
                "akka.actor.provider", $"must be \"cluster\" with raft.discovery = cluster (the nodes are Akka.Cluster members), got \"{provider}\"");
        var roles = HoconReader.Read(config, "akka.cluster.roles", c => c.HasPath("akka.cluster.roles") ? c.GetStringList("akka.cluster.roles").ToList() : []);
        ClusterAddressBook.CheckOwnRoles(selfId, roles);
    }
}
