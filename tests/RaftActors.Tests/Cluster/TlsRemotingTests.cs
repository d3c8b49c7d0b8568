using Akka.Actor;
using Akka.Configuration;
using Akka.Remote;
using Xunit.Abstractions;

namespace RaftActors.Tests.Cluster;

/// <summary>
/// Akka.Remote over TLS (DotNetty's ssl settings, a certificate made for the run): three nodes
/// elect and replicate; a system without TLS cannot reach them.
/// </summary>
[Collection(RemoteClusterCollection.Name)]
public sealed class TlsRemotingTests(ITestOutputHelper output)
{
    private static readonly TimeSpan LeaderBound = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan CommitBound = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task Three_nodes_over_TLS_elect_a_leader_and_replicate_a_command()
    {
        using var certificate = TestCertificate.Create();
        await using var cluster = await LocalRemoteCluster.StartAsync(
            3, LocalRemoteCluster.NewTestSeed(), output, new LocalClusterOptions { Config = ConfigurationFactory.ParseString(certificate.TlsHocon) });
        Assert.All(cluster.NodeIds, id => Assert.Equal("akka.ssl.tcp", ((ExtendedActorSystem)cluster.SystemOf(id)).Provider.DefaultAddress.Protocol));

        var leader = await cluster.ExpectAgreedLeaderAsync(LeaderBound, aboveTerm: 0, "after the start of 3 TLS nodes");
        await cluster.ExpectCommittedEverywhereAsync(leader.NodeId, "over TLS", CommitBound);
        cluster.AssertSafety();
    }

    [Fact]
    public async Task A_system_without_TLS_cannot_reach_a_TLS_node()
    {
        using var certificate = TestCertificate.Create();
        await using var cluster = await LocalRemoteCluster.StartAsync(
            1, LocalRemoteCluster.NewTestSeed(), output, new LocalClusterOptions { Config = ConfigurationFactory.ParseString(certificate.TlsHocon) });
        var tlsAddress = ((ExtendedActorSystem)cluster.SystemOf("n1")).Provider.DefaultAddress;
        var node = new RootActorPath(tlsAddress) / "user" / LocalRemoteCluster.ActorName;

        // A TLS system reaches the node: the check below can tell success from failure.
        var tlsClient = ActorSystem.Create("client", ConfigurationFactory.ParseString(certificate.TlsHocon).WithFallback(LocalRemoteCluster.NodeConfig));
        var plainClient = ActorSystem.Create("client", LocalRemoteCluster.NodeConfig);
        try
        {
            var identity = await tlsClient.ActorSelection(node).Ask<ActorIdentity>(new Identify(1), TimeSpan.FromSeconds(10));
            Assert.NotNull(identity.Subject);

            // The plain system dials the same host and port without TLS: the association fails.
            var failed = new TaskCompletionSource<AssociationErrorEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
            var watcher = plainClient.ActorOf(Props.Create(() => new AssociationErrorWatcher(failed)));
            plainClient.EventStream.Subscribe(watcher, typeof(AssociationErrorEvent));
            var plainPath = new RootActorPath(new Address("akka.tcp", tlsAddress.System, tlsAddress.Host, tlsAddress.Port)) / "user" / LocalRemoteCluster.ActorName;
            var answer = plainClient.ActorSelection(plainPath).Ask<ActorIdentity>(new Identify(2), TimeSpan.FromSeconds(15));

            var error = await failed.Task.WaitAsync(TimeSpan.FromSeconds(15));
            output.WriteLine($"plain association failed as expected: {error}");
            Assert.Equal(tlsAddress.Port, error.RemoteAddress.Port);
            ActorIdentity? reached = null;
            var outcome = await Record.ExceptionAsync(async () => reached = await answer);
            Assert.True(outcome is AskTimeoutException || reached is { Subject: null }, $"the plain system reached the TLS node: {outcome?.ToString() ?? reached?.ToString()}");
        }
        finally
        {
            await Task.WhenAll(tlsClient.Terminate(), plainClient.Terminate());
        }
    }

    private sealed class AssociationErrorWatcher : ReceiveActor
    {
        public AssociationErrorWatcher(TaskCompletionSource<AssociationErrorEvent> failed) =>
            Receive<AssociationErrorEvent>(e => failed.TrySetResult(e));
    }
}
