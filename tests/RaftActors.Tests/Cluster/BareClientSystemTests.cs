using Akka.Actor;
using Akka.Configuration;
using RaftActors.Client;
using RaftActors.Configuration;
using Xunit.Abstractions;

namespace RaftActors.Tests.Cluster;

/// <summary>
/// A client in an application's own ActorSystem, created with Akka's defaults only (not
/// RaftActors'): the client brings the Raft serializers itself, so its commands reach the cluster
/// in the protocol's format rather than in Akka's JSON fallback, which the nodes refuse.
/// </summary>
[Collection(RemoteClusterCollection.Name)]
public sealed class BareClientSystemTests(ITestOutputHelper output)
{
    private static readonly TimeSpan LeaderBound = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task A_client_in_a_system_without_RaftActors_config_commits_a_command()
    {
        await using var cluster = await LocalRemoteCluster.StartAsync(3, LocalRemoteCluster.NewTestSeed(), output);
        await cluster.ExpectAgreedLeaderAsync(LeaderBound, aboveTerm: 0, "after the start");
        var members = cluster.NodeIds.Select(id =>
        {
            var address = ((ExtendedActorSystem)cluster.SystemOf(id)).Provider.DefaultAddress;
            return new RaftMember(id, new RootActorPath(address) / "user" / LocalRemoteCluster.ActorName);
        }).ToList();

        using var application = ActorSystem.Create("application", ConfigurationFactory.ParseString("""
            akka.actor.provider = remote
            akka.remote.dot-netty.tcp { hostname = "127.0.0.1", port = 0 }
            """));
        var client = RaftClientFacade.Start(application, members);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));

        var applied = await client.SendAsync("from an application's own system", timeout.Token);

        Assert.True(applied.Index > 0);
        await application.Terminate();
    }
}
