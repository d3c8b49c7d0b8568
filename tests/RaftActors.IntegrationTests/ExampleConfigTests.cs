using RaftActors.Tests.Cluster;

namespace RaftActors.IntegrationTests;

/// <summary>
/// The example configs in hocon/ run as they are (on free ports): Akka.Cluster discovery, five
/// members, TLS; and the server takes seven members the same way. Each cluster of server
/// processes elects a leader, commits a write through a follower and reads it through every node.
/// </summary>
public sealed class ExampleConfigTests(ITestOutputHelper output)
{
    // Several processes start at once on two cores; a cluster forms within a few gossip rounds after.
    private static readonly TimeSpan StartupBound = TimeSpan.FromSeconds(60);

    [Theory(Timeout = 150_000)]
    [InlineData("cluster")]
    [InlineData("five")]
    public async Task An_example_cluster_elects_commits_and_serves_reads_on_every_node(string directory)
    {
        using var cluster = TestCluster.FromExampleConfigs(output, directory);
        await ElectCommitAndReadAsync(cluster);
    }

    [Fact(Timeout = 150_000)]
    public async Task The_TLS_example_elects_commits_and_serves_reads_on_every_node()
    {
        using var certificate = TestCertificate.Create();
        using var cluster = TestCluster.FromExampleConfigs(output, "tls", text => text
            .Replace("\"hocon/tls/raft-node.pfx\"", $"\"{certificate.Path}\"")
            .Replace("\"changeit\"", $"\"{certificate.Password}\""));
        Assert.Contains("akka.ssl.tcp://", File.ReadAllText(cluster.Servers[0].ConfigFile));

        await ElectCommitAndReadAsync(cluster);
    }

    [Fact(Timeout = 150_000)]
    public async Task Seven_members_elect_commit_and_serve_reads_on_every_node()
    {
        using var cluster = new TestCluster(output, size: 7);
        await ElectCommitAndReadAsync(cluster);
    }

    private static async Task ElectCommitAndReadAsync(TestCluster cluster)
    {
        cluster.StartAll();
        var leader = await cluster.WaitForAgreedLeaderAsync(cluster.Nodes, StartupBound);
        var follower = cluster.Nodes.First(n => cluster.Servers[n].Id != leader.Id);

        var put = await cluster.PutAsync(follower, "greeting", "hello");
        Assert.True(put.Status == 200, $"PUT through {cluster.Servers[follower].Id}: {put}");
        foreach (var node in cluster.Nodes)
        {
            var get = await cluster.GetAsync(node, "greeting");
            Assert.True(get.Status == 200 && get.Json.GetProperty("value").GetString() == "hello", $"GET through {cluster.Servers[node].Id}: {get}");
        }
    }
}
