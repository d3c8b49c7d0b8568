using System.Collections.Concurrent;
using System.Diagnostics;

namespace RaftActors.IntegrationTests;

/// <summary>
/// Three server processes over Akka.Remote on loopback, driven through their HTTP API: one
/// leader; writes through any node readable through every node; SIGKILL of the leader, of a
/// restarted node, of all three; every acknowledged write survives.
/// </summary>
public sealed class ClusterTests(ITestOutputHelper output)
{
    private static readonly TimeSpan StartupBound = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan FailoverBound = TimeSpan.FromSeconds(2);

    [Fact(Timeout = 120_000)]
    public async Task Writes_through_any_node_are_read_through_every_node_and_survive_a_SIGKILLed_leader_and_a_restart()
    {
        using var cluster = new TestCluster(output);
        cluster.StartAll();
        var leader = await cluster.WaitForAgreedLeaderAsync(cluster.Nodes, StartupBound);
        var acked = new Dictionary<string, string>();

        // Writes through every node in turn, each acknowledged with its log index.
        for (var i = 0; i < 9; i++)
        {
            var node = i % cluster.Size;
            var (key, value) = ($"key-{i}", $"value {i} via {cluster.Servers[node].Id}");
            var put = await cluster.PutAsync(node, key, value, idempotencyKey: $"put-{i}");
            Assert.True(put.Status == 200, $"PUT {key} through {cluster.Servers[node].Id}: {put}");
            Assert.True(put.Json.GetProperty("index").GetInt64() > 0, put.ToString());
            acked[key] = value;
        }

        // Linearizable reads through every node see every acknowledged write...
        await AssertAllReadableAsync(cluster, acked, cluster.Nodes);

        // ...and so, soon, do the local (stale) reads of every state machine.
        await cluster.WaitUntilAsync("every node's state machine has every write", TimeSpan.FromSeconds(5),
            () => AllReadableAsync(cluster, acked, cluster.Nodes, stale: true));

        // Delete and compare-and-set through followers.
        var followers = cluster.Nodes.Where(n => cluster.Servers[n].Id != leader.Id).ToList();
        var delete = await cluster.DeleteAsync(followers[0], "key-0", idempotencyKey: "delete-0");
        Assert.True(delete.Status == 200 && delete.Json.GetProperty("existed").GetBoolean(), delete.ToString());
        acked.Remove("key-0");
        foreach (var node in cluster.Nodes)
            Assert.Equal(404, (await cluster.GetAsync(node, "key-0")).Status);

        var casWrong = await cluster.CasAsync(followers[1], "key-1", "not the value", "swapped");
        Assert.True(casWrong.Status == 409, casWrong.ToString());
        Assert.False(casWrong.Json.GetProperty("ok").GetBoolean());
        Assert.Equal(acked["key-1"], casWrong.Json.GetProperty("current").GetString());
        var casRight = await cluster.CasAsync(followers[1], "key-1", acked["key-1"], "swapped", idempotencyKey: "cas-1");
        Assert.True(casRight.Status == 200 && casRight.Json.GetProperty("ok").GetBoolean(), casRight.ToString());
        acked["key-1"] = "swapped";
        var create = await cluster.CasAsync(followers[0], "created", null, "by cas");
        Assert.True(create.Status == 200, create.ToString());
        var createAgain = await cluster.CasAsync(followers[1], "created", null, "again");
        Assert.True(createAgain.Status == 409, createAgain.ToString());
        Assert.Equal("by cas", createAgain.Json.GetProperty("current").GetString());
        acked["created"] = "by cas";

        // A write retried with the same Idempotency-Key, through another node, applies once and answers as the first did.
        var first = await cluster.PutAsync(followers[0], "once", "first", idempotencyKey: "request-once");
        var retry = await cluster.PutAsync(followers[1], "once", "second", idempotencyKey: "request-once");
        Assert.True(first.Status == 200 && retry.Status == 200, $"{first} / {retry}");
        Assert.Equal(first.Json.GetProperty("index").GetInt64(), retry.Json.GetProperty("index").GetInt64());
        acked["once"] = "first";

        // The header's former name is still read, for one release: the same key is the same write;
        // the node says once in its log that the header is deprecated.
        var legacy = await cluster.SendAsync(followers[0], HttpMethod.Put, "/kv/once", new StringContent("third"), "request-once", header: "Request-Id");
        Assert.True(legacy.Status == 200, legacy.ToString());
        Assert.Equal(first.Json.GetProperty("index").GetInt64(), legacy.Json.GetProperty("index").GetInt64());
        var legacyPut = await cluster.SendAsync(followers[0], HttpMethod.Put, "/kv/legacy", new StringContent("v"), "request-legacy", header: "Request-Id");
        Assert.True(legacyPut.Status == 200, legacyPut.ToString());
        await cluster.WaitUntilAsync("the deprecation warning in the log", TimeSpan.FromSeconds(10),
            () => Task.FromResult(cluster.Servers[followers[0]].Output.Contains("deprecated Request-Id header", StringComparison.Ordinal)));
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(cluster.Servers[followers[0]].Output, "deprecated Request-Id header"));
        acked["legacy"] = "v";

