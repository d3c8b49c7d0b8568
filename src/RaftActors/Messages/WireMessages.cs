using RaftActors.Core;

namespace RaftActors.Messages;

/// <summary>
/// A Raft RPC or reply to a peer in another process, written in wire version <see cref="Version"/>
/// (<see cref="WireVersions.Announced"/> or later), with the highest version its sender reads. The
/// sender chooses the version (the serializer does not know the recipient): the highest both read,
/// once the peer announced one. To a peer that has announced nothing, messages go bare, in
/// <see cref="WireVersions.Unversioned"/>, which every release reads.
/// </summary>
public sealed record VersionedPeerMessage(IRaftProtocolMessage Message, int Version, int SenderHighestVersion);

/// <summary>
/// A node telling a peer the highest wire version it reads, sent to a peer in another process that
/// writes to it without a version. <see cref="Answer"/>: sent in return for the peer's own
/// announcement (never answered again, so two nodes exchange one each). A node of a release before
/// <see cref="WireVersions.Announced"/> cannot read it and drops it.
/// </summary>
public sealed record WireVersionAnnouncement(string NodeId, int HighestVersion, bool Answer = false);

/// <summary>Asks a node for its <see cref="WireVersionStatus"/>.</summary>
public sealed class GetWireVersions
{
    public static readonly GetWireVersions Instance = new();

    private GetWireVersions()
    {
    }
}

/// <summary>
/// What a node knows of wire versions: the highest it reads (<see cref="Own"/>), the cluster's
/// (the lowest any member of its configuration announced: what features the leader may use), and
/// each peer's announcement.
/// </summary>
public sealed record WireVersionStatus(string NodeId, int Own, int Cluster, IReadOnlyDictionary<string, int> Peers);
