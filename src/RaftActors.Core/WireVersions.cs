namespace RaftActors.Core;

/// <summary>
/// The versions of the format in which Raft nodes write their messages to each other. A node
/// reads every version from <see cref="Unversioned"/> to <see cref="Highest"/>, and writes to a
/// peer the highest version both read.
/// </summary>
/// <remarks>
/// <para>A feature that nodes of an older version cannot read (a new message field, a new
/// <c>LogEntryFormat</c> flag) gets a constant here naming the version that first reads it
/// (raising <see cref="Highest"/> when it is above every version so far), and the leader uses the
/// feature only when <see cref="RaftProtocol.MayUse"/> says every member of the configuration
/// announced that version. Entries outlive the configuration they were written under, so a
/// cluster that used a feature cannot go back to a version without it.</para>
/// </remarks>
public static class WireVersions
{
    /// <summary>Each message as its fields alone, with no version and no announcement (the format of the first release).</summary>
    public const int Unversioned = 1;

    /// <summary>Peer messages in an envelope that names the version it is written in and the highest the sender reads.</summary>
    public const int Announced = 2;

    /// <summary>
    /// <c>LogEntryFormat</c>'s session fields (the leader's time stamp and its client session policy),
    /// which a node of version 1 refuses as unknown flags: the node's <c>RaftProtocol.StampEntries</c>.
    /// </summary>
    public const int EntrySessionFields = Announced;

    /// <summary>
    /// <c>LogEntryFormat</c>'s minimum idle age in a session policy (flag bit 5), which a node of
    /// version 2 refuses as an unknown flag: the node's <c>RaftProtocol.SessionMinIdle</c>.
    /// </summary>
    public const int SessionMinIdle = 3;

    /// <summary>
    /// <c>ReadIndexRequest</c> and <c>ReadIndexResult</c>, which a node of version 3 does not know: a
    /// follower serves linearizable reads itself once its leader reads them; until then it forwards them.
    /// </summary>
    public const int FollowerReads = 4;

    /// <summary>The highest version this build reads and writes.</summary>
    public const int Highest = FollowerReads;
}

/// <summary>
/// The wire version each peer announced, and from them the cluster's version: the lowest version
/// any member of a configuration reads (etcd's "cluster version"). A peer that announced nothing
/// counts as <see cref="WireVersions.Unversioned"/>, so a member not heard from yet holds the
/// cluster version down and no feature reaches a node that cannot read it.
/// </summary>
internal sealed class PeerWireVersions
{
    /// <summary>How long a node waits before announcing its version again to a peer that still writes to it without one.</summary>
    public static readonly TimeSpan AnnounceInterval = TimeSpan.FromSeconds(5);

    private readonly Dictionary<string, int> _announced = new(StringComparer.Ordinal);
    private readonly Dictionary<string, TimeSpan> _announcedTo = new(StringComparer.Ordinal);

    public PeerWireVersions(int own = WireVersions.Highest)
    {
        if (own < WireVersions.Unversioned)
            throw new ArgumentOutOfRangeException(nameof(own), own, $"a wire version is at least {WireVersions.Unversioned}");
        Own = own;
    }

    /// <summary>The highest version this node reads.</summary>
    public int Own { get; }

    /// <summary>The highest version <paramref name="peerId"/> announced; <see cref="WireVersions.Unversioned"/> if none.</summary>
    public int Of(string peerId) => _announced.GetValueOrDefault(peerId, WireVersions.Unversioned);

    /// <summary>The version to write to <paramref name="peerId"/>: the highest both read.</summary>
    public int ToWrite(string peerId) => Math.Min(Own, Of(peerId));

    /// <summary>Records that <paramref name="peerId"/> reads up to <paramref name="highest"/>; true if that is news.</summary>
    public bool Learn(string peerId, int highest)
    {
        if (highest < WireVersions.Unversioned)
            highest = WireVersions.Unversioned;
        if (_announced.TryGetValue(peerId, out var known) && known == highest)
            return false;
        _announced[peerId] = highest;
        return true;
    }

    /// <summary>
    /// <paramref name="peerId"/> wrote without a version: it does not know this node's version (it
    /// restarted, or missed the announcement) or it reads none (an older release, perhaps one it was
    /// rolled back to). Either way what it announced before no longer holds. Returns whether to
    /// announce this node's version to it now: not more often than <see cref="AnnounceInterval"/>,
    /// since a peer of an older release logs every announcement it cannot read.
    /// </summary>
    public bool HeardUnversioned(string peerId, TimeSpan now)
    {
        _announced.Remove(peerId);
        if (_announcedTo.TryGetValue(peerId, out var last) && now - last < AnnounceInterval)
            return false;
        _announcedTo[peerId] = now;
        return true;
    }

    /// <summary>The lowest version the members of <paramref name="configuration"/> read; this node counts with <see cref="Own"/>.</summary>
    public int ClusterVersion(ClusterConfiguration configuration, string selfId)
    {
        var version = Own;
        foreach (var member in configuration.Members)
        {
            if (member.Id != selfId)
                version = Math.Min(version, Of(member.Id));
        }

        return version;
    }

    /// <summary>The announced version of every peer that announced one.</summary>
    public IReadOnlyDictionary<string, int> Announced => _announced;
}
