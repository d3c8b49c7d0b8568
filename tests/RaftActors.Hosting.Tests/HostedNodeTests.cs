using Akka.Actor;
using Akka.Configuration;
using Akka.Hosting;
using Akka.Remote;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using RaftActors.Client;
using RaftActors.Configuration;
using RaftActors.Core;
using RaftActors.Storage;

namespace RaftActors.Hosting.Tests;

/// <summary>Nodes in generic hosts: restart from the data directory, three hosts, start failures, health.</summary>
public class HostedNodeTests : IDisposable
{
    private readonly string _dataRoot = TestHosts.TempDirectory();

    public void Dispose() => Directory.Delete(_dataRoot, recursive: true);

    private static async Task StopAsync(IHost host)
    {
        using var bound = new CancellationTokenSource(TestHosts.Bound);
        await host.StopAsync(bound.Token);
        host.Dispose();
    }

    private static void SingleNode(RaftOptions options, int port, string dataDirectory)
    {
        options.NodeId = "n1";
        options.Members.Add(new RaftMemberOptions("n1", TestHosts.Address(port)));
        options.DataDirectory = dataDirectory;
    }

    [Fact]
    public async Task A_restarted_host_recovers_the_applied_state_from_its_data_directory()
    {
        var port = LoopbackPorts.Free();
        var dataDirectory = Path.Combine(_dataRoot, "n1");

        var first = TestHosts.Build(port, o => SingleNode(o, port, dataDirectory));
        await first.StartAsync(TestContext.Current.CancellationToken);
        var client = first.Services.GetRequiredService<RaftClientFacade>();
        Assert.Equal(5L, (await client.SendAsync(new Add(5), TestContext.Current.CancellationToken)).Result);
        Assert.Equal(12L, (await client.SendAsync(new Add(7), TestContext.Current.CancellationToken)).Result);
        await StopAsync(first); // closes the store: the second host could not open the directory otherwise

        var second = TestHosts.Build(port, o => SingleNode(o, port, dataDirectory));
        await second.StartAsync(TestContext.Current.CancellationToken);
        try
        {
            var recovered = second.Services.GetRequiredService<RaftClientFacade>();
            Assert.Equal(12L, await recovered.QueryAsync(new GetTotal(), TestContext.Current.CancellationToken));
            Assert.Equal(13L, (await recovered.SendAsync(new Add(1), TestContext.Current.CancellationToken)).Result);
        }
        finally
        {
            await StopAsync(second);
        }
    }

    [Fact]
    public async Task A_node_configured_by_hocon_alone_starts_and_applies()
    {
        var port = LoopbackPorts.Free();
        var hocon = ConfigurationFactory.ParseString($$"""
            raft {
              node-id = n1
              members = [ { id = n1, address = "{{TestHosts.Address(port)}}" } ]
              data-dir = "{{Path.Combine(_dataRoot, "n1")}}"
            }
            """);
        var host = TestHosts.Build<Counter>(port, _ => { }, hocon);
        await host.StartAsync(TestContext.Current.CancellationToken);
        try
        {
            var applied = await host.Services.GetRequiredService<RaftClientFacade>().SendAsync(new Add(4), TestContext.Current.CancellationToken);
            Assert.Equal(4L, applied.Result);
            Assert.True(File.Exists(Path.Combine(_dataRoot, "n1", FileRaftStorage.HardStateFileName)), "the store is in raft.data-dir");
        }
        finally
        {
            await StopAsync(host);
        }
    }

    [Fact]
    public async Task A_state_machine_factory_is_given_the_hosts_services_and_its_state_machine_applies()
    {
        var port = LoopbackPorts.Free();
        var made = new List<Counter>();
        var host = TestHosts.Build(port, o => SingleNode(o, port, Path.Combine(_dataRoot, "n1")), createStateMachine: services =>
        {
            var counter = new Counter(services.GetRequiredService<CounterCreations>());
            lock (made)
                made.Add(counter);
            return counter;
        });
        await host.StartAsync(TestContext.Current.CancellationToken);
        try
        {
            var applied = await host.Services.GetRequiredService<RaftClientFacade>().SendAsync(new Add(6), TestContext.Current.CancellationToken);

            Assert.Equal(6L, applied.Result);
            lock (made)
            {
                var counter = Assert.Single(made);
                Assert.Equal(6L, counter.Query(new GetTotal()));
            }

            Assert.Equal(1, host.Services.GetRequiredService<CounterCreations>().Count);
        }
        finally
        {
            await StopAsync(host);
        }
    }

