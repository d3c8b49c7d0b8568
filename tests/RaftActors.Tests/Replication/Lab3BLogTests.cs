using System.Diagnostics;
using Xunit.Abstractions;
using static RaftActors.Tests.Replication.ReplicationCluster;

namespace RaftActors.Tests.Replication;

/// <summary>
/// MIT 6.5840 Raft lab 3B (the log), test_test.go, ported scenario by scenario onto
/// <see cref="ReplicationCluster"/>. Differences from MIT, each forced by our design:
/// a new leader appends a no-op of its term (§8), so the first command lands at index 2 and
/// a leader change adds an entry; where MIT checks fixed indexes, these tests check the same
/// thing relative to the indexes the commands actually got.
/// </summary>
[Collection(ReplicationCollection.Name)]
public sealed class Lab3BLogTests(ITestOutputHelper output)
{
    [Fact]
    public Task BasicAgree() => RunAsync(3, output, async cfg =>
    {
        // MIT: commands get indexes 1, 2, 3 and nothing commits before the first Start. Here the
        // first leader's no-op takes index 1, so the commands get 2, 3, 4.
        long expected = 2;
        for (var k = 1; k <= 3; k++, expected++)
        {
            var (nd, _) = cfg.NCommitted(expected);
            cfg.Check(nd == 0, "some have committed before Start()");
            cfg.Check(cfg.Recorder.HighestApplied() < expected, "some have applied a command at or past the index before Start()");
            var index = await cfg.One(k * 100, cfg.Servers, retry: false);
            cfg.Check(index == expected, $"got index {index} but expected {expected}");
        }
    });

    [Fact]
    public Task RPCBytes() => RunAsync(3, output, async cfg =>
    {
        // Each command must travel to each follower once: bytes on the wire <= followers x the
        // commands' bytes + 50 KB (MIT allows servers x bytes + 50 KB).
        var first = await cfg.One(99, cfg.Servers, retry: false);
        var bytes0 = cfg.ByteCount;
        long sent = 0;
        for (var index = first + 1; index < first + 11; index++)
        {
            var command = RandomString(cfg.Random, 5000);
            var xindex = await cfg.One(command, cfg.Servers, retry: false);
            cfg.Check(xindex == index, $"got index {xindex} but expected {index}");
            sent += command.Length;
        }

        var got = cfg.ByteCount - bytes0;
        var expected = (cfg.Servers - 1) * sent;
        output.WriteLine($"{got} bytes sent for {sent} bytes of commands to {cfg.Servers - 1} followers");
        cfg.Check(got <= expected + 50_000, $"too many RPC bytes; got {got}, expected {expected}");
    });

    [Fact]
    public Task FollowerFailure() => RunAsync(3, output, async cfg =>
    {
        await cfg.One(101, cfg.Servers, retry: false);

        // Disconnect one follower from the network: the other two still agree.
        var leader1 = await cfg.CheckOneLeader();
        cfg.Disconnect((leader1 + 1) % cfg.Servers);
        await cfg.One(102, cfg.Servers - 1, retry: false);
        await Task.Delay(RaftElectionTimeout);
        var last = await cfg.One(103, cfg.Servers - 1, retry: false);

        // Disconnect the remaining follower: the leader still accepts a command, which cannot commit.
        var leader2 = await cfg.CheckOneLeader();
        cfg.Disconnect((leader2 + 1) % cfg.Servers);
        cfg.Disconnect((leader2 + 2) % cfg.Servers);
        var (index, _, ok) = await cfg.Start(leader2, 104);
        cfg.Check(ok, "leader rejected Start()");
        cfg.Check(index == last + 1, $"expected index {last + 1}, got {index}");

        await Task.Delay(2 * RaftElectionTimeout);
        var (n, _) = cfg.NCommitted(index);
        cfg.Check(n == 0, $"{n} committed but no majority");
        cfg.Check(cfg.Recorder.NodesThatApplied(104) == 0, "104 was applied without a majority");
    });

