using System.Buffers.Binary;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Akka.Actor;
using RaftActors.Client;
using RaftActors.Core;

namespace RaftActors.Benchmarks;

/// <summary>
/// <c>--mode compaction</c>: log compaction under a long write load. <c>--writes</c> commands of
/// <c>--payload</c> bytes over <c>--keys</c> keys go to the cluster with the library's snapshot
/// defaults, while every node's data directory and the process's managed heap are sampled each
/// second; then a follower is killed, its data directory deleted, and it is restarted and timed
/// until it has applied everything the leader committed — through the leader's snapshot.
/// </summary>
internal static class CompactionRun
{
    private static readonly TimeSpan SampleEvery = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan ProgressEvery = TimeSpan.FromSeconds(15);

    public static async Task<int> RunAsync(BenchmarkOptions options, CancellationToken cancel)
    {
        options = options with { StateMachine = () => new KeyedBytesStore() };
        var snapshots = options.Snapshots;
        Print("RaftActors benchmark: log compaction");
        Print($"  parameters   nodes {options.Nodes}, clients {options.Clients}, writes {options.Writes:N0} of {options.Payload} B over {options.Keys:N0} keys, " +
              $"fsync {(options.Fsync ? "on" : "off")}; raft.snapshot entries-threshold {snapshots.EntriesThreshold}, bytes-threshold {snapshots.BytesThreshold}, " +
              $"trailing-entries {snapshots.TrailingEntries}, chunk-size {snapshots.ChunkSize}, chunks-in-flight {snapshots.ChunksInFlight}; " +
              $"WAL segments of {Storage.FileRaftStorageOptions.DefaultSegmentSize >> 20} MiB");
        await using var cluster = BenchmarkCluster.Start(options, new ReplicationTrafficMeter());
        var leader = await cluster.WaitUntilSettledAsync(TimeSpan.FromSeconds(30));
        Print($"  storage      FileRaftStorage per node under {cluster.Root}; leader {leader.NodeId}");
        Print("");

        // The write load, sampled.
        var peaks = new Peaks(cluster);
        using var sampling = new CancellationTokenSource();
        var sampler = Task.Run(() => peaks.SampleAsync(SampleEvery, sampling.Token));
        var clock = Stopwatch.StartNew();
        var written = await WriteAsync(cluster, options, leader.NodeId, clock, cancel);
        var writeSeconds = clock.Elapsed.TotalSeconds;
        var settled = await cluster.WaitUntilSettledAsync(TimeSpan.FromSeconds(60));
        await sampling.CancelAsync();
        await sampler;
        peaks.Sample();
        Print($"  {written:N0} writes acknowledged in {writeSeconds:F1} s ({written / writeSeconds:F0}/s); leader {settled.NodeId} at index {settled.CommitIndex:N0}");
        foreach (var line in peaks.Describe())
            Print("  " + line);

        // A follower loses its disk and catches up.
        var follower = cluster.RunningNodeIds.First(id => id != settled.NodeId);
        await cluster.KillAsync(follower);
        Directory.Delete(cluster.NodeDirectory(follower), recursive: true);
        var target = (await cluster.WaitUntilSettledAsync(TimeSpan.FromSeconds(30))).CommitIndex;
        var snapshotBytes = Directory.GetFiles(cluster.NodeDirectory(settled.NodeId), "snapshot-*.snap").Select(f => new FileInfo(f).Length).DefaultIfEmpty(0).Max();
        var catchUp = Stopwatch.StartNew();
        cluster.Restart(follower);
        var (installed, caughtUp) = await WaitUntilCaughtUpAsync(cluster, follower, target, TimeSpan.FromMinutes(5));
        var catchUpSeconds = catchUp.Elapsed.TotalSeconds;
        var entriesAfter = caughtUp.LastApplied - caughtUp.SnapshotIndex;
        Print($"  wiped follower {follower}: the leader's snapshot (through {caughtUp.SnapshotIndex:N0}, {snapshotBytes:N0} bytes) installed " +
              $"{installed.TotalMilliseconds:F0} ms after its restart; the {entriesAfter:N0} entries after it applied {catchUpSeconds * 1000:F0} ms after: " +
              $"{caughtUp.LastApplied / catchUpSeconds:N0} entries' worth of state per second " +
              $"({entriesAfter / Math.Max(catchUpSeconds - installed.TotalSeconds, 0.001):N0} entries/s replicated after the snapshot)");

        var results = new JsonObject
        {
            ["writes"] = written,
            ["writes_per_s"] = Math.Round(written / writeSeconds),
            ["max_data_dir_bytes"] = peaks.MaxDirectoryBytes.Values.Max(),
            ["max_data_dir_bytes_by_node"] = new JsonObject(peaks.MaxDirectoryBytes.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
            ["max_managed_heap_bytes_all_nodes"] = peaks.MaxHeapBytes,
            ["managed_heap_bytes_after_gc_all_nodes"] = peaks.HeapAfterCollection(),
            ["wiped_follower_snapshot_installed_ms"] = Math.Round(installed.TotalMilliseconds),
            ["wiped_follower_caught_up_ms"] = Math.Round(catchUpSeconds * 1000),
            ["wiped_follower_snapshot_bytes"] = snapshotBytes,
            ["wiped_follower_entries_after_snapshot"] = entriesAfter,
            ["wiped_follower_state_entries_per_s"] = Math.Round(caughtUp.LastApplied / catchUpSeconds),
            ["parameters"] = new JsonObject
            {
                ["nodes"] = options.Nodes,
                ["clients"] = options.Clients,
                ["payload"] = options.Payload,
                ["keys"] = options.Keys,
                ["fsync"] = options.Fsync,
                ["entries_threshold"] = snapshots.EntriesThreshold,
                ["trailing_entries"] = snapshots.TrailingEntries,
            },
        };
        Print(results.ToJsonString());
        if (options.JsonFile is { } file)
            await File.WriteAllTextAsync(file, results.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + Environment.NewLine, cancel);
        return 0;
    }

    /// <summary><c>--clients</c> proposers beside the leader until <c>--writes</c> are acknowledged, each write a key in turn.</summary>
    private static async Task<long> WriteAsync(BenchmarkCluster cluster, BenchmarkOptions options, string leaderId, Stopwatch clock, CancellationToken cancel)
    {
        var clients = Enumerable.Range(1, options.Clients).Select(i => cluster.StartClient($"writer-{i}", seed: i, leaderId)).ToList();
        long issued = 0, acknowledged = 0;
        var template = new byte[options.Payload];
        new Random(42).NextBytes(template);
        using var done = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        var progress = Task.Run(async () =>
        {
            while (!done.IsCancellationRequested)
            {
                await Task.Delay(ProgressEvery, done.Token).ContinueWith(_ => { });
                Print($"  +{clock.Elapsed.TotalSeconds:F0} s: {Interlocked.Read(ref acknowledged):N0} writes acknowledged; " +
                      $"managed heap {GC.GetTotalMemory(forceFullCollection: false) / (double)(1 << 20):F0} MiB");
            }
        });
        await Task.WhenAll(clients.Select(client => Task.Run(async () =>
        {
            long n;
            while ((n = Interlocked.Increment(ref issued)) <= options.Writes && !cancel.IsCancellationRequested)
            {
                var command = (byte[])template.Clone();
                BinaryPrimitives.WriteInt32LittleEndian(command, (int)(n % options.Keys));
                while (true)
                {
                    try
                    {
                        await client.SendAsync(command);
                        break;
                    }
                    catch (RaftClientException)
                    {
                        // Not applied (or unknown): the session makes the retry apply at most once.
                    }
                }

                Interlocked.Increment(ref acknowledged);
            }
        }, cancel)));
        foreach (var client in clients)
            client.Actor.Tell(PoisonPill.Instance);
        await done.CancelAsync();
        await progress;
        return acknowledged;
    }

    /// <summary>Polls the node until it has applied <paramref name="index"/>; also says when it first had a snapshot.</summary>
    private static async Task<(TimeSpan SnapshotInstalled, Messages.RaftStatus CaughtUp)> WaitUntilCaughtUpAsync(
        BenchmarkCluster cluster, string nodeId, long index, TimeSpan within)
    {
        var clock = Stopwatch.StartNew();
        TimeSpan? installed = null;
        while (clock.Elapsed < within)
        {
            var status = (await cluster.StatusesAsync(TimeSpan.FromSeconds(1))).FirstOrDefault(s => s?.NodeId == nodeId);
            if (status is { SnapshotIndex: > 0 })
                installed ??= clock.Elapsed;
            if (status is not null && status.LastApplied >= index)
                return (installed ?? clock.Elapsed, status);
            await Task.Delay(5);
        }

        throw new TimeoutException($"{nodeId} did not apply through {index} within {within.TotalSeconds} s");
    }

    private static void Print(string line) => Console.WriteLine(line);

    /// <summary>The largest size each node's data directory and the process's managed heap reached.</summary>
    private sealed class Peaks(BenchmarkCluster cluster)
    {
        private readonly object _lock = new();

        public Dictionary<string, long> MaxDirectoryBytes { get; } = new();

        public long MaxHeapBytes { get; private set; }

        public async Task SampleAsync(TimeSpan every, CancellationToken stop)
        {
            while (!stop.IsCancellationRequested)
            {
                Sample();
                await Task.Delay(every, stop).ContinueWith(_ => { });
            }
        }

        public void Sample()
        {
            lock (_lock)
            {
                foreach (var id in cluster.Members.Select(m => m.Id))
                    MaxDirectoryBytes[id] = Math.Max(MaxDirectoryBytes.GetValueOrDefault(id), DirectoryBytes(cluster.NodeDirectory(id)));
                MaxHeapBytes = Math.Max(MaxHeapBytes, GC.GetTotalMemory(forceFullCollection: false));
            }
        }

        public long HeapAfterCollection() => GC.GetTotalMemory(forceFullCollection: true);

        public IEnumerable<string> Describe()
        {
            foreach (var (id, bytes) in MaxDirectoryBytes)
                yield return $"{id}: data directory at most {bytes / (double)(1 << 20):F1} MiB";
            yield return $"managed heap of the whole process (all {MaxDirectoryBytes.Count} nodes and the clients) at most {MaxHeapBytes / (double)(1 << 20):F1} MiB " +
                         $"(sampled each second, garbage included)";
        }

        private static long DirectoryBytes(string directory)
        {
            try
            {
                return Directory.EnumerateFiles(directory).Sum(f =>
                {
                    try
                    {
                        return new FileInfo(f).Length;
                    }
                    catch (FileNotFoundException)
                    {
                        return 0; // deleted as it was listed (a compacted segment, a renamed snapshot)
                    }
                });
            }
            catch (DirectoryNotFoundException)
            {
                return 0;
            }
        }
    }
}
