using System.Diagnostics;
using System.Net.Http;
using System.Text;

namespace RaftActors.IntegrationTests;

/// <summary>
/// Failover as an HTTP client sees it: at the moment the leader is SIGKILLed, one PUT goes to a
/// surviving node — once, not retried by the client, with or without an Idempotency-Key. The
/// server gives every write a session of its own and sends it on to the new leader as soon as one
/// is known, so the PUT succeeds within the request, applied once. (<c>raftctl bench failover</c>
/// measures the same over many trials.)
/// </summary>
public sealed class ClientFailoverTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Fact(Timeout = 240_000)]
    public async Task A_PUT_sent_to_a_survivor_as_the_leader_dies_succeeds_within_the_request()
    {
        using var cluster = new TestCluster(output, requestTimeout: "5s");
        cluster.StartAll();
        var pauses = new List<double>();
        for (var trial = 1; trial <= 4; trial++)
        {
            var leader = await cluster.WaitForAgreedLeaderAsync(cluster.Nodes, Bound);
            var leaderNode = cluster.IndexOf(leader.Id);
            var survivor = cluster.Nodes.First(n => n != leaderNode);

            cluster.Kill(leaderNode);
            var clock = Stopwatch.StartNew();
            var key = trial % 2 == 0 ? $"failover-{trial}-{Guid.NewGuid():N}" : null;
            var put = await cluster.SendAsync(survivor, HttpMethod.Put, "/kv/failover", new StringContent($"trial {trial}", Encoding.UTF8, "text/plain"), idempotencyKey: key);
            clock.Stop();
            pauses.Add(clock.Elapsed.TotalMilliseconds);
            cluster.Log($"trial {trial}: killed {leader.Id}; the PUT ({(key is null ? "no key" : "a key")}) through {cluster.Servers[survivor].Id} answered {put.Status} after {clock.ElapsedMilliseconds} ms: {put.Body}");
            Assert.True(put.Status == 200, $"trial {trial}: {put}");

            var read = await cluster.GetAsync(survivor, "failover");
            Assert.Equal($"trial {trial}", read.Json.GetProperty("value").GetString());
            cluster.Start(leaderNode);
        }

        pauses.Sort();
        cluster.Log($"PUT latency across a leader's death, ms: {string.Join(", ", pauses.Select(p => p.ToString("F0")))}");
    }
}