    [Fact]
    public async Task Three_hosts_in_one_process_elect_one_leader_and_replicate()
    {
        var ports = LoopbackPorts.Free(3);
        void Cluster(RaftOptions options, int i)
        {
            options.NodeId = $"n{i + 1}";
            for (var m = 0; m < ports.Length; m++)
                options.Members.Add(new RaftMemberOptions($"n{m + 1}", TestHosts.Address(ports[m])));
            options.DataDirectory = Path.Combine(_dataRoot, $"n{i + 1}");
        }

        var hosts = Enumerable.Range(0, 3).Select(i => TestHosts.Build(ports[i], o => Cluster(o, i))).ToList();
        await Task.WhenAll(hosts.Select(h => h.StartAsync(TestContext.Current.CancellationToken)));
        try
        {
            var statuses = await TestHosts.EventuallyAsync(async () =>
            {
                var all = await Task.WhenAll(hosts.Select(TestHosts.StatusAsync));
                var leaders = all.Where(s => s.Role == RaftRole.Leader).ToList();
                return leaders.Count == 1 && all.All(s => s.LeaderId == leaders[0].NodeId && s.Term == leaders[0].Term) ? all : null;
            }, "one leader that all three nodes know, in one term");
            var follower = hosts[Array.FindIndex(statuses, s => s.Role != RaftRole.Leader)];

            var applied = await follower.Services.GetRequiredService<RaftClientFacade>().SendAsync(new Add(3), TestContext.Current.CancellationToken);

            Assert.Equal(3L, applied.Result);
            await TestHosts.EventuallyAsync(async () =>
            {
                var all = await Task.WhenAll(hosts.Select(TestHosts.StatusAsync));
                return all.All(s => s.LastApplied >= applied.Index) ? all : null;
            }, $"every node applied entry {applied.Index}");
        }
        finally
        {
            await Task.WhenAll(hosts.Select(StopAsync));
        }
    }

    [Fact]
    public async Task Readiness_is_unhealthy_until_a_leader_is_known_and_liveness_holds_throughout()
    {
        var ports = LoopbackPorts.Free(2);
        void Pair(RaftOptions options, int i)
        {
            options.NodeId = $"n{i + 1}";
            options.Members.Add(new RaftMemberOptions("n1", TestHosts.Address(ports[0])));
            options.Members.Add(new RaftMemberOptions("n2", TestHosts.Address(ports[1])));
            options.InMemoryStorage = true;
        }

        var first = TestHosts.Build(ports[0], o => Pair(o, 0));
        await first.StartAsync(TestContext.Current.CancellationToken);
        IHost? second = null;
        try
        {
            var health = first.Services.GetRequiredService<HealthCheckService>();

            // Alone, n1 cannot win an election (two voters): live, not ready.
            var alone = await health.CheckHealthAsync(TestContext.Current.CancellationToken);
            Assert.Equal(HealthStatus.Healthy, alone.Entries["raft-live"].Status);
            Assert.Equal(HealthStatus.Unhealthy, alone.Entries["raft-ready"].Status);
            Assert.Contains("no leader", alone.Entries["raft-ready"].Description);

            second = TestHosts.Build(ports[1], o => Pair(o, 1));
            await second.StartAsync(TestContext.Current.CancellationToken);

            var ready = await TestHosts.EventuallyAsync(async () =>
            {
                var report = await health.CheckHealthAsync(r => r.Tags.Contains(RaftHostingExtensions.ReadyTag), TestContext.Current.CancellationToken);
                return report.Status == HealthStatus.Healthy ? report : null;
            }, "n1 ready once n2 is up and a leader is elected");
            Assert.Contains("leader", ready.Entries["raft-ready"].Description);
            Assert.Contains("raft", ready.Entries["raft-ready"].Tags);
        }
        finally
        {
            await StopAsync(first);
            if (second is not null)
                await StopAsync(second);
        }
    }

