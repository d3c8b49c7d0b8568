using RaftActors.Configuration;
using RaftActors.Messages;
using Xunit.Abstractions;
using static RaftActors.Tests.Replication.ReplicationCluster;

namespace RaftActors.Tests.Replication;

/// <summary>
/// MIT 6.5840 Raft lab 3D (log compaction), test_test.go, ported scenario by scenario onto
/// <see cref="ReplicationCluster"/>. MIT's tester snapshots every 10 applied entries
/// (SnapShotInterval); here every node takes a snapshot once 10 entries were applied since its
/// last (<c>raft.snapshot.entries-threshold = 10</c>), keeps no trailing entries, and sends
/// snapshots in chunks of 512 bytes, 2 in flight, so a snapshot of a few KiB travels as several.
/// The state machine's snapshot is every command it applied (as MIT's), and a restore checks them
/// against what every node applied. MIT's MAXLOGSIZE (2000 bytes of persisted Raft state) becomes
/// a bound on the entries a durable log holds.
/// </summary>
[Collection(ReplicationCollection.Name)]
public sealed class Lab3DSnapshotTests(ITestOutputHelper output)
{
    private const int SnapshotInterval = 10;

    /// <summary>
    /// The most entries a durable log may hold: the interval's worth not yet snapshotted, a round's
    /// proposals (at most 14, plus MIT's one() calls) on top, and a few for the no-ops of elections.
    /// </summary>
    private const int MaxLogEntries = 3 * SnapshotInterval + 15;

    private static readonly SnapshotSettings EveryTenEntries = new(
        entriesThreshold: SnapshotInterval, bytesThreshold: 0, trailingEntries: 0, chunkSize: 512, chunksInFlight: 2);

    [Fact]
    public Task SnapshotBasic() => Run(cfg => SnapCommon(cfg, disconnect: false, crash: false));

    [Fact]
    public Task SnapshotInstall() => Run(cfg => SnapCommon(cfg, disconnect: true, crash: false));

    [Fact]
    public Task SnapshotInstallUnreliable() => Run(cfg => SnapCommon(cfg, disconnect: true, crash: false), unreliable: true);

    [Fact]
    public Task SnapshotInstallCrash() => Run(cfg => SnapCommon(cfg, disconnect: false, crash: true));

    [Fact]
    public Task SnapshotInstallUnCrash() => Run(cfg => SnapCommon(cfg, disconnect: false, crash: true), unreliable: true);

    /// <summary>Crash everyone five times, with enough commands between for a snapshot; the index keeps increasing.</summary>
    [Fact]
    public Task SnapshotAllCrash() => Run(async cfg =>
    {
        await cfg.One(cfg.Random.Next(), cfg.Servers, retry: true);
        for (var i = 0; i < 5; i++)
        {
            // perhaps enough to get a snapshot
            var nn = SnapshotInterval / 2 + cfg.Random.Next(SnapshotInterval);
            for (var k = 0; k < nn; k++)
                await cfg.One(cfg.Random.Next(), cfg.Servers, retry: true);
            var index1 = await cfg.One(cfg.Random.Next(), cfg.Servers, retry: true);

            for (var s = 0; s < cfg.Servers; s++)
                await cfg.Crash(s);
            for (var s = 0; s < cfg.Servers; s++)
            {
                await cfg.StartServer(s);
                cfg.Connect(s);
            }

            var index2 = await cfg.One(cfg.Random.Next(), cfg.Servers, retry: true);
            cfg.Check(index2 >= index1 + 1, $"index decreased from {index1} to {index2}");
        }
    });

