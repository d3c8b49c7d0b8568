using System.CommandLine;
using RaftActors.Benchmarks;

// The RaftActors benchmark: a cluster of ActorSystems over Akka.Remote on loopback, each node with
// its write-ahead log on disk; throughput, commit latency, failover and bytes on the wire.
var nodes = new Option<int>("--nodes") { Description = "Raft nodes, each its own ActorSystem", DefaultValueFactory = _ => 3 };
var clients = new Option<int>("--clients") { Description = "Concurrent proposers in the throughput phase", DefaultValueFactory = _ => 64 };
var clientsIn = new Option<ClientPlacement>("--clients-in")
{
    Description = "Where the clients' RaftClient actors run: LeaderSystem (beside the leader, as an embedding application) or OwnSystem (over Akka.Remote)",
    DefaultValueFactory = _ => ClientPlacement.LeaderSystem,
};
var payload = new Option<int>("--payload") { Description = "Bytes per command", DefaultValueFactory = _ => 128 };
var seconds = new Option<double>("--seconds") { Description = "Seconds the throughput phase counts commits (after a warm-up)", DefaultValueFactory = _ => 10 };
var rounds = new Option<int>("--rounds") { Description = "Run the throughput and read phases this many times and report their medians", DefaultValueFactory = _ => 1 };
var warmUp = new Option<double>("--warmup") { Description = "Seconds of throughput load before the counting starts (the JIT settles)", DefaultValueFactory = _ => 5 };
var readSeconds = new Option<double>("--read-seconds") { Description = "Seconds the read phase counts linearizable queries from --clients readers (0 skips it)", DefaultValueFactory = _ => 5 };
var fsync = new Option<bool>("--fsync") { Description = "fsync the write-ahead log before a write counts as durable (true|false)", DefaultValueFactory = _ => true };
var json = new Option<string?>("--json") { Description = "Also write the results to this file as one JSON object" };
var latencyCommands = new Option<int>("--latency-commands") { Description = "Sequential commands timed for the latency figures", DefaultValueFactory = _ => 2000 };
var failoverTrials = new Option<int>("--failover-trials") { Description = "Leader kills timed for the failover figures (0 skips them)", DefaultValueFactory = _ => 20 };
var akkaLogLevel = new Option<string>("--akka-log-level") { Description = "Akka's log level in every ActorSystem: off, error, warning, info, debug", DefaultValueFactory = _ => "off" };
var maxAppendsInFlight = new Option<int>("--max-appends-in-flight")
{
    Description = "raft.max-appends-in-flight of every node: AppendEntries with entries a leader keeps unacknowledged per follower",
    DefaultValueFactory = _ => RaftActors.Core.ReplicationLimits.Default.MaxAppendsInFlight,
};
var pipelinePartialAppends = new Option<bool>("--pipeline-partial-appends")
{
    Description = "raft.pipeline-partial-appends of every node: pipeline partial AppendEntries too (true|false)",
    DefaultValueFactory = _ => false,
};
var preVote = new Option<bool>("--pre-vote") { Description = "raft.pre-vote of every node (true|false)", DefaultValueFactory = _ => true };
var checkQuorum = new Option<bool>("--check-quorum") { Description = "raft.check-quorum of every node (true|false)", DefaultValueFactory = _ => true };
var leaseReads = new Option<bool>("--lease-reads") { Description = "raft.lease-reads of every node: reads without a heartbeat round (true|false; needs --check-quorum)", DefaultValueFactory = _ => false };
var dataDir = new Option<string?>("--data-dir") { Description = "Keep the nodes' logs here (default: a temporary directory, removed at the end)" };
var mode = new Option<BenchmarkMode>("--mode")
{
    Description = "Standard (throughput, latency, failover, wire bytes), Compaction (disk and heap under --writes writes, then a wiped follower's catch-up) " +
                  "or Membership (leadership transfer time; the write pause of a planned leader restart against a crash)",
    DefaultValueFactory = _ => BenchmarkMode.Standard,
};
var transferTrials = new Option<int>("--transfer-trials") { Description = "Membership mode: leadership transfers timed", DefaultValueFactory = _ => 20 };
var restartTrials = new Option<int>("--restart-trials") { Description = "Membership mode: planned leader restarts (and as many crashes) under a sequential writer", DefaultValueFactory = _ => 10 };
var writes = new Option<long>("--writes") { Description = "Compaction mode: commands written in all", DefaultValueFactory = _ => 1_000_000 };
var keys = new Option<int>("--keys") { Description = "Compaction mode: keys the writes spread over (the state's size)", DefaultValueFactory = _ => 10_000 };
var snapshotEntries = new Option<long>("--snapshot-entries")
{
    Description = "raft.snapshot.entries-threshold of every node: entries applied between snapshots",
    DefaultValueFactory = _ => RaftActors.Configuration.SnapshotSettings.Default.EntriesThreshold,
};

var root = new RootCommand("RaftActors benchmark: throughput, commit latency, failover and wire bytes of a Raft cluster over Akka.Remote on loopback")
{
    nodes, clients, clientsIn, payload, seconds, rounds, warmUp, readSeconds, fsync, json, latencyCommands, failoverTrials, dataDir, akkaLogLevel, maxAppendsInFlight,
    pipelinePartialAppends, preVote, checkQuorum, leaseReads, mode, writes, keys, snapshotEntries, transferTrials, restartTrials,
};
root.SetAction(async (parse, cancel) =>
{
    var options = new BenchmarkOptions
    {
        Nodes = parse.GetValue(nodes),
        Clients = parse.GetValue(clients),
        ClientsIn = parse.GetValue(clientsIn),
        Payload = parse.GetValue(payload),
        Seconds = parse.GetValue(seconds),
        Rounds = parse.GetValue(rounds),
        WarmUpSeconds = parse.GetValue(warmUp),
        ReadSeconds = parse.GetValue(readSeconds),
        Fsync = parse.GetValue(fsync),
        JsonFile = parse.GetValue(json),
        LatencyCommands = parse.GetValue(latencyCommands),
        FailoverTrials = parse.GetValue(failoverTrials),
        DataDirectory = parse.GetValue(dataDir),
        AkkaLogLevel = parse.GetValue(akkaLogLevel)!,
        MaxAppendsInFlight = parse.GetValue(maxAppendsInFlight),
        PipelinePartialAppends = parse.GetValue(pipelinePartialAppends),
        PreVote = parse.GetValue(preVote),
        CheckQuorum = parse.GetValue(checkQuorum),
        LeaseReads = parse.GetValue(leaseReads),
        Mode = parse.GetValue(mode),
        Writes = parse.GetValue(writes),
        Keys = parse.GetValue(keys),
        TransferTrials = parse.GetValue(transferTrials),
        RestartTrials = parse.GetValue(restartTrials),
        Snapshots = RaftActors.Configuration.SnapshotSettings.Default with { EntriesThreshold = parse.GetValue(snapshotEntries) },
    };
    if (options.Problem() is { } problem)
    {
        Console.Error.WriteLine($"raftactors-bench: {problem}");
        return 2;
    }

    return options.Mode switch
    {
        BenchmarkMode.Compaction => await CompactionRun.RunAsync(options, cancel),
        BenchmarkMode.Membership => await MembershipRun.RunAsync(options, cancel),
        _ => await BenchmarkRun.RunAsync(options, cancel),
    };
});

return await root.Parse(args).InvokeAsync();
