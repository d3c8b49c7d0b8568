using Akka.Actor;
using RaftActors.Configuration;
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
        Assert.Equal(["n2", "n3"], peers.Ids);
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

        peers.Locate("n9", N2); // not a peer: the Raft configuration is the member list
        Assert.Equal(["n2", "n3"], peers.Ids);
    }
}
