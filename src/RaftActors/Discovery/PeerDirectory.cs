using System.Diagnostics.CodeAnalysis;
using Akka.Actor;
using RaftActors.Configuration;
using RaftActors.Core;

namespace RaftActors.Discovery;

/// <summary>
/// Where a node reaches each other server: at the path this node's own <c>raft.members</c> gives
/// (static discovery; the operator's word wins), else at the path the configuration in the log
/// gives (servers added by membership changes), wherever the cluster last located it (cluster
/// discovery; <see cref="Locate"/>), or, for a server none of these names, at the sender of its
/// last request (a leader that a joining node has not heard of yet). A server with no known place
/// has no reference: what the node sends it is dropped, and Raft sends again.
/// </summary>
internal sealed class PeerDirectory
{
    private readonly Func<ActorPath, ICanTell> _resolve;
    private readonly Dictionary<string, (ActorPath Path, ICanTell Ref)> _places = new(StringComparer.Ordinal);
    private readonly HashSet<string> _listed = new(StringComparer.Ordinal);

    /// <param name="peers">The configured peers, with paths under static discovery and without under cluster discovery.</param>
    /// <param name="resolve">Makes a reference to the actor at a path.</param>
    public PeerDirectory(IEnumerable<RaftMember> peers, Func<ActorPath, ICanTell> resolve)
    {
        _resolve = resolve;
        foreach (var peer in peers)
        {
            if (peer.Path is { } path)
            {
                Place(peer.Id, path);
                _listed.Add(peer.Id);
            }
        }
    }

    /// <summary>The server's actor path, or null if where it lives is not known.</summary>
    public ActorPath? PathOf(string peerId) => _places.TryGetValue(peerId, out var place) ? place.Path : null;

    /// <summary>A reference to the server, when its place is known.</summary>
    public bool TryGet(string peerId, [NotNullWhen(true)] out ICanTell? peer)
    {
        peer = _places.TryGetValue(peerId, out var place) ? place.Ref : null;
        return peer is not null;
    }

    /// <summary>The cluster says the server lives at <paramref name="path"/> now, or nowhere known (null).</summary>
    public void Locate(string peerId, ActorPath? path)
    {
        if (path is null)
            _places.Remove(peerId);
        else
            Place(peerId, path);
    }

    /// <summary>
    /// The members of a configuration live where it says (those with an address that parses as an
    /// actor path), unless this node's own member list places them.
    /// </summary>
    public void Configure(ClusterConfiguration configuration, string selfId)
    {
        foreach (var member in configuration.Members)
        {
            if (member.Id != selfId && !_listed.Contains(member.Id) && member.Address is { } address && ActorPath.TryParse(address, out var path) && path is not null)
                Place(member.Id, path);
        }
    }

    /// <summary>A server whose place is not known sent a request from <paramref name="sender"/>: answers go there.</summary>
    public void Learn(string peerId, IActorRef sender)
    {
        if (!_places.ContainsKey(peerId) && !sender.IsNobody())
            _places[peerId] = (sender.Path, sender);
    }

    private void Place(string peerId, ActorPath path)
    {
        if (!_places.TryGetValue(peerId, out var known) || !known.Path.Equals(path))
            _places[peerId] = (path, _resolve(path));
    }
}
