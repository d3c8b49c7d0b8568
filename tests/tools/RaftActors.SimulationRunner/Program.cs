using System.Diagnostics;
using RaftActors.Simulation;

// raft simulator: replay one seed, run a batch of seeds (the CI budget by default), or run seeds until stopped.
//   --seed N        replay seed N, with a trace of its last events if it fails
//   --seeds N       run seeds --from .. --from+N-1 (default: 1..2000, the CI budget)
//   --long          run seeds from --from (default 100000) on until Ctrl+C, printing progress
//   --from S        the first seed of a batch or of --long
//   --nodes N       cluster size (default: 3, 5, 7 by seed)
//   --bug NAME      inject a known bug: CommitOldTermByCounting, SendVoteBeforeDurable, StayLeaderOnHigherTerm, TruncateOnStaleAppend,
//                   ServeReadsLocally, SnapshotAnswerAfterProtocol, ServeFollowerReadsBeforeCommit, LeaseOutlivesElectionTimeout
//   --parallel P    schedules run at once (default: the number of cores)
//   --no-snapshots  no node snapshots or compacts its log (by default they do, every 5-40 entries by seed)
//   --snapshot-every N, --trailing-entries N   snapshot every N applied entries, keeping N entries behind it (default: by seed)
//   --no-membership no membership changes or leadership transfers among the faults (by default the operator adds, promotes,
//                   removes and replaces servers and hands leadership over)
// The summary counts snapshots taken, installed through InstallSnapshot, and restarts from a snapshot; and membership changes
// committed (servers added, promoted, removed, the leader among them), leadership transfers, and the operator's requests.
var arguments = Arguments.Parse(args);
if (arguments is null)
    return 2;

if (arguments.Seed is { } seed)
    return Replay(arguments.Options(seed) with { Trace = true });

using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stop.Cancel();
};

var first = arguments.From ?? (arguments.Long ? 100_000 : 1);
var seeds = arguments.Long ? Seeds(first, int.MaxValue - first) : Seeds(first, arguments.Count);
Console.WriteLine(arguments.Long
    ? $"running seeds from {first} until Ctrl+C on {arguments.Parallelism} threads"
    : $"running seeds {first}..{first + arguments.Count - 1} on {arguments.Parallelism} threads");

var progress = Stopwatch.StartNew();
var done = 0;
var report = SimulationBatch.Run(
    seeds.Select(arguments.Options),
    arguments.Parallelism,
    onResult: result =>
    {
        done++;
        if (result.Failure is not null)
            Console.WriteLine($"FAILED seed {result.Options.Seed}: {result.Failure.Message}{Environment.NewLine}  replay: {result.Options.ReplayCommand()}");
        if (progress.Elapsed > TimeSpan.FromSeconds(10))
        {
            Console.WriteLine($"  ... {done} schedules, up to seed {result.Options.Seed}");
            progress.Restart();
        }
    },
    cancellation: stop.Token);

Console.WriteLine(report.Summary);
foreach (var failure in report.Failures)
    Console.WriteLine($"  seed {failure.Options.Seed}: {failure.Failure!.Invariant} — replay: {failure.Options.ReplayCommand()}");
return report.Failures.Count == 0 ? 0 : 1;

static IEnumerable<int> Seeds(int first, int count)
{
    for (var i = 0; i < count; i++)
        yield return first + i;
}

static int Replay(SimulationOptions options)
{
    var stopwatch = Stopwatch.StartNew();
    var result = HistoryCheck.Verify(ClusterSimulation.Run(options));
    Console.WriteLine(result.Summary);
    Console.WriteLine($"  {stopwatch.ElapsedMilliseconds} ms; faults: " +
                      string.Join(", ", Enum.GetValues<FaultKind>().Select(k => $"{k} {result.FaultsByKind[(int)k]}")));
    if (options.Membership)
        Console.WriteLine($"  membership: {result.Membership}");
    if (result.Failure is null)
    {
        Console.WriteLine($"  every invariant held; history {result.Linearizability}");
        return 0;
    }

    Console.WriteLine($"  last {result.Trace.Count} events:");
    foreach (var line in result.Trace)
        Console.WriteLine($"    {line}");
    Console.WriteLine($"FAILED {result.Failure.Message}");
    Console.WriteLine($"  cluster {result.ClusterAtFailure}");
    Console.WriteLine($"  replay: {options.ReplayCommand()}");
    return 1;
}

