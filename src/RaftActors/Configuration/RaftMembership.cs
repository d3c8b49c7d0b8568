using Akka.Actor;
using Akka.Configuration;
using Akka.Configuration.Hocon;

namespace RaftActors.Configuration;

/// <summary>One member of the Raft cluster: its id and where its node actor lives.</summary>
public sealed record RaftMember(string Id, ActorPath Path);

/// <summary>
/// The membership as a node sees it: its own id and its peers. Checked when made: a node
/// listed as its own peer or an id listed twice is refused naming <c>raft.members</c>.
/// </summary>
public sealed record RaftMembership
{
    public RaftMembership(string selfId, IReadOnlyList<RaftMember> peers)
    {
        if (string.IsNullOrWhiteSpace(selfId))
            throw new RaftConfigurationException("raft.node-id", "is missing");
        if (peers.Any(p => p.Id == selfId))
            throw new RaftConfigurationException("raft.members", $"node '{selfId}' is listed as its own peer");
        ThrowOnDuplicateIds(peers);
        SelfId = selfId;
        Peers = peers;
    }

    public string SelfId { get; }

    public IReadOnlyList<RaftMember> Peers { get; }

    /// <summary>
    /// Reads <c>raft.node-id</c> and <c>raft.members</c>. Every member names an <c>id</c> and an
    /// <c>address</c> (its node actor then is <c>address/user/&lt;raft.actor-name&gt;</c>) or a full
    /// actor <c>path</c>. Fails naming the key when ids repeat or this node is not a member.
    /// </summary>
    public static RaftMembership FromConfig(Config config)
    {
        var raft = config.WithFallback(RaftSettings.DefaultConfig);
        var selfId = HoconReader.Read(raft, "raft.node-id", c => c.GetString("raft.node-id"));
        if (string.IsNullOrWhiteSpace(selfId))
            throw new RaftConfigurationException("raft.node-id", "is missing");
        var actorName = HoconReader.Read(raft, "raft.actor-name", c => c.GetString("raft.actor-name"));
        var entries = HoconReader.Read(raft, "raft.members", c => c.GetValue("raft.members") switch
            {
                null or { IsEmpty: true } => [],
                var v when !v.IsString() && !v.IsObject() => v.GetArray(),
                _ => throw new RaftConfigurationException("raft.members", "must be a list of { id, address } or { id, path } objects"),
            });

        var members = new List<RaftMember>();
        for (var i = 0; i < entries.Count; i++)
        {
            var key = $"raft.members[{i}]";
            var member = HoconReader.Read(raft, key, _ => new Config(new HoconRoot(entries[i])));
            var id = HoconReader.Read(member, $"{key}.id", c => c.GetValue("id") is { } v && v.IsString() ? v.GetString() : null);
            if (string.IsNullOrWhiteSpace(id))
                throw new RaftConfigurationException($"{key}.id", "is missing");
            members.Add(new RaftMember(id, MemberPath(member, key, actorName)));
        }

        return Create(selfId, members);
    }

    /// <summary>Checks a member list and splits it into this node and its peers.</summary>
    public static RaftMembership Create(string selfId, IReadOnlyList<RaftMember> members)
    {
        ThrowOnDuplicateIds(members);
        if (members.All(m => m.Id != selfId))
            throw new RaftConfigurationException("raft.node-id", $"'{selfId}' is not one of raft.members ({string.Join(", ", members.Select(m => m.Id))})");
        return new RaftMembership(selfId, members.Where(m => m.Id != selfId).ToList());
    }

    private static void ThrowOnDuplicateIds(IReadOnlyList<RaftMember> members)
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
            throw new RaftConfigurationException($"{key}.address", "is missing (give an address or a path)");
        return Address.TryParse(address, out var parsedAddress)
            ? new RootActorPath(parsedAddress) / "user" / actorName
            : throw new RaftConfigurationException($"{key}.address", $"'{address}' is not an Akka address");
    }
}
