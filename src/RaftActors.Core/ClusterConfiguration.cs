namespace RaftActors.Core;

/// <summary>
/// One server of a Raft cluster's configuration: its id, where its node lives (as its host writes
/// it: RaftNode uses the node actor's path; null when Akka.Cluster tells where it lives), and
/// whether it votes. A learner (<see cref="IsVoter"/> false) receives the log and snapshots but
/// never votes, never campaigns, and counts for no majority.
/// </summary>
public sealed record ClusterMember(string Id, string? Address, bool IsVoter)
{
    public override string ToString() => $"{Id}{(IsVoter ? "" : " (learner)")}";
}

/// <summary>
/// The servers of a Raft cluster and which of them vote (Raft thesis §4.1). A configuration is an
/// entry in the log; each server uses the latest configuration in its log, committed or not.
/// Members are kept in id order, so two configurations with the same members are equal.
/// </summary>
public sealed class ClusterConfiguration : IEquatable<ClusterConfiguration>
{
    private readonly Dictionary<string, ClusterMember> _byId;

    public ClusterConfiguration(IEnumerable<ClusterMember> members)
    {
        ArgumentNullException.ThrowIfNull(members);
        var list = members.OrderBy(m => m.Id, StringComparer.Ordinal).ToList();
        _byId = new Dictionary<string, ClusterMember>(StringComparer.Ordinal);
        foreach (var member in list)
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(member.Id);
            if (!_byId.TryAdd(member.Id, member))
                throw new ArgumentException($"member id '{member.Id}' appears twice in a configuration", nameof(members));
        }

        Members = list;
        Voters = list.Where(m => m.IsVoter).Select(m => m.Id).ToList();
    }

    /// <summary>No members: a server started to join a cluster knows none until a leader tells it.</summary>
    public static readonly ClusterConfiguration Empty = new([]);

    /// <summary>A configuration in which every listed server votes, as a cluster starts.</summary>
    public static ClusterConfiguration OfVoters(IEnumerable<string> ids) => new(ids.Select(id => new ClusterMember(id, null, IsVoter: true)));

    public IReadOnlyList<ClusterMember> Members { get; }

    /// <summary>The ids of the voting members, in id order.</summary>
    public IReadOnlyList<string> Voters { get; }

    public ClusterMember? Find(string id) => _byId.GetValueOrDefault(id);

    public bool IsMember(string id) => _byId.ContainsKey(id);

    public bool IsVoter(string id) => _byId.TryGetValue(id, out var member) && member.IsVoter;

    /// <summary>The smallest number of voters that is a majority of this configuration's voters.</summary>
    public int Majority => Quorum.Majority(Math.Max(1, Voters.Count));

    /// <summary>This configuration with <paramref name="member"/> added, or in place of the member of the same id.</summary>
    public ClusterConfiguration With(ClusterMember member) => new(Members.Where(m => m.Id != member.Id).Append(member));

    /// <summary>This configuration without the member <paramref name="id"/>.</summary>
    public ClusterConfiguration Without(string id) => new(Members.Where(m => m.Id != id));

    public bool Equals(ClusterConfiguration? other) => other is not null && Members.SequenceEqual(other.Members);

    public override bool Equals(object? obj) => Equals(obj as ClusterConfiguration);

    public override int GetHashCode() => Members.Aggregate(Members.Count, (hash, m) => HashCode.Combine(hash, m));

    public override string ToString() => Members.Count == 0 ? "{}" : "{" + string.Join(", ", Members) + "}";
}
