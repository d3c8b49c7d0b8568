using System.Net.Http.Json;
using System.Text.Json;

namespace RaftActors.IntegrationTests;

/// <summary>
/// Membership changes and leadership transfer over real server processes, through the HTTP API
/// and raftctl, while a client writes: the cluster grows from three to five, loses its leader to
/// a removal, hands leadership to each member in turn, and replaces a SIGKILLed member; no
/// acknowledged write is lost.
/// </summary>
public sealed class MembershipProcessTests(ITestOutputHelper output)
{
    private static readonly TimeSpan StartupBound = TimeSpan.FromSeconds(30);

    /// <summary>A client writing through the founding servers, one write after another, until stopped.</summary>
    private sealed class Writer : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _writes;

        public Writer(TestCluster cluster, IReadOnlyList<int> through)
        {
            _writes = Task.Run(async () =>
            {
                for (var i = 0; !_stop.IsCancellationRequested; i++)
                {
                    var node = through[i % through.Count];
                    if (!cluster.Servers[node].Running)
                        continue;
                    try
                    {
                        var put = await cluster.PutAsync(node, $"k{i}", $"v{i}", idempotencyKey: $"membership-{i}");
                        if (put.Status == 200)
                            lock (Acknowledged)
                                Acknowledged.Add($"k{i}");
                    }
                    catch (HttpRequestException)
                    {
                        // The node was killed under the request: not acknowledged, so nothing to check.
                    }
                }
            });
        }

        public List<string> Acknowledged { get; } = new();

        public int Count
        {
            get
            {
                lock (Acknowledged)
                    return Acknowledged.Count;
            }
        }

