using Xunit.Abstractions;
using static RaftActors.Tests.Replication.ReplicationCluster;

namespace RaftActors.Tests.Replication;

/// <summary>
/// MIT 6.5840 Raft lab 3C (persistence), test_test.go, ported scenario by scenario onto
/// <see cref="ReplicationCluster"/>: crash (MIT's crash1) loses the writes still in flight,
/// start (start1) brings up a new incarnation on what was durable. MIT's RaftElectionTimeout
/// (1 s) is 500 ms here, as our election timeouts are 150-300 ms; iteration counts are MIT's
/// unless a comment says otherwise.
/// </summary>
[Collection(ReplicationCollection.Name)]
public sealed class Lab3CPersistenceTests(ITestOutputHelper output)
{
    /// <summary>Figure 8's rounds, as MIT: 1,000 (each ~20 ms, mostly sleeping).</summary>
    private const int Figure8Rounds = 1000;

    /// <summary>Figure8Unreliable's rounds, as MIT: 1,000, with long reordering from round 200.</summary>
    private const int Figure8UnreliableRounds = 1000;

    [Fact]
    public Task Persist1() => RunAsync(3, output, async cfg =>
    {
        await cfg.One(11, cfg.Servers, retry: true);

        // Crash and restart all.
        for (var i = 0; i < cfg.Servers; i++)
            await cfg.StartServer(i);
        for (var i = 0; i < cfg.Servers; i++)
        {
            cfg.Disconnect(i);
            cfg.Connect(i);
        }

        await cfg.One(12, cfg.Servers, retry: true);

        var leader1 = await cfg.CheckOneLeader();
        cfg.Disconnect(leader1);
        await cfg.StartServer(leader1);
        cfg.Connect(leader1);

        await cfg.One(13, cfg.Servers, retry: true);

        var leader2 = await cfg.CheckOneLeader();
        cfg.Disconnect(leader2);
        var index14 = await cfg.One(14, cfg.Servers - 1, retry: true);
        await cfg.StartServer(leader2);
        cfg.Connect(leader2);

        await cfg.Wait(index14, cfg.Servers, -1); // wait for leader2 to join before killing i3

        var i3 = (await cfg.CheckOneLeader() + 1) % cfg.Servers;
        cfg.Disconnect(i3);
        await cfg.One(15, cfg.Servers - 1, retry: true);
        await cfg.StartServer(i3);
        cfg.Connect(i3);

        await cfg.One(16, cfg.Servers, retry: true);
    });

    [Fact]
    public Task Persist2() => RunAsync(5, output, async cfg =>
    {
        var index = 1;
        for (var iters = 0; iters < 5; iters++)
        {
            await cfg.One(10 + index, cfg.Servers, retry: true);
            index++;

            var leader1 = await cfg.CheckOneLeader();

            cfg.Disconnect((leader1 + 1) % cfg.Servers);
            cfg.Disconnect((leader1 + 2) % cfg.Servers);

            await cfg.One(10 + index, cfg.Servers - 2, retry: true);
            index++;

            cfg.Disconnect((leader1 + 0) % cfg.Servers);
            cfg.Disconnect((leader1 + 3) % cfg.Servers);
            cfg.Disconnect((leader1 + 4) % cfg.Servers);

            // The two lagging nodes restart from their persisted state: they must not win with stale logs.
            await cfg.StartServer((leader1 + 1) % cfg.Servers);
            await cfg.StartServer((leader1 + 2) % cfg.Servers);
            cfg.Connect((leader1 + 1) % cfg.Servers);
            cfg.Connect((leader1 + 2) % cfg.Servers);

            await Task.Delay(RaftElectionTimeout);

            await cfg.StartServer((leader1 + 3) % cfg.Servers);
            cfg.Connect((leader1 + 3) % cfg.Servers);

            await cfg.One(10 + index, cfg.Servers - 2, retry: true);
            index++;

            cfg.Connect((leader1 + 4) % cfg.Servers);
            cfg.Connect((leader1 + 0) % cfg.Servers);
        }

        await cfg.One(1000, cfg.Servers, retry: true);
    });

