using System.Diagnostics.CodeAnalysis;
using Akka.Actor;
using RaftActors.Configuration;

namespace RaftActors.Discovery;

/// <summary>
/// How a node reaches each of its peers: a fixed path each (static discovery), or wherever the
/// cluster last located it (cluster discovery; <see cref="Locate"/>). A peer not located yet has
/// no reference: what the node sends it is dropped, and Raft sends again.
/// </summary>
public sealed class PeerDirectory
{
    private readonly Func<ActorPath, ICanTell> _resolve;
    private readonly Dictionary<string, (ActorPath Path, ICanTell Ref)?> _peers;

    /// <param name="peers">The peers, with paths under static discovery and without under cluster discovery.</param>
    /// <param name="resolve">Makes a reference to the actor at a path.</param>
    public PeerDirectory(IEnumerable<RaftMember> peers, Func<ActorPath, ICanTell> resolve)
    {
        _resolve = resolve;
        _peers = peers.ToDictionary(
            p => p.Id,
            p => p.Path is { } path ? (path, resolve(path)) : ((ActorPath, ICanTell)?)null,
            StringComparer.Ordinal);
    }

    public IReadOnlyCollection<string> Ids => _peers.Keys;

    /// <summary>The peer's actor path, or null if it is not a peer or not located.</summary>
    public ActorPath? PathOf(string peerId) => _peers.GetValueOrDefault(peerId)?.Path;

    /// <summary>A reference to the peer, when it is a peer and its location is known.</summary>
    public bool TryGet(string peerId, [NotNullWhen(true)] out ICanTell? peer)
    {
        peer = _peers.GetValueOrDefault(peerId)?.Ref;
        return peer is not null;
    }

    /// <summary>The peer lives at <paramref name="path"/> now, or nowhere known (null). Ids that are not peers are ignored.</summary>
    public void Locate(string peerId, ActorPath? path)
    {
        if (_peers.ContainsKey(peerId))
            _peers[peerId] = path is null ? null : (path, _resolve(path));
    }
}