    [Fact]
    public Task LeaderFailure() => RunAsync(3, output, async cfg =>
    {
        await cfg.One(101, cfg.Servers, retry: false);

        // Disconnect the first leader: the other two elect a new one and agree.
        var leader1 = await cfg.CheckOneLeader();
        cfg.Disconnect(leader1);
        await cfg.One(102, cfg.Servers - 1, retry: false);
        await Task.Delay(RaftElectionTimeout);
        var last = await cfg.One(103, cfg.Servers - 1, retry: false);

        // Disconnect the new leader too, and submit a command to every server: nothing commits.
        var leader2 = await cfg.CheckOneLeader();
        cfg.Disconnect(leader2);
        for (var i = 0; i < cfg.Servers; i++)
            await cfg.StartNoWait(i, 104);
        await Task.Delay(2 * RaftElectionTimeout);

        // MIT checks nCommitted(4) == 0: here nothing past 103's index may be applied anywhere.
        cfg.Check(cfg.Recorder.HighestApplied() == last, $"an index past {last} was applied without a majority");
        cfg.Check(cfg.Recorder.NodesThatApplied(104) == 0, "104 committed without a majority");
    });

    [Fact]
    public Task FailAgree() => RunAsync(3, output, async cfg =>
    {
        await cfg.One(101, cfg.Servers, retry: false);

        // Disconnect one follower: the leader and the other follower go on agreeing, across an election timeout.
        var leader = await cfg.CheckOneLeader();
        cfg.Disconnect((leader + 1) % cfg.Servers);
        await cfg.One(102, cfg.Servers - 1, retry: false);
        await cfg.One(103, cfg.Servers - 1, retry: false);
        await Task.Delay(RaftElectionTimeout);
        await cfg.One(104, cfg.Servers - 1, retry: false);
        await cfg.One(105, cfg.Servers - 1, retry: false);

        // Reconnect: the follower catches up (its inflated term may force an election, hence retry).
        cfg.Connect((leader + 1) % cfg.Servers);
        await cfg.One(106, cfg.Servers, retry: true);
        await Task.Delay(RaftElectionTimeout);
        await cfg.One(107, cfg.Servers, retry: true);
    });

    [Fact]
    public Task FailNoAgree() => RunAsync(5, output, async cfg =>
    {
        var first = await cfg.One(10, cfg.Servers, retry: false);

        // 3 of 5 followers disconnect: the leader accepts a command that cannot commit.
        var leader = await cfg.CheckOneLeader();
        cfg.Disconnect((leader + 1) % cfg.Servers);
        cfg.Disconnect((leader + 2) % cfg.Servers);
        cfg.Disconnect((leader + 3) % cfg.Servers);
        var (index, _, ok) = await cfg.Start(leader, 20);
        cfg.Check(ok, "leader rejected Start()");
        cfg.Check(index == first + 1, $"expected index {first + 1}, got {index}");
        await Task.Delay(2 * RaftElectionTimeout);
        var (n, _) = cfg.NCommitted(index);
        cfg.Check(n == 0, $"{n} committed but no majority");

        // Repair. The disconnected majority may elect a leader from their own ranks, forgetting index 2 (ours: 3).
        cfg.Connect((leader + 1) % cfg.Servers);
        cfg.Connect((leader + 2) % cfg.Servers);
        cfg.Connect((leader + 3) % cfg.Servers);
        var leader2 = await cfg.CheckOneLeader();
        var (index2, _, ok2) = await cfg.Start(leader2, 30);
        cfg.Check(ok2, "leader2 rejected Start()");

        // MIT: index2 is 2 or 3 (the uncommitted 20's index, reused or not). Here new leaders'
        // no-ops may come between: everything between 10 and 30 is 20 or a no-op.
        cfg.Check(index2 > first, $"unexpected index {index2}");
        foreach (var entry in cfg.AcceptedLog(leader2).Where(e => e.Index > first && e.Index < index2))
            cfg.Check(entry.Command is null || Equals(cfg.Decode(entry.Command), 20), $"unexpected entry {entry} between 10 and 30");

        await cfg.One(1000, cfg.Servers, retry: true);
    });