        public async ValueTask DisposeAsync()
        {
            _stop.Cancel();
            await _writes;
        }
    }

    private static async Task<Reply> AddAsync(TestCluster cluster, int via, int server) =>
        await PostJsonAsync(cluster, via, "/members", new { id = cluster.Servers[server].Id, address = cluster.AkkaAddress(server) });

    private static async Task<Reply> PostJsonAsync(TestCluster cluster, int via, string path, object body) =>
        await cluster.SendAsync(via, HttpMethod.Post, path, JsonContent.Create(body), idempotencyKey: null);

    private static string[] Voters(Reply members) =>
        members.Json.GetProperty("members").EnumerateArray().Where(m => m.GetProperty("voter").GetBoolean()).Select(m => m.GetProperty("id").GetString()!).Order().ToArray();

    // Thesis §4.1: servers are added one at a time (a learner first, promoted once caught up) while
    // writes go on; every node then uses the five-voter configuration; the leader removes itself and
    // hands over; leadership then goes to each member in turn.
    [Fact(Timeout = 180_000)]
    public async Task A_cluster_grows_from_three_to_five_while_writing_loses_its_leader_to_a_removal_and_hands_leadership_to_each_member()
    {
        using var cluster = new TestCluster(output, size: 5, voters: 3);
        cluster.StartAll();
        var founders = new[] { 0, 1, 2 };
        var leader = await cluster.WaitForAgreedLeaderAsync(founders, StartupBound);
        var joiner = await cluster.StatusAsync(3);
        Assert.Equal(("Follower", 0L, false), (joiner!.Role, joiner.Term, joiner.Voter));

        await using var writer = new Writer(cluster, founders);
        var follower = founders.First(n => cluster.Servers[n].Id != leader.Id);

        // n4 through a follower (forwarded to the leader), n5 through raftctl.
        var added = await AddAsync(cluster, follower, 3);
        Assert.True(added.Status == 200, $"POST /members n4: {added}");
        Assert.Equal(["n1", "n2", "n3", "n4"], Voters(added));
        var raftctl = await Raftctl.RunAsync(cluster, founders, "member", "add", "n5", cluster.AkkaAddress(4));
        Assert.True(raftctl.ExitCode == 0, raftctl.ToString());
        Assert.Contains("n5 is a voter", raftctl.Output);
        var again = await AddAsync(cluster, follower, 4);
        Assert.True(again.Status == 409, $"adding n5 twice: {again}");

        var all = cluster.Nodes.ToArray();
        await cluster.WaitUntilAsync("every node uses the five-voter configuration", TimeSpan.FromSeconds(10), async () =>
        {
            foreach (var node in all)
            {
                var members = await cluster.SendAsync(node, HttpMethod.Get, "/members", null, null);
                if (members.Status != 200 || Voters(members).Length != 5 || !members.Json.GetProperty("committed").GetBoolean())
                    return false;
            }

            return true;
        });
        leader = await cluster.WaitForAgreedLeaderAsync(all, TimeSpan.FromSeconds(10));
        var list = await Raftctl.RunAsync(cluster, [3], "member", "list");
        Assert.True(list.ExitCode == 0 && list.Output.Contains("n5") && list.Output.Contains("(leader)"), list.ToString());

        // The leader removes itself: it answers once the change commits, then hands over.
        var leaderNode = cluster.IndexOf(leader.Id);
        var removed = await cluster.SendAsync(leaderNode, HttpMethod.Delete, $"/members/{leader.Id}", null, null);
        Assert.True(removed.Status == 200, $"DELETE /members/{leader.Id}: {removed}");
        Assert.DoesNotContain(leader.Id, Voters(removed));
        var rest = all.Where(n => n != leaderNode).ToArray();
        var successor = await cluster.WaitForAgreedLeaderAsync(rest, TimeSpan.FromSeconds(5), aboveTerm: leader.Term);
        Assert.False((await cluster.StatusAsync(leaderNode))!.Voter);
        Assert.Equal(404, (await cluster.SendAsync(rest[0], HttpMethod.Delete, $"/members/{leader.Id}", null, null)).Status);

        // Leadership to each remaining member in turn.
        foreach (var target in rest.Select(n => cluster.Servers[n].Id).Where(id => id != successor.Id))
        {
            var transferred = await PostJsonAsync(cluster, rest[0], "/leader/transfer", new { to = target });
            Assert.True(transferred.Status == 200, $"POST /leader/transfer to {target}: {transferred}");
            Assert.Equal(target, transferred.Json.GetProperty("leader").GetString());
            var now = await cluster.WaitForAgreedLeaderAsync(rest, TimeSpan.FromSeconds(5));
            Assert.Equal(target, now.Id);
        }

        var toRemoved = await PostJsonAsync(cluster, rest[0], "/leader/transfer", new { to = leader.Id });
        Assert.True(toRemoved.Status == 409, $"transfer to a removed server: {toRemoved}");

        await cluster.WaitUntilAsync("writes went on", TimeSpan.FromSeconds(10), () => Task.FromResult(writer.Count >= 20));
        await writer.DisposeAsync();
        foreach (var key in writer.Acknowledged)
            Assert.Equal(200, (await cluster.GetAsync(rest[0], key)).Status);
    }

    // Replacing a member that died for good: n1 is SIGKILLed, n4 joins and becomes a voter, n1 is
    // removed; the cluster keeps three voters and every write acknowledged before, during and after
    // is still there.
    [Fact(Timeout = 180_000)]
    public async Task A_SIGKILLed_member_is_replaced_by_a_new_server_and_no_acknowledged_write_is_lost()
    {
        using var cluster = new TestCluster(output, size: 4, voters: 3);
        cluster.StartAll();
        var leader = await cluster.WaitForAgreedLeaderAsync([0, 1, 2], StartupBound);
        await using var writer = new Writer(cluster, [0, 1, 2]);
        await cluster.WaitUntilAsync("writes flow", TimeSpan.FromSeconds(10), () => Task.FromResult(writer.Count >= 10));

        var dead = Enumerable.Range(0, 3).First(n => cluster.Servers[n].Id != leader.Id);
        cluster.Kill(dead);
        var alive = Enumerable.Range(0, 3).First(n => n != dead);
        var added = await AddAsync(cluster, alive, 3);
        Assert.True(added.Status == 200, $"POST /members n4: {added}");
        var removed = await cluster.SendAsync(alive, HttpMethod.Delete, $"/members/{cluster.Servers[dead].Id}", null, null);
        Assert.True(removed.Status == 200, $"DELETE /members/{cluster.Servers[dead].Id}: {removed}");
        Assert.Equal(3, Voters(removed).Length);
        Assert.DoesNotContain(cluster.Servers[dead].Id, Voters(removed));

        var countAtReplace = writer.Count;
        await cluster.WaitUntilAsync("writes go on with the new member", TimeSpan.FromSeconds(10), () => Task.FromResult(writer.Count >= countAtReplace + 10));
        await writer.DisposeAsync();
        var survivors = Enumerable.Range(0, 4).Where(n => n != dead).ToArray();
        await cluster.WaitForAgreedLeaderAsync(survivors, TimeSpan.FromSeconds(5));
        foreach (var key in writer.Acknowledged)
            Assert.Equal(200, (await cluster.GetAsync(3, key)).Status);
    }
}
