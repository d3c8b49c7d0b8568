using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace RaftActors.IntegrationTests;

/// <summary>Three server processes: each exports its node's raft series on GET /metrics; raftctl shows them, and the status as JSON.</summary>
public sealed class MetricsProcessTests(ITestOutputHelper output)
{
    private static readonly TimeSpan StartupBound = TimeSpan.FromSeconds(30);

    [Fact(Timeout = 120_000)]
    public async Task Each_server_exports_its_raft_series_on_GET_metrics_and_raftctl_shows_them()
    {
        using var cluster = new TestCluster(output);
        cluster.StartAll();
        var leader = await cluster.WaitForAgreedLeaderAsync(cluster.Nodes, StartupBound);
        var leaderNode = cluster.IndexOf(leader.Id);
        for (var i = 0; i < 3; i++)
            Assert.Equal(200, (await cluster.PutAsync(leaderNode, $"key-{i}", "value", idempotencyKey: $"metrics-{i}")).Status);
        leader = await cluster.WaitForAgreedLeaderAsync(cluster.Nodes, StartupBound);

        foreach (var node in cluster.Nodes)
        {
            var id = cluster.Servers[node].Id;
            using var response = await cluster.Http(node).GetAsync("/metrics");
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.IsSuccessStatusCode, $"GET /metrics on {id}: {(int)response.StatusCode} {text}");
            Assert.StartsWith("text/plain", response.Content.Headers.ContentType?.MediaType);
            cluster.Log($"{id} /metrics raft series:\n" + string.Join('\n', text.Split('\n').Where(l => l.StartsWith("raftactors_raft_"))));

            Assert.True(Value(text, "raft_node_term", id) >= leader.Term, $"{id}'s term");
            Assert.True(Value(text, "raft_log_commit_index", id) >= 4, $"{id}'s commit index: a no-op and three writes");
            Assert.Equal(id == leader.Id ? 1 : 0, Value(text, "raft_node_role", id, "raft_role=\"leader\""));
            Assert.Contains("raftactors_raft_storage_write_duration_bucket{", text);

            // ASP.NET Core's request series are there; its per-buffer memory pool and per-match routing series are not.
            Assert.Contains("microsoft_aspnetcore_hosting_http_server_request_duration", text);
            Assert.DoesNotContain("memory_pool", text);
            Assert.DoesNotContain("aspnetcore_routing", text);
            if (id == leader.Id)
                Assert.True(Value(text, "raft_proposals", id, "raft_proposal_outcome=\"applied\"") >= 3, "the leader's applied proposals");
        }

        var table = await Raftctl.RunAsync(cluster, cluster.Nodes, "metrics");
        Assert.True(table.ExitCode == 0 && cluster.Servers.All(s => table.Output.Contains(s.Id)), table.ToString());
        Assert.True(Regex.IsMatch(table.Output, @"│ role\s+│.*leader.*│") && Regex.IsMatch(table.Output, @"│ proposals applied\s+│.*[3-9]"), table.ToString());

        var raw = await Raftctl.RunAsync(cluster, cluster.Nodes, "metrics", "--raw", "--node", "2");
        Assert.True(raw.ExitCode == 0 && raw.Output.Contains($"raft_node_id=\"{cluster.Servers[1].Id}\"") && raw.Output.Contains("# TYPE raftactors_raft_node_term gauge"), raw.ToString());

        var json = await Raftctl.RunAsync(cluster, cluster.Nodes, "status", "-o", "json");
        Assert.True(json.ExitCode == 0, json.ToString());
        using var document = JsonDocument.Parse(json.Output);
        var nodes = document.RootElement.EnumerateArray().ToList();
        Assert.Equal(cluster.Servers.Select(s => s.Id).Order(), nodes.Select(n => n.GetProperty("node").GetString()!).Order());
        Assert.All(nodes, n => Assert.True(n.GetProperty("up").GetBoolean()));
        Assert.Single(nodes, n => n.GetProperty("role").GetString() == "Leader");
        Assert.All(nodes, n => Assert.True(n.GetProperty("commitIndex").GetInt64() >= 4, n.ToString()));
    }

    /// <summary>The value of the series <paramref name="name"/> of node <paramref name="id"/> (with <paramref name="label"/> too, when given).</summary>
    private static double Value(string text, string name, string id, string? label = null)
    {
        foreach (Match sample in Regex.Matches(text, $@"^raftactors_{name}\{{(?<labels>[^}}]*)\}} (?<value>\S+)", RegexOptions.Multiline))
        {
            var labels = sample.Groups["labels"].Value;
            if (labels.Contains($"raft_node_id=\"{id}\"") && (label is null || labels.Contains(label)))
                return double.Parse(sample.Groups["value"].Value, CultureInfo.InvariantCulture);
        }

        throw new Xunit.Sdk.XunitException($"no {name} series for {id}{(label is null ? "" : $" with {label}")} in:\n{text}");
    }
}