    [Fact]
    public Task ConcurrentStarts() => RunAsync(3, output, async cfg =>
    {
        var success = false;
        for (var attempt = 0; attempt < 5 && !success; attempt++)
        {
            if (attempt > 0)
                await Task.Delay(TimeSpan.FromSeconds(3)); // give the cluster time to settle
            var leader = await cfg.CheckOneLeader();
            var (_, term, ok) = await cfg.Start(leader, 1);
            if (!ok)
                continue; // leader moved on really quickly

            const int iters = 5;
            var starts = await Task.WhenAll(Enumerable.Range(0, iters).Select(i => cfg.Start(leader, 100 + i)));
            var indexes = starts.Where(s => s.IsLeader && s.Term == term).Select(s => s.Index).ToList();

            var termChanged = false;
            for (var j = 0; j < cfg.Servers; j++)
                termChanged |= (await cfg.GetState(j)).Term != term;
            if (termChanged)
                continue; // the term changed: can't expect low RPC counts

            var commands = new List<int>();
            var movedOn = false;
            foreach (var index in indexes)
            {
                var (moved, command) = await cfg.Wait(index, cfg.Servers, term);
                if (moved)
                {
                    movedOn = true; // peers have moved on to later terms, so we can't expect all Start()s to have succeeded
                    break;
                }

                cfg.Check(command is int, $"value {command} is not an int");
                commands.Add((int)command!);
            }

            if (movedOn)
                continue;
            for (var i = 0; i < iters; i++)
                cfg.Check(commands.Contains(100 + i), $"cmd {100 + i} missing in [{string.Join(", ", commands)}]");
            success = true;
        }

        cfg.Check(success, "term changed too often");
    });

    [Fact]
    public Task Rejoin() => RunAsync(3, output, async cfg =>
    {
        await cfg.One(101, cfg.Servers, retry: true);

        // The leader is partitioned off and appends entries no one else sees.
        var leader1 = await cfg.CheckOneLeader();
        cfg.Disconnect(leader1);
        await cfg.StartNoWait(leader1, 102);
        await cfg.StartNoWait(leader1, 103);
        await cfg.StartNoWait(leader1, 104);

        // The new leader commits, also at the index the old leader used.
        await cfg.One(103, 2, retry: true);

        // The new leader is partitioned off; the old one comes back.
        var leader2 = await cfg.CheckOneLeader();
        cfg.Disconnect(leader2);
        cfg.Connect(leader1);
        await cfg.One(104, 2, retry: true);

        // All together now.
        cfg.Connect(leader2);
        await cfg.One(105, cfg.Servers, retry: true);
        cfg.Check(cfg.Recorder.NodesThatApplied(102) == 0, "102, appended only by a partitioned leader, was applied");
    });

    [Fact]
    public Task Backup() => RunAsync(5, output, async cfg =>
    {
        await cfg.One(cfg.Random.Next(), cfg.Servers, retry: true);

        // Put the leader and one follower in a partition.
        var leader1 = await cfg.CheckOneLeader();
        cfg.Disconnect((leader1 + 2) % cfg.Servers);
        cfg.Disconnect((leader1 + 3) % cfg.Servers);
        cfg.Disconnect((leader1 + 4) % cfg.Servers);

        // Submit lots of commands that won't commit.
        for (var i = 0; i < 50; i++)
            await cfg.StartNoWait(leader1, cfg.Random.Next());
        await Task.Delay(RaftElectionTimeout / 2);
        cfg.Note($"{cfg.Id(leader1)} appended 50 commands it cannot commit");
        cfg.Disconnect((leader1 + 0) % cfg.Servers);
        cfg.Disconnect((leader1 + 1) % cfg.Servers);

        // Allow the other partition to recover; lots of successful commands to the new group.
        cfg.Connect((leader1 + 2) % cfg.Servers);
        cfg.Connect((leader1 + 3) % cfg.Servers);
        cfg.Connect((leader1 + 4) % cfg.Servers);
        for (var i = 0; i < 50; i++)
            await cfg.One(cfg.Random.Next(), 3, retry: true);
        cfg.Note("the majority committed 50 commands");

        // Now another partitioned leader and one follower.
        var leader2 = await cfg.CheckOneLeader();
        var other = (leader1 + 2) % cfg.Servers;
        if (leader2 == other)
            other = (leader2 + 1) % cfg.Servers;
        cfg.Disconnect(other);

        // Lots more commands that won't commit.
        for (var i = 0; i < 50; i++)
            await cfg.StartNoWait(leader2, cfg.Random.Next());
        await Task.Delay(RaftElectionTimeout / 2);

        // Bring the original leader back to life, with the follower left behind.
        for (var i = 0; i < cfg.Servers; i++)
            cfg.Disconnect(i);
        cfg.Connect((leader1 + 0) % cfg.Servers);
        cfg.Connect((leader1 + 1) % cfg.Servers);
        cfg.Connect(other);

        // Lots of successful commands to the new group: the new leader backs up over the wrong logs.
        for (var i = 0; i < 50; i++)
            await cfg.One(cfg.Random.Next(), 3, retry: true);
        cfg.Note("the group of the original leader committed 50 commands");

        // Now everyone.
        for (var i = 0; i < cfg.Servers; i++)
            cfg.Connect(i);
        await cfg.One(cfg.Random.Next(), cfg.Servers, retry: true);
    });

