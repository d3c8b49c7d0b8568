using System.Diagnostics;

namespace RaftActors.IntegrationTests;

/// <summary>
/// Log compaction across real server processes: the nodes snapshot their key-value stores and
/// drop the log behind them; a follower whose data directory is deleted rejoins empty and catches
/// up through the leader's snapshot (InstallSnapshot), then the entries after it.
/// </summary>
public sealed class SnapshotCatchUpTests(ITestOutputHelper output)
{
    private static readonly TimeSpan StartupBound = TimeSpan.FromSeconds(30);

    [Fact(Timeout = 180_000)]
    public async Task A_follower_whose_data_directory_is_deleted_rejoins_and_catches_up_through_a_snapshot()
    {
        using var cluster = new TestCluster(output, raftConfig: "snapshot { entries-threshold = 50, trailing-entries = 10, chunk-size = 4KiB, chunks-in-flight = 4 }");
        cluster.StartAll();
        var leader = await cluster.WaitForAgreedLeaderAsync(cluster.Nodes, StartupBound);
        var leaderIndex = cluster.IndexOf(leader.Id);
        var acked = new Dictionary<string, string>();
        await WriteAsync(cluster, leaderIndex, acked, from: 0, count: 200);

        // A follower goes, and its data directory with it; the others commit and snapshot on.
        var wiped = cluster.Nodes.First(n => n != leaderIndex);
        cluster.Kill(wiped);
        Directory.Delete(cluster.DataDirectory(wiped), recursive: true);
        cluster.Log($"deleted {cluster.DataDirectory(wiped)}");
        await WriteAsync(cluster, leaderIndex, acked, from: 200, count: 150);
        var before = (await cluster.StatusAsync(leaderIndex))!;
        Assert.True(before.SnapshotIndex > 100, $"the leader's snapshot covers only {before.SnapshotIndex}: its log still holds what a new follower needs ({before})");

        // Back, empty: it needs entries the leader dropped, so it gets the snapshot.
        var clock = Stopwatch.StartNew();
        cluster.Start(wiped);
        await cluster.WaitUntilAsync($"{cluster.Servers[wiped].Id} applies through {before.CommitIndex}", TimeSpan.FromSeconds(30),
            async () => await cluster.StatusAsync(wiped) is { } s && s.LastApplied >= before.CommitIndex);
        var caughtUp = (await cluster.StatusAsync(wiped))!;
        cluster.Log($"{cluster.Servers[wiped].Id} caught up in {clock.ElapsedMilliseconds} ms: {caughtUp}");
        Assert.True(caughtUp.SnapshotIndex > 0, $"{cluster.Servers[wiped].Id} caught up without a snapshot: {caughtUp}");
        Assert.NotEmpty(Directory.GetFiles(cluster.DataDirectory(wiped), "snapshot-*.snap"));

        // Its own key-value store has every acknowledged write, read locally.
        foreach (var (key, value) in acked)
        {
            var get = await cluster.GetAsync(wiped, key, stale: true);
            Assert.True(get.Status == 200 && get.Json.GetProperty("value").GetString() == value, $"{key} on {cluster.Servers[wiped].Id}: {get}");
        }

        // And it takes part: a write through it is readable everywhere.
        var put = await cluster.PutAsync(wiped, "after-the-wipe", "yes");
        Assert.True(put.Status == 200, put.ToString());
        foreach (var node in cluster.Nodes)
            Assert.Equal("yes", (await cluster.GetAsync(node, "after-the-wipe")).Json.GetProperty("value").GetString());
    }

    private static async Task WriteAsync(TestCluster cluster, int node, Dictionary<string, string> acked, int from, int count)
    {
        for (var i = from; i < from + count; i++)
        {
            var (key, value) = ($"key-{i}", $"value {i} {new string('v', 100)}");
            var put = await cluster.PutAsync(node, key, value, idempotencyKey: $"put-{i}");
            Assert.True(put.Status == 200, $"PUT {key}: {put}");
            acked[key] = value;
        }

        cluster.Log($"{count} writes acknowledged");
    }
}
