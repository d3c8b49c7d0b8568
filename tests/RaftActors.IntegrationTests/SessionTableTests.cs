using Xunit.Abstractions;

namespace RaftActors.IntegrationTests;

/// <summary>
/// The HTTP gateway when the cluster's client session table is full: every write opens a session,
/// and one that finds the table full of sessions too young to evict is refused, certainly not
/// applied, with 503 and Retry-After.
/// </summary>
public sealed class SessionTableTests(ITestOutputHelper output)
{
    [Fact(Timeout = 60_000)]
    public async Task A_write_that_finds_the_session_table_full_of_young_sessions_is_a_503_with_Retry_After_and_not_applied()
    {
        using var cluster = new TestCluster(output, size: 1, requestTimeout: "1s", raftConfig: "sessions { max = 1, min-idle = 10m }");
        cluster.Start(0);
        await cluster.WaitUntilAsync("n1 leads", TimeSpan.FromSeconds(30), async () => (await cluster.StatusAsync(0))?.Leader == "n1");

        var first = await cluster.PutAsync(0, "a", "1", retry: false);
        Assert.True(first.Status == 200, first.ToString());

        var refused = await cluster.PutAsync(0, "b", "2", retry: false);
        Assert.True(refused.Status == 503, refused.ToString());
        Assert.Equal(TimeSpan.FromSeconds(1), refused.RetryAfter);
        Assert.Contains("raft.sessions.min-idle", refused.Json.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(404, (await cluster.GetAsync(0, "b", retry: false)).Status);
    }
}
