using Akka.Actor;
using Akka.Event;
using RaftActors.Configuration;
using RaftActors.Node;
using RaftActors.Storage;

namespace RaftActors.Tests.Discovery;

/// <summary>A node under cluster discovery in a system that is no cluster member refuses to start, naming the key.</summary>
public sealed class ClusterDiscoveryNodeTests : Akka.TestKit.Xunit2.TestKit
{
    [Fact]
    public void A_node_with_cluster_discovery_in_a_system_without_the_cluster_provider_stops_naming_akka_actor_provider()
    {
        var errors = CreateTestProbe();
        Sys.EventStream.Subscribe(errors, typeof(Error));

        var node = Sys.ActorOf(RaftNode.Props(RaftMembership.ForCluster("n1", ["n1", "n2", "n3"]), RaftSettings.Default, new InMemoryRaftStorage()));
        Watch(node);

        var error = errors.FishForMessage<Error>(e => e.Cause is ActorInitializationException);
        var cause = Assert.Single(Causes(error.Cause).OfType<RaftConfigurationException>());
        Assert.Equal("akka.actor.provider", cause.Key);
        ExpectTerminated(node);
    }

    private static IEnumerable<Exception> Causes(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
            yield return e;
    }
}