    /// <summary>
    /// MIT's bounds assume at most 10 heartbeats per second; ours go at 20 per second (50 ms).
    /// An election: at most 30 RPCs (as MIT). 11 commands: at most (10+1+3)*3 = 42 RPCs plus one
    /// heartbeat per follower per heartbeat interval of the measured window. 1 s idle: at most
    /// 1.5 x the heartbeats due (MIT: 60 where 20 are due; ours: 60 where 40 are due).
    /// </summary>
    [Fact]
    public Task Count() => RunAsync(3, output, async cfg =>
    {
        var followers = cfg.Servers - 1;
        var leader = await cfg.CheckOneLeader();
        var total1 = cfg.RpcCount;
        output.WriteLine($"{total1} RPCs to elect the initial leader (bound 30)");
        cfg.Check(total1 is >= 1 and <= 30, $"too many or few RPCs ({total1}) to elect initial leader");

        long total2 = 0;
        var success = false;
        for (var attempt = 0; attempt < 5 && !success; attempt++)
        {
            if (attempt > 0)
                await Task.Delay(TimeSpan.FromSeconds(3)); // give the cluster time to settle
            leader = await cfg.CheckOneLeader();
            total1 = cfg.RpcCount;
            var window = Stopwatch.StartNew();

            const int iters = 10;
            var (starti, term, ok) = await cfg.Start(leader, 1);
            if (!ok)
                continue; // leader moved on really quickly
            var commands = new List<int>();
            var retry = false;
            for (var i = 1; i < iters + 2 && !retry; i++)
            {
                var x = cfg.Random.Next();
                commands.Add(x);
                var (index1, term1, ok1) = await cfg.Start(leader, x);
                if (term1 != term || !ok1)
                {
                    retry = true; // Term changed while starting, or no longer the leader
                    break;
                }

                cfg.Check(starti + i == index1, $"Start() failed: index {index1}, expected {starti + i}");
            }

            for (var i = 1; i < iters + 1 && !retry; i++)
            {
                var (movedOn, command) = await cfg.Wait(starti + i, cfg.Servers, term);
                if (movedOn)
                {
                    retry = true;
                    break;
                }

                cfg.Check(command is int x && x == commands[i - 1], $"wrong value {command} committed for index {starti + i}; expected {commands[i - 1]}");
            }

            if (retry)
                continue;
            var termChanged = false;
            for (var j = 0; j < cfg.Servers; j++)
                termChanged |= (await cfg.GetState(j)).Term != term;
            total2 = cfg.RpcCount;
            if (termChanged)
                continue;

            var bound = ((iters + 1 + 3) * 3) + (followers * (long)Math.Ceiling(window.Elapsed / HeartbeatInterval));
            output.WriteLine($"{total2 - total1} RPCs for {iters} entries in {window.ElapsedMilliseconds} ms (bound {bound})");
            cfg.Check(total2 - total1 <= bound, $"too many RPCs ({total2 - total1}) for {iters} entries (bound {bound})");
            success = true;
        }

        cfg.Check(success, "term changed too often");

        var idle = Stopwatch.StartNew();
        await Task.Delay(TimeSpan.FromSeconds(1));
        var total3 = cfg.RpcCount;
        var idleBound = (long)Math.Ceiling(1.5 * followers * (idle.Elapsed / HeartbeatInterval));
        output.WriteLine($"{total3 - total2} RPCs in {idle.ElapsedMilliseconds} ms of idleness (bound {idleBound})");
        cfg.Check(total3 - total2 <= idleBound, $"too many RPCs ({total3 - total2}) for 1 second of idleness (bound {idleBound})");
    });

    internal static string RandomString(Random random, int length)
    {
        const string alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        return string.Create(length, random, (span, r) =>
        {
            for (var i = 0; i < span.Length; i++)
                span[i] = alphabet[r.Next(alphabet.Length)];
        });
    }
}