internal sealed record Arguments(int? Seed, int Count, int? From, bool Long, int? Nodes, SimulatedBug Bug, int Parallelism,
    bool NoSnapshots = false, long? SnapshotEvery = null, int? TrailingEntries = null, bool NoMembership = false,
    long? SessionExpiryMs = null, int? MaxSessions = null, long? SessionMinIdleMs = null)
{
    public SimulationOptions Options(int seed)
    {
        var options = SimulationOptions.ForSeed(seed, Bug, Nodes) with { Membership = !NoMembership };
        options = options with
        {
            Sessions = new RaftActors.Core.SessionPolicy(
                SessionExpiryMs is { } expiry ? TimeSpan.FromMilliseconds(expiry) : options.Sessions.Expiry,
                MaxSessions ?? options.Sessions.MaxSessions,
                SessionMinIdleMs is { } minIdle ? TimeSpan.FromMilliseconds(minIdle) : options.Sessions.MinIdle),
        };
        if (NoSnapshots)
            return options with { Snapshots = RaftActors.Configuration.SnapshotSettings.Never };
        return options with
        {
            Snapshots = options.Snapshots with
            {
                EntriesThreshold = SnapshotEvery ?? options.Snapshots.EntriesThreshold,
                TrailingEntries = TrailingEntries ?? options.Snapshots.TrailingEntries,
            },
        };
    }

    public static Arguments? Parse(string[] args)
    {
        var parsed = new Arguments(null, 2000, null, false, null, SimulatedBug.None, Environment.ProcessorCount);
        for (var i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            try
            {
                parsed = args[i] switch
                {
                    "--seed" => parsed with { Seed = int.Parse(Value()) },
                    "--seeds" => parsed with { Count = int.Parse(Value()) },
                    "--from" => parsed with { From = int.Parse(Value()) },
                    "--long" => parsed with { Long = true },
                    "--nodes" => parsed with { Nodes = int.Parse(Value()) },
                    "--bug" => parsed with { Bug = Enum.Parse<SimulatedBug>(Value(), ignoreCase: true) },
                    "--parallel" => parsed with { Parallelism = int.Parse(Value()) },
                    "--no-snapshots" => parsed with { NoSnapshots = true },
                    "--snapshot-every" => parsed with { SnapshotEvery = long.Parse(Value()) },
                    "--trailing-entries" => parsed with { TrailingEntries = int.Parse(Value()) },
                    "--no-membership" => parsed with { NoMembership = true },
                    "--session-expiry-ms" => parsed with { SessionExpiryMs = long.Parse(Value()) },
                    "--max-sessions" => parsed with { MaxSessions = int.Parse(Value()) },
                    "--session-min-idle-ms" => parsed with { SessionMinIdleMs = long.Parse(Value()) },
                    _ => throw new ArgumentException($"unknown option {args[i]}"),
                };
            }
            catch (Exception e) when (e is ArgumentException or FormatException or OverflowException)
            {
                Console.Error.WriteLine($"{e.Message}{Environment.NewLine}usage: --seed N | [--seeds N] [--from S] [--long] [--nodes N] [--bug NAME] [--parallel P] [--no-snapshots] [--snapshot-every N] [--trailing-entries N] [--no-membership] [--session-expiry-ms N] [--max-sessions N] [--session-min-idle-ms N]");
                return null;
            }
        }

        return parsed;
    }
}
