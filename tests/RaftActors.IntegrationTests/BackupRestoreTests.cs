namespace RaftActors.IntegrationTests;

/// <summary>
/// Disaster recovery over real processes: <c>raftctl snapshot save</c> takes a backup from the
/// leader of a running cluster; after every node and every data directory is lost, each node's new
/// directory is seeded from that one file (<c>RaftActors.Server restore</c>) and the cluster comes
/// back with every write acknowledged before the save, and takes new ones.
/// </summary>
public sealed class BackupRestoreTests(ITestOutputHelper output)
{
    private static readonly TimeSpan StartupBound = TimeSpan.FromSeconds(30);

    [Fact(Timeout = 240_000)]
    public async Task A_cluster_that_lost_every_data_directory_is_rebuilt_from_one_saved_snapshot()
    {
        using var cluster = new TestCluster(output);
        cluster.StartAll();
        await cluster.WaitForAgreedLeaderAsync(cluster.Nodes, StartupBound);
        var acked = new Dictionary<string, (string Value, long Index)>();
        for (var i = 0; i < 30; i++)
        {
            var (key, value) = ($"key-{i}", $"value {i}");
            var put = await cluster.PutAsync(i % cluster.Size, key, value, idempotencyKey: $"put-{i}");
            Assert.True(put.Status == 200, $"PUT {key}: {put}");
            acked[key] = (value, put.Json.GetProperty("index").GetInt64());
        }

        // Asked first, the followers point raftctl on (503, naming the leader); the leader writes the snapshot.
        var before = await cluster.WaitForAgreedLeaderAsync(cluster.Nodes, StartupBound);
        var leader = cluster.IndexOf(before.Id);
        var follower = cluster.Nodes.First(n => n != leader);
        var fromFollower = await cluster.SendAsync(follower, HttpMethod.Get, "/snapshot", null, null);
        var file = Path.Combine(cluster.Root, "backup.snap");
        var save = await Raftctl.RunAsync(cluster, cluster.Nodes.OrderBy(n => n == leader), "snapshot", "save", file);
        Assert.True(save.ExitCode == 0, save.ToString());
        if ((await cluster.WaitForAgreedLeaderAsync(cluster.Nodes, StartupBound)).Term == before.Term)
        {
            // No election came in between (a loaded machine may hold one): who answered what is known.
            Assert.True(fromFollower.Status == 503 && fromFollower.Json.GetProperty("leader").GetString() == before.Id, fromFollower.ToString());
            Assert.Contains($"(via 127.0.0.1:{cluster.HttpPorts[leader]})", save.Output);
        }

        var savedIndex = long.Parse(System.Text.RegularExpressions.Regex.Match(save.Output, @"snapshot through index (\d+) \(term \d+\)").Groups[1].Value);
        Assert.True(savedIndex >= acked.Values.Max(a => a.Index), $"the snapshot stops at {savedIndex}, before acknowledged writes: {save}");
        Assert.Empty(Directory.GetFiles(cluster.Root, "*.part"));

        var status = await Raftctl.RunAsync(cluster, cluster.Nodes, "snapshot", "status", file);
        Assert.True(status.ExitCode == 0, status.ToString());
        Assert.Contains($"index     {savedIndex}", status.Output);
        foreach (var node in cluster.Nodes)
            Assert.Contains($"{cluster.Servers[node].Id} voter {cluster.AkkaAddress(node)}/user/raft", status.Output);

        // A damaged copy is refused by name, saying what is wrong.
        var damaged = Path.Combine(cluster.Root, "damaged.snap");
        var bytes = await File.ReadAllBytesAsync(file);
        bytes[^1] ^= 0x01;
        await File.WriteAllBytesAsync(damaged, bytes);
        var damagedStatus = await Raftctl.RunAsync(cluster, cluster.Nodes, "snapshot", "status", damaged);
        Assert.True(damagedStatus.ExitCode == 5 && damagedStatus.Error.Contains($"{damaged}: content checksum mismatch"), damagedStatus.ToString());

        // Written after the save: not in the backup.
        Assert.Equal(200, (await cluster.PutAsync(leader, "after-the-save", "lost")).Status);

        // Every node and every data directory is lost.
        foreach (var node in cluster.Nodes)
        {
            cluster.Kill(node);
            Directory.Delete(cluster.DataDirectory(node), recursive: true);
        }

        var fromDamaged = await Restore(cluster, 0, damaged);
        Assert.True(fromDamaged.ExitCode == 1 && fromDamaged.Error.Contains($"{damaged}: content checksum mismatch"), fromDamaged.ToString());
        Assert.False(Directory.Exists(cluster.DataDirectory(0)), "a restore from a damaged file wrote the data directory");

        var restores = await Task.WhenAll(cluster.Nodes.Select(node => Restore(cluster, node, file)));
        Assert.All(restores, r => Assert.True(r.ExitCode == 0, r.ToString()));

        // A directory that holds anything is refused, by name, and left as it is.
        var again = await Restore(cluster, 0, file);
        Assert.True(again.ExitCode == 1, again.ToString());
        Assert.Contains($"{cluster.DataDirectory(0)}: the data directory is not empty", again.Error);

        cluster.StartAll();
        var restoredLeader = await cluster.WaitForAgreedLeaderAsync(cluster.Nodes, StartupBound);
        Assert.True(restoredLeader.SnapshotIndex == savedIndex, $"the leader's snapshot is not the backup's: {restoredLeader}");
        foreach (var (key, (value, _)) in acked)
        {
            var get = await cluster.GetAsync(cluster.Nodes.First(), key);
            Assert.True(get.Status == 200 && get.Json.GetProperty("value").GetString() == value, $"{key}: {get}");
        }

        Assert.Equal(404, (await cluster.GetAsync(0, "after-the-save")).Status);

        // The client sessions came back too: a retry of an acknowledged write is answered as the first time, not applied again.
        var retried = await cluster.PutAsync(1, "key-7", "value 7", idempotencyKey: "put-7");
        Assert.True(retried.Status == 200 && retried.Json.GetProperty("index").GetInt64() == acked["key-7"].Index, $"retry of put-7: {retried}");

        // And the rebuilt cluster takes new writes, on every node.
        var fresh = await cluster.PutAsync(2, "after-the-restore", "yes");
        Assert.True(fresh.Status == 200 && fresh.Json.GetProperty("index").GetInt64() > savedIndex, fresh.ToString());
        foreach (var node in cluster.Nodes)
            Assert.Equal("yes", (await cluster.GetAsync(node, "after-the-restore")).Json.GetProperty("value").GetString());
    }

    /// <summary>Seeds node <paramref name="node"/>'s data directory from the backup, with its own config (data-dir relative to the cluster's root).</summary>
    private static Task<DotnetProgram.Result> Restore(TestCluster cluster, int node, string file) =>
        DotnetProgram.RunAsync(cluster, ServerProcess.ServerAssembly, ["restore", "--snapshot", file, "--config", cluster.Servers[node].ConfigFile], cluster.Root);
}