    /// <summary>A snapshot, everyone crashed, one command, everyone crashed again, one command: the snapshot is loaded at every restart.</summary>
    [Fact]
    public Task SnapshotInit() => Run(async cfg =>
    {
        await cfg.One(cfg.Random.Next(), cfg.Servers, retry: true);

        // enough ops to make a snapshot
        for (var i = 0; i < SnapshotInterval + 1; i++)
            await cfg.One(cfg.Random.Next(), cfg.Servers, retry: true);
        cfg.Check(cfg.HighestSnapshotIndex() > 0, "no node took a snapshot");

        await CrashAndReviveAll(cfg);

        // a single op, to get something to be written back to persistent storage.
        await cfg.One(cfg.Random.Next(), cfg.Servers, retry: true);

        await CrashAndReviveAll(cfg);

        // do another op to trigger potential bug
        await cfg.One(cfg.Random.Next(), cfg.Servers, retry: true);
    });

    private Task Run(Func<ReplicationCluster, Task> scenario, bool unreliable = false, [System.Runtime.CompilerServices.CallerMemberName] string name = "") =>
        RunAsync(3, output, async cfg =>
        {
            await scenario(cfg);
            cfg.Check(cfg.HighestSnapshotIndex() > 0, "no node ever took a snapshot");
            cfg.Note($"snapshots through {cfg.HighestSnapshotIndex()} at most; {cfg.Network.SentOfType(nameof(InstallSnapshot))} InstallSnapshot chunks sent");
        }, unreliable, EveryTenEntries, name: name);

    private static async Task CrashAndReviveAll(ReplicationCluster cfg)
    {
        for (var s = 0; s < cfg.Servers; s++)
            await cfg.Crash(s);
        for (var s = 0; s < cfg.Servers; s++)
        {
            await cfg.StartServer(s);
            cfg.Connect(s);
        }
    }

    /// <summary>
    /// MIT's snapcommon: 30 rounds in which a victim (a follower, or every third round the leader)
    /// is disconnected or crashed while the others commit enough for a snapshot; rejoining, it needs
    /// entries its peers compacted away, so it catches up through InstallSnapshot.
    /// </summary>
    private static async Task SnapCommon(ReplicationCluster cfg, bool disconnect, bool crash)
    {
        const int iters = 30;
        await cfg.One(cfg.Random.Next(), cfg.Servers, retry: true);
        var leader1 = await cfg.CheckOneLeader();

        for (var i = 0; i < iters; i++)
        {
            var victim = (leader1 + 1) % cfg.Servers;
            var sender = leader1;
            if (i % 3 == 1)
            {
                sender = (leader1 + 1) % cfg.Servers;
                victim = leader1;
            }

            if (disconnect)
            {
                cfg.Disconnect(victim);
                await cfg.One(cfg.Random.Next(), cfg.Servers - 1, retry: true);
            }

            if (crash)
            {
                await cfg.Crash(victim);
                await cfg.One(cfg.Random.Next(), cfg.Servers - 1, retry: true);
            }

            // perhaps send enough to get a snapshot
            var nn = SnapshotInterval / 2 + cfg.Random.Next(SnapshotInterval);
            for (var k = 0; k < nn; k++)
                await cfg.StartNoWait(sender, cfg.Random.Next());

            // let applier threads catch up with the Start()'s; without a victim, make sure every
            // follower caught up, so that no InstallSnapshot is needed for SnapshotBasic
            await cfg.One(cfg.Random.Next(), disconnect || crash ? cfg.Servers - 1 : cfg.Servers, retry: true);

            cfg.CheckLogSize(MaxLogEntries);

            if (disconnect)
            {
                // reconnect a follower, who maybe behind and needs to receive a snapshot to catch up.
                cfg.Connect(victim);
                await cfg.One(cfg.Random.Next(), cfg.Servers, retry: true);
                leader1 = await cfg.CheckOneLeader();
            }

            if (crash)
            {
                await cfg.StartServer(victim);
                cfg.Connect(victim);
                await cfg.One(cfg.Random.Next(), cfg.Servers, retry: true);
                leader1 = await cfg.CheckOneLeader();
            }
        }

        if (disconnect || crash)
            cfg.Check(cfg.Network.SentOfType(nameof(InstallSnapshot)) > 0, "no follower ever needed a snapshot: the scenario did not test InstallSnapshot");
    }
}
