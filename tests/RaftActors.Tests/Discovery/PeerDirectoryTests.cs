using Akka.Actor;
using RaftActors.Configuration;
using RaftActors.Core;
using RaftActors.Discovery;

namespace RaftActors.Tests.Discovery;

/// <summary>How a node reaches its peers: fixed paths, or wherever the cluster last located them.</summary>
public class PeerDirectoryTests
{
    private sealed record FakeRef(ActorPath Path) : ICanTell
    {
        public void Tell(object message, IActorRef sender)
        {
        }
    }

    private static readonly ActorPath N2 = ActorPath.Parse("akka.tcp://raft@127.0.0.1:4052/user/raft");

    [Fact]
    public void Static_peers_are_reachable_at_once()
    {
        var peers = new PeerDirectory([new RaftMember("n2", N2)], path => new FakeRef(path));

        Assert.True(peers.TryGet("n2", out var peer));
        Assert.Equal(N2, ((FakeRef)peer).Path);
        Assert.Equal(N2, peers.PathOf("n2"));
        Assert.False(peers.TryGet("n9", out _));
    }

    [Fact]
    public void Cluster_peers_are_unreachable_until_located_and_again_after_they_leave()
    {
        var peers = new PeerDirectory([new RaftMember("n2", null), new RaftMember("n3", null)], path => new FakeRef(path));
        Assert.False(peers.TryGet("n2", out _));
        Assert.Null(peers.PathOf("n2"));

        peers.Locate("n2", N2);
        Assert.True(peers.TryGet("n2", out var peer));
        Assert.Equal(N2, ((FakeRef)peer).Path);

        var moved = ActorPath.Parse("akka.tcp://raft@127.0.0.1:4062/user/raft");
        peers.Locate("n2", moved);
        Assert.Equal(moved, peers.PathOf("n2"));

        peers.Locate("n2", null);
        Assert.False(peers.TryGet("n2", out _));

        peers.Locate("n9", N2); // a server a membership change may add: reachable once located
        Assert.Equal(N2, peers.PathOf("n9"));
    }

    // A membership change appends a configuration with the new member's path: the node reaches it
    // there. A member this node's own list places stays where the list says (the operator's word).
    [Fact]
    public void Members_of_a_configuration_are_reachable_where_it_says_unless_the_member_list_places_them()
    {
        var peers = new PeerDirectory([new RaftMember("n2", N2)], path => new FakeRef(path));
        var n4 = ActorPath.Parse("akka.tcp://raft@127.0.0.1:4054/user/raft");

        peers.Configure(new ClusterConfiguration([
            new ClusterMember("n1", "akka.tcp://raft@127.0.0.1:4051/user/raft", true),
            new ClusterMember("n2", "akka.tcp://raft@10.0.0.2:4052/user/raft", true),
            new ClusterMember("n4", n4.ToSerializationFormat(), false),
        ]), selfId: "n1");

        Assert.Equal(n4, peers.PathOf("n4"));
        Assert.Equal(N2, peers.PathOf("n2"));
        Assert.Null(peers.PathOf("n1")); // itself
    }

    // A joining node hears from a leader it has no address for: it answers where the request came from,
    // until a configuration or the cluster says where the leader lives.
    [Fact]
    public void A_server_with_no_known_place_is_answered_at_its_last_senders_reference()
    {
        var peers = new PeerDirectory([], path => new FakeRef(path));
        var sender = new FakeActorRef(N2);

        peers.Learn("n2", sender);

        Assert.True(peers.TryGet("n2", out var peer));
        Assert.Same(sender, peer);
        peers.Learn("n2", new FakeActorRef(ActorPath.Parse("akka.tcp://raft@127.0.0.1:4099/user/raft")));
        Assert.True(peers.TryGet("n2", out var still));
        Assert.Same(sender, still); // a known place is kept
    }

    private sealed class FakeActorRef(ActorPath path) : MinimalActorRef
    {
        public override ActorPath Path { get; } = path;

        public override IActorRefProvider Provider => throw new NotSupportedException();
    }
}