    [Fact]
    public async Task Liveness_is_unhealthy_once_the_node_actor_has_stopped()
    {
        var port = LoopbackPorts.Free();
        var host = TestHosts.Build(port, o => { SingleNode(o, port, ""); o.DataDirectory = null; o.InMemoryStorage = true; });
        await host.StartAsync(TestContext.Current.CancellationToken);
        try
        {
            var health = host.Services.GetRequiredService<HealthCheckService>();
            Assert.Equal(HealthStatus.Healthy, (await health.CheckHealthAsync(TestContext.Current.CancellationToken)).Entries["raft-live"].Status);

            await host.Services.GetRequiredService<ActorRegistry>().Get<RaftNodeKey>().GracefulStop(TestHosts.Bound);

            var report = await health.CheckHealthAsync(r => r.Tags.Contains(RaftHostingExtensions.LiveTag), TestContext.Current.CancellationToken);
            Assert.Equal(HealthStatus.Unhealthy, report.Entries["raft-live"].Status);
        }
        finally
        {
            await StopAsync(host);
        }
    }

    [Theory]
    [InlineData("heartbeat", "raft.heartbeat-interval", "RaftOptions.HeartbeatInterval")]
    [InlineData("member-id", "raft.members[1].id", "RaftOptions.Members[1].Id")]
    [InlineData("data-dir", "raft.data-dir", "RaftOptions.DataDirectory")]
    [InlineData("node-id", "raft.node-id", "RaftOptions.NodeId")]
    public async Task A_bad_option_fails_the_start_naming_its_key_and_the_option(string bad, string key, string option)
    {
        var port = LoopbackPorts.Free();
        var host = TestHosts.Build(port, o =>
        {
            SingleNode(o, port, Path.Combine(_dataRoot, "n1"));
            switch (bad)
            {
                case "heartbeat": o.HeartbeatInterval = TimeSpan.FromMilliseconds(200); break; // more than half of 300 ms
                case "member-id": o.Members.Add(new RaftMemberOptions { Address = TestHosts.Address(port + 1) }); break;
                case "data-dir": o.DataDirectory = null; break;
                case "node-id": o.NodeId = "n9"; break;
            }
        });

        var error = await Assert.ThrowsAsync<RaftConfigurationException>(() => host.StartAsync(TestContext.Current.CancellationToken));

        Assert.Equal(key, error.Key);
        Assert.StartsWith(key + ": ", error.Message);
        Assert.Contains(option, error.Message);
        host.Dispose();
        Assert.False(Directory.Exists(Path.Combine(_dataRoot, "n1")), "no storage is opened for a node whose settings are refused");
    }

    [Fact]
    public async Task The_file_storage_options_reach_the_store()
    {
        var port = LoopbackPorts.Free();
        var host = TestHosts.Build(port, o =>
        {
            SingleNode(o, port, Path.Combine(_dataRoot, "n1"));
            o.FileStorage = new FileRaftStorageOptions { SegmentSize = FileRaftStorageOptions.MinimumSegmentSize - 1 };
        });

        var error = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => host.StartAsync(TestContext.Current.CancellationToken));

        Assert.Equal(nameof(FileRaftStorageOptions.SegmentSize), error.ParamName);
        host.Dispose();
    }

    [Fact]
    public async Task A_state_machine_the_container_cannot_make_fails_the_start_naming_it()
    {
        var port = LoopbackPorts.Free();
        var host = TestHosts.Build<NeedsAnUnregisteredService>(port, o => SingleNode(o, port, Path.Combine(_dataRoot, "n1")));

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync(TestContext.Current.CancellationToken));

        Assert.Contains(typeof(NeedsAnUnregisteredService).FullName!, error.Message);
        Assert.Contains(nameof(Uri), error.Message);
        host.Dispose();
    }

    [Fact]
    public async Task The_actor_system_starts_with_raft_defaults_beneath_the_remoting_settings()
    {
        var port = LoopbackPorts.Free();
        var host = TestHosts.Build(port, o => { SingleNode(o, port, ""); o.DataDirectory = null; o.InMemoryStorage = true; });
        await host.StartAsync(TestContext.Current.CancellationToken);
        try
        {
            // What Akka.Remote read when it started (the system's config can gain fallbacks later).
            var remote = ((RemoteActorRefProvider)((ExtendedActorSystem)host.Services.GetRequiredService<ActorSystem>()).Provider).RemoteSettings;
            Assert.False(remote.UsePassiveConnections);
            var tcp = remote.Config.GetConfig("akka.remote.dot-netty.tcp");
            Assert.False(tcp.GetBoolean("tcp-reuse-addr"));
            Assert.Equal(port, tcp.GetInt("port"));
            Assert.Equal("RaftActors.Serialization.RaftProtocolSerializer, RaftActors", remote.Config.GetString("akka.actor.serializers.raft-protocol"));
        }
        finally
        {
            await StopAsync(host);
        }
    }
}