        // Malformed requests: 400 with a reason.
        var badCas = await cluster.SendAsync(0, HttpMethod.Post, "/kv/x/cas", new StringContent("not json"), null);
        Assert.True(badCas.Status == 400 && badCas.Json.GetProperty("error").GetString()!.Length > 0, badCas.ToString());
        Assert.Equal(400, (await cluster.SendAsync(0, HttpMethod.Get, "/kv/x?stale=maybe", null, null)).Status);

        await AssertAllReadableAsync(cluster, acked, cluster.Nodes);

        // raftctl over the same cluster: status table, writes and reads, a CAS conflict (exit 1).
        var status = await Raftctl.RunAsync(cluster, cluster.Nodes, "status");
        Assert.True(status.ExitCode == 0 && status.Output.Contains("Leader") &&
                    System.Text.RegularExpressions.Regex.IsMatch(status.Output, @"leader n\d in term \d+, followed by all 3"), status.ToString());
        var ctlPut = await Raftctl.RunAsync(cluster, cluster.Nodes, "put", "from-raftctl", "a value with spaces", "--node", "2");
        Assert.True(ctlPut.ExitCode == 0 && ctlPut.Output.StartsWith("OK  index "), ctlPut.ToString());
        acked["from-raftctl"] = "a value with spaces";
        var ctlGet = await Raftctl.RunAsync(cluster, cluster.Nodes, "get", "from-raftctl", "--node", "3");
        Assert.True(ctlGet.ExitCode == 0 && ctlGet.Output == "a value with spaces\n", ctlGet.ToString());
        var ctlCas = await Raftctl.RunAsync(cluster, cluster.Nodes, "cas", "from-raftctl", "new", "--expected", "wrong");
        Assert.True(ctlCas.ExitCode == 1 && ctlCas.Error.Contains("\"a value with spaces\""), ctlCas.ToString());

        // SIGKILL the leader: the survivors elect a new one within 2 s. (The leader of now: on a busy
        // machine a late heartbeat may have moved leadership since the start.)
        leader = await cluster.WaitForAgreedLeaderAsync(cluster.Nodes, TimeSpan.FromSeconds(10));
        var killed = cluster.IndexOf(leader.Id);
        var survivors = cluster.Nodes.Where(n => n != killed).ToList();
        var sinceKill = Stopwatch.StartNew();
        cluster.Kill(killed);
        var elapsed = await TimeUntilNewLeaderAsync(cluster, survivors, leader.Term, sinceKill, FailoverBound + TimeSpan.FromSeconds(3));
        cluster.Log($"a new leader {elapsed.TotalMilliseconds:F0} ms after the SIGKILL of {leader.Id}");
        Assert.True(elapsed <= FailoverBound, $"the new leader came {elapsed.TotalMilliseconds:F0} ms after the leader's SIGKILL (bound {FailoverBound.TotalMilliseconds} ms)");
        var newLeader = await cluster.WaitForAgreedLeaderAsync(survivors, TimeSpan.FromSeconds(5), aboveTerm: leader.Term);

        // Every acknowledged write is still there, through every survivor; and the survivors take new writes.
        await AssertAllReadableAsync(cluster, acked, survivors);
        for (var i = 0; i < 6; i++)
        {
            var node = survivors[i % survivors.Count];
            var put = await cluster.PutAsync(node, $"after-{i}", $"after the failover {i}", idempotencyKey: $"after-{i}");
            Assert.True(put.Status == 200, put.ToString());
            acked[$"after-{i}"] = $"after the failover {i}";
        }

        // raftctl given the dead node first moves on to a live one (the write carries an Idempotency-Key).
        var pastDead = await Raftctl.RunAsync(cluster, [killed, .. survivors], "put", "past-the-dead", "ok");
        Assert.True(pastDead.ExitCode == 0, pastDead.ToString());
        acked["past-the-dead"] = "ok";