    [Fact]
    public Task Persist3() => RunAsync(3, output, async cfg =>
    {
        await cfg.One(101, 3, retry: true);

        var leader = await cfg.CheckOneLeader();
        cfg.Disconnect((leader + 2) % cfg.Servers);

        await cfg.One(102, 2, retry: true);

        await cfg.Crash((leader + 0) % cfg.Servers);
        await cfg.Crash((leader + 1) % cfg.Servers);
        cfg.Connect((leader + 2) % cfg.Servers);
        await cfg.StartServer((leader + 0) % cfg.Servers);
        cfg.Connect((leader + 0) % cfg.Servers);

        // Only the restarted leader's persisted log holds 102: it, not the partitioned follower, must lead.
        await cfg.One(103, 2, retry: true);

        await cfg.StartServer((leader + 1) % cfg.Servers);
        cfg.Connect((leader + 1) % cfg.Servers);

        await cfg.One(104, cfg.Servers, retry: true);
    });

    /// <summary>
    /// The leader crashes after proposing, again and again, while the others restart; the
    /// leaders' entries of old terms must never be committed by counting replicas (Figure 8).
    /// </summary>
    [Fact]
    public Task Figure8() => RunAsync(5, output, async cfg =>
    {
        await cfg.One(cfg.Random.Next(), 1, retry: true);

        var nup = cfg.Servers;
        for (var iters = 0; iters < Figure8Rounds; iters++)
        {
            var leader = -1;
            for (var i = 0; i < cfg.Servers; i++)
            {
                if (cfg.IsAlive(i) && await cfg.StartNoWait(i, cfg.Random.Next()))
                    leader = i;
            }

            if (cfg.Random.Next(1000) < 100)
                await Task.Delay(cfg.Random.Next((int)(RaftElectionTimeout.TotalMilliseconds / 2)));
            else
                await Task.Delay(cfg.Random.Next(13));

            if (leader != -1)
            {
                await cfg.Crash(leader);
                nup--;
            }

            if (nup < 3)
            {
                var s = cfg.Random.Next(cfg.Servers);
                if (!cfg.IsAlive(s))
                {
                    await cfg.StartServer(s);
                    cfg.Connect(s);
                    nup++;
                }
            }
        }

        for (var i = 0; i < cfg.Servers; i++)
        {
            if (!cfg.IsAlive(i))
            {
                await cfg.StartServer(i);
                cfg.Connect(i);
            }
        }

        await cfg.One(cfg.Random.Next(), cfg.Servers, retry: true);
    });

    [Fact]
    public Task UnreliableAgree() => RunAsync(5, output, async cfg =>
    {
        var concurrent = new List<Task>();
        for (var iters = 1; iters < 50; iters++)
        {
            for (var j = 0; j < 4; j++)
                concurrent.Add(cfg.One((100 * iters) + j, 1, retry: true));
            await cfg.One(iters, 1, retry: true);
        }

        cfg.SetUnreliable(false);
        await Task.WhenAll(concurrent);
        await cfg.One(100, cfg.Servers, retry: true);
    }, unreliable: true);

    [Fact]
    public Task Figure8Unreliable() => RunAsync(5, output, async cfg =>
    {
        await cfg.One(cfg.Random.Next(10000), 1, retry: true);

        var nup = cfg.Servers;
        for (var iters = 0; iters < Figure8UnreliableRounds; iters++)
        {
            if (iters == Figure8UnreliableRounds / 5)
                cfg.SetLongReordering(true);
            var leader = -1;
            for (var i = 0; i < cfg.Servers; i++)
            {
                if (await cfg.StartNoWait(i, cfg.Random.Next(10000)) && cfg.IsConnected(i))
                    leader = i;
            }

            if (cfg.Random.Next(1000) < 100)
                await Task.Delay(cfg.Random.Next((int)(RaftElectionTimeout.TotalMilliseconds / 2)));
            else
                await Task.Delay(cfg.Random.Next(13));

            if (leader != -1 && cfg.Random.Next(1000) < 500)
            {
                cfg.Disconnect(leader);
                nup--;
            }

            if (nup < 3)
            {
                var s = cfg.Random.Next(cfg.Servers);
                if (!cfg.IsConnected(s))
                {
                    cfg.Connect(s);
                    nup++;
                }
            }
        }

        for (var i = 0; i < cfg.Servers; i++)
        {
            if (!cfg.IsConnected(i))
                cfg.Connect(i);
        }

        cfg.Note("all connected: every node must catch up, with the replies still reordered");
        await cfg.One(cfg.Random.Next(10000), cfg.Servers, retry: true);
        cfg.Note("all agree");
    }, unreliable: true);

