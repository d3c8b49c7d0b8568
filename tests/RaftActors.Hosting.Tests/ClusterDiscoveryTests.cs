using Akka.Actor;
using Akka.Configuration;
using Akka.Hosting;
using Akka.Remote.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using RaftActors.Client;
using RaftActors.Configuration;

namespace RaftActors.Hosting.Tests;

/// <summary>Under cluster discovery the configuration says where no member lives: the client starts from the local node.</summary>
public class ClusterDiscoveryTests
{
    [Fact]
    public async Task A_node_found_through_akka_cluster_serves_the_injected_client()
    {
        var port = LoopbackPorts.Free();
        var host = new HostBuilder()
            .ConfigureServices(services =>
            {
                services.AddSingleton<CounterCreations>();
                services.AddRaftClient();
                services.AddAkka("raft", (builder, _) => builder
                    .AddHocon(TestHosts.CounterSerialization, HoconAddMode.Prepend)
                    // As Akka.Cluster.Hosting's WithClustering does it: the provider chosen by a setup, not by HOCON.
                    .WithActorRefProvider(ProviderSelection.Cluster.Instance)
                    .AddHocon(ConfigurationFactory.ParseString(
                        $"akka.cluster {{ roles = [raft, \"raft-id:n1\"], seed-nodes = [\"{TestHosts.Address(port)}\"] }}"), HoconAddMode.Prepend)
                    .WithRemoting("127.0.0.1", port)
                    .WithRaft<Counter>(options =>
                    {
                        TestHosts.FastElections(options);
                        options.NodeId = "n1";
                        options.Discovery = RaftDiscovery.Cluster;
                        options.Members.Add(new RaftMemberOptions("n1"));
                        options.InMemoryStorage = true;
                    }));
            })
            .Build();
        await host.StartAsync(TestContext.Current.CancellationToken);
        try
        {
            var client = host.Services.GetRequiredService<RaftClientFacade>();

            Assert.Equal(6L, (await client.SendAsync(new Add(6), TestContext.Current.CancellationToken)).Result);
        }
        finally
        {
            using var bound = new CancellationTokenSource(TestHosts.Bound);
            await host.StopAsync(bound.Token);
            host.Dispose();
        }
    }
}
