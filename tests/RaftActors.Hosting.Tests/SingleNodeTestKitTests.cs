using Akka.Actor;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using RaftActors.Client;
using RaftActors.Core;
using RaftActors.Messages;

namespace RaftActors.Hosting.Tests;

/// <summary>A single-node cluster under Akka.Hosting.TestKit: WithRaft as a user writes it, in the TestKit's own host.</summary>
public sealed class SingleNodeTestKitTests : Akka.Hosting.TestKit.TestKit
{
    private readonly string _dataDirectory = TestHosts.TempDirectory();

    public SingleNodeTestKitTests(ITestOutputHelper output)
        : base("raft-testkit", output)
    {
    }

    protected override void ConfigureServices(HostBuilderContext context, IServiceCollection services)
    {
        services.AddSingleton<CounterCreations>();
        services.AddRaftClient();
    }

    protected override void ConfigureAkka(AkkaConfigurationBuilder builder, IServiceProvider provider) => builder
        .AddHocon(TestHosts.CounterSerialization, HoconAddMode.Prepend)
        .WithRaft<Counter>(options =>
        {
            TestHosts.FastElections(options);
            options.NodeId = "n1";
            options.Members.Add(new RaftMemberOptions { Id = "n1", Path = $"akka://{ActorSystemName}/user/raft" });
            options.DataDirectory = _dataDirectory;
            options.Client = new RaftClientOptions { ClientId = "testkit-client" };
        });

    protected override async Task AfterAllAsync()
    {
        await base.AfterAllAsync();
        Directory.Delete(_dataDirectory, recursive: true);
    }

    [Fact]
    public async Task The_node_elects_itself_and_applies_commands_sent_through_the_injected_client()
    {
        var node = await ActorRegistry.GetAsync<RaftNodeKey>(TestContext.Current.CancellationToken);
        var client = Host.Services.GetRequiredService<RaftClientFacade>();

        Assert.Equal(5L, (await client.SendAsync(new Add(5), TestContext.Current.CancellationToken)).Result);
        Assert.Equal(8L, (await client.SendAsync(new Add(3), TestContext.Current.CancellationToken)).Result);
        Assert.Equal(8L, await client.QueryAsync(new GetTotal(), TestContext.Current.CancellationToken));

        var status = await node.Ask<RaftStatus>(GetRaftStatus.Instance, TestContext.Current.CancellationToken);
        Assert.Equal("testkit-client", client.ClientId); // the client runs with RaftOptions.Client
        Assert.Equal(RaftRole.Leader, status.Role);
        Assert.Equal("n1", status.LeaderId);
        Assert.Equal(client.Actor, await ActorRegistry.GetAsync<RaftClientKey>(TestContext.Current.CancellationToken));
        Assert.Equal(client.Actor, Host.Services.GetRequiredService<IRequiredActor<RaftClientKey>>().ActorRef);
        Assert.Equal(node, Host.Services.GetRequiredService<IRequiredActor<RaftNodeKey>>().ActorRef);
        // Made by the service container, once for the node's one incarnation: the instance made at
        // start to check that the container can make it is the one the node uses.
        Assert.Equal(1, Host.Services.GetRequiredService<CounterCreations>().Count);
    }
}