        // The killed node restarts from its directory and catches up with everything.
        cluster.Start(killed);
        var target = (await cluster.StatusAsync(cluster.IndexOf(newLeader.Id)))!.CommitIndex;
        await cluster.WaitUntilAsync($"{cluster.Servers[killed].Id} applies through index {target} and has every write", TimeSpan.FromSeconds(20),
            async () => await cluster.StatusAsync(killed) is { } s && s.LastApplied >= target && await AllReadableAsync(cluster, acked, [killed], stale: true));
        await AssertAllReadableAsync(cluster, acked, [killed]);
        await cluster.WaitForAgreedLeaderAsync(cluster.Nodes, TimeSpan.FromSeconds(10));
    }

    [Fact(Timeout = 120_000)]
    public async Task Every_acknowledged_write_survives_a_SIGKILL_of_all_three_servers()
    {
        using var cluster = new TestCluster(output);
        cluster.StartAll();
        await cluster.WaitForAgreedLeaderAsync(cluster.Nodes, StartupBound);

        // Three writers, one per node, write until the servers die under them.
        var acked = new ConcurrentDictionary<string, string>();
        using var stop = new CancellationTokenSource();
        var writers = cluster.Nodes.Select(node => Task.Run(async () =>
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                var (key, value) = ($"n{node + 1}-{i}", $"written through n{node + 1}, #{i}");
                try
                {
                    var put = await cluster.PutAsync(node, key, value, idempotencyKey: key, retry: false);
                    if (put.Status == 200)
                        acked[key] = value;
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                    return; // the server is gone
                }
            }
        })).ToList();
        await cluster.WaitUntilAsync("30 writes acknowledged", TimeSpan.FromSeconds(20), () => Task.FromResult(acked.Count >= 30));
        Parallel.ForEach(cluster.Nodes, cluster.Kill);
        var ackedBeforeKill = new Dictionary<string, string>(acked);
        stop.Cancel();
        await Task.WhenAll(writers);
        cluster.Log($"{ackedBeforeKill.Count} writes acknowledged before the SIGKILL of all three");

        // Restarted from their directories, the servers elect a leader and have every acknowledged write.
        cluster.StartAll();
        var leader = await cluster.WaitForAgreedLeaderAsync(cluster.Nodes, StartupBound);
        await AssertAllReadableAsync(cluster, ackedBeforeKill, cluster.Nodes);

        // A leader cut off from its followers cannot commit, and with CheckQuorum it steps down
        // within an election timeout. A write it took in before that has an unknown outcome
        // (504); one that reaches it after, knowing no leader, certainly was not applied (503).
        // Either way the answer comes within the request timeout, and a linearizable read is refused.
        var leaderIndex = cluster.IndexOf(leader.Id);
        foreach (var follower in cluster.Nodes.Where(n => n != leaderIndex).ToList())
            cluster.Kill(follower);
        var before = await cluster.StatusAsync(leaderIndex);
        var stranded = await cluster.PutAsync(leaderIndex, "stranded", "no quorum", idempotencyKey: "stranded", retry: false);
        cluster.Log($"{leader.Id} alone: {before}; the write: {stranded}");
        Assert.True(stranded.Status is 503 or 504, stranded.ToString());
        await cluster.WaitUntilAsync($"{leader.Id}, alone, no longer leads (CheckQuorum)", TimeSpan.FromSeconds(3),
            async () => await cluster.StatusAsync(leaderIndex) is { Role: not "Leader" });
        var read = await cluster.GetAsync(leaderIndex, ackedBeforeKill.Keys.First(), retry: false);
        Assert.True(read.Status == 503, read.ToString());
        Assert.True((await cluster.GetAsync(leaderIndex, ackedBeforeKill.Keys.First(), stale: true)).Status == 200);
    }

    /// <summary>The time on <paramref name="clock"/> (started at the kill) when a survivor first says it leads a later term.</summary>
    private static async Task<TimeSpan> TimeUntilNewLeaderAsync(TestCluster cluster, IReadOnlyList<int> survivors, long oldTerm, Stopwatch clock, TimeSpan within)
    {
        while (clock.Elapsed < within)
        {
            var statuses = await Task.WhenAll(survivors.Select(cluster.StatusAsync));
            if (statuses.Any(s => s is { Role: "Leader" } && s.Term > oldTerm))
                return clock.Elapsed;
            await Task.Delay(10);
        }

        throw new Xunit.Sdk.XunitException($"no new leader within {within.TotalSeconds:F1} s of the leader's SIGKILL");
    }

    private static async Task AssertAllReadableAsync(TestCluster cluster, IReadOnlyDictionary<string, string> expected, IEnumerable<int> nodes)
    {
        foreach (var node in nodes)
        {
            foreach (var (key, value) in expected)
            {
                var get = await cluster.GetAsync(node, key);
                Assert.True(get.Status == 200, $"GET {key} through {cluster.Servers[node].Id}: {get}");
                Assert.Equal(value, get.Json.GetProperty("value").GetString());
            }
        }
    }

    private static async Task<bool> AllReadableAsync(TestCluster cluster, IReadOnlyDictionary<string, string> expected, IEnumerable<int> nodes, bool stale)
    {
        foreach (var node in nodes)
        {
            foreach (var (key, value) in expected)
            {
                Reply get;
                try
                {
                    get = await cluster.GetAsync(node, key, stale, retry: false);
                }
                catch (HttpRequestException)
                {
                    return false;
                }

                if (get.Status != 200 || get.Json.GetProperty("value").GetString() != value)
                    return false;
            }
        }

        return true;
    }
}