    [Fact]
    public Task ReliableChurn() => RunAsync(5, output, cfg => Churn(cfg, unreliable: false));

    [Fact]
    public Task UnreliableChurn() => RunAsync(5, output, cfg => Churn(cfg, unreliable: true), unreliable: true);

    /// <summary>
    /// Three clients keep proposing to whoever claims to lead, while every 350 ms (MIT: 700 ms,
    /// 0.7 x RaftElectionTimeout) for 20 steps a random node is disconnected (20%), a random node
    /// restarted if down and reconnected (50%), a random node crashed (20%). After healing, every
    /// value a client saw committed must be in the final log.
    /// </summary>
    private static async Task Churn(ReplicationCluster cfg, bool unreliable)
    {
        var stop = 0;
        async Task<List<int>> Client(int me, int seed)
        {
            var random = new Random(seed);
            var values = new List<int>();
            while (Volatile.Read(ref stop) == 0)
            {
                var x = random.Next();
                long index = -1;
                var ok = false;
                for (var i = 0; i < cfg.Servers; i++)
                {
                    // Try them all, maybe one of them is a leader.
                    if (!cfg.IsAlive(i))
                        continue;
                    var (index1, _, ok1) = await cfg.Start(i, x);
                    if (ok1)
                    {
                        ok = true;
                        index = index1;
                    }
                }

                if (ok)
                {
                    // Maybe the leader will commit our value, maybe not, but don't wait forever.
                    foreach (var to in new[] { 10, 20, 50, 100, 200 })
                    {
                        var (nd, command) = cfg.NCommitted(index);
                        if (nd > 0)
                        {
                            if (command is int xx && xx == x)
                                values.Add(x);
                            else if (command is not int)
                                cfg.Fail($"wrong command type {command}");
                            break;
                        }

                        await Task.Delay(to);
                    }
                }
                else
                    await Task.Delay(79 + (me * 17));
            }

            return values;
        }

        const int clients = 3;
        var running = Enumerable.Range(0, clients).Select(me => Client(me, cfg.Random.Next())).ToList();

        for (var iters = 0; iters < 20; iters++)
        {
            if (cfg.Random.Next(1000) < 200)
                cfg.Disconnect(cfg.Random.Next(cfg.Servers));
            if (cfg.Random.Next(1000) < 500)
            {
                var i = cfg.Random.Next(cfg.Servers);
                if (!cfg.IsAlive(i))
                    await cfg.StartServer(i);
                cfg.Connect(i);
            }

            if (cfg.Random.Next(1000) < 200)
            {
                var i = cfg.Random.Next(cfg.Servers);
                if (cfg.IsAlive(i))
                    await cfg.Crash(i);
            }

            // Make crash/restart infrequent enough that the peers can often keep up, but not so
            // infrequent that everything has settled down from one change to the next.
            await Task.Delay(RaftElectionTimeout * 7 / 10);
        }

        await Task.Delay(RaftElectionTimeout);
        if (unreliable)
            cfg.SetUnreliable(false);
        for (var i = 0; i < cfg.Servers; i++)
        {
            if (!cfg.IsAlive(i))
                await cfg.StartServer(i);
            cfg.Connect(i);
        }

        Volatile.Write(ref stop, 1);
        var values = (await Task.WhenAll(running)).SelectMany(v => v).ToList();

        await Task.Delay(RaftElectionTimeout);

        var lastIndex = await cfg.One(cfg.Random.Next(), cfg.Servers, retry: true);

        // MIT waits for every index up to the last on all servers; no-ops are never applied, so
        // here every node's latest incarnation must have applied through the last index.
        var really = new HashSet<int>();
        for (long index = 1; index <= lastIndex; index++)
        {
            var (nd, command) = cfg.NCommitted(index);
            if (nd == 0)
                continue; // a no-op: no state machine sees it
            var (_, waited) = await cfg.Wait(index, cfg.Servers, -1);
            cfg.Check(waited is int, $"not an int: {waited}");
            really.Add((int)command!);
        }

        foreach (var v1 in values)
            cfg.Check(really.Contains(v1), $"didn't find a value: {v1} was seen committed but is not in the final log");
        cfg.Check(values.Count > 0, "no client saw a value committed");
    }
}
