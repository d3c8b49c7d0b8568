using System.Text.Json;

namespace RaftActors.IntegrationTests;

/// <summary>`raftctl bench` loads a cluster of server processes and reports what it measured.</summary>
public sealed class BenchProcessTests(ITestOutputHelper output)
{
    private static readonly TimeSpan StartupBound = TimeSpan.FromSeconds(30);

    [Fact(Timeout = 120_000)]
    public async Task Bench_writes_then_reads_and_reports_rates_percentiles_and_status_codes()
    {
        using var cluster = new TestCluster(output);
        cluster.StartAll();
        await cluster.WaitForAgreedLeaderAsync(cluster.Nodes, StartupBound);

        foreach (var operation in new[] { "put", "get" })
        {
            var json = Path.Combine(cluster.Root, $"{operation}.json");
            var run = await Raftctl.RunAsync(cluster, cluster.Nodes,
                "bench", operation, "--conns", "4", "--seconds", "1", "--warmup", "0.5", "--keys", "8", "--payload", "64", "--json", json);
            cluster.Log($"raftctl bench {operation}: {run}");
            Assert.True(run.ExitCode == 0, $"raftctl bench {operation}: {run}");
            Assert.Contains("requests/s", run.Output);
            Assert.Contains("p99.9", run.Output);

            using var result = JsonDocument.Parse(File.ReadAllText(json));
            var root = result.RootElement;
            Assert.Equal(operation, root.GetProperty("Operation").GetString());
            Assert.Equal("RaftActors", root.GetProperty("Api").GetString());
            var requests = root.GetProperty("Requests").GetInt64();
            Assert.True(requests > 0, $"{operation}: no request was measured");
            Assert.Equal(requests, root.GetProperty("Statuses").GetProperty("200").GetInt64());
            Assert.True(root.GetProperty("P50Ms").GetDouble() <= root.GetProperty("P99Ms").GetDouble());
        }

        // Every value the reads found is one the writes left: 64 bytes.
        var read = await cluster.GetAsync(0, "bench-0-0");
        Assert.Equal(new string('x', 64), read.Json.GetProperty("value").GetString());
    }
}
