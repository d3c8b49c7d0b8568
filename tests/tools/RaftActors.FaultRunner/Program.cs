using System.Globalization;
using RaftActors.IntegrationTests.Faults;
using RaftActors.FaultRunner;

// The fault run of tests/RaftActors.IntegrationTests/FaultTests, for as long and on as many nodes
// as asked: `dotnet run --project tests/tools/RaftActors.FaultRunner -- --duration 600 --seed 42`. With
// --runs N (0: until Ctrl+C) it goes on with the next seeds. Exit code 0 when every run passed.
const string usage = """
    usage: dotnet run --project tests/tools/RaftActors.FaultRunner -- [--duration SECONDS] [--seed N] [--nodes N] [--clients N] [--keys N] [--runs N] [--log FILE] [--stale-reads]
      --duration     seconds of faults per run (default 60)
      --seed         the first run's seed (default: random); run i uses seed + i
      --nodes        server processes (default 5, at least 3)
      --clients      concurrent clients (default 8)
      --keys         registers the clients contend on (default 3)
      --runs         how many runs (default 1; 0 runs until Ctrl+C)
      --log          where each run's full log goes (default fault-run-SEED.log in the working directory)
      --stale-reads  read each node's local copy, which is not linearizable: the run must fail
    """;

var options = new FaultRunOptions { Seed = Random.Shared.Next(1, int.MaxValue / 2) };
var runs = 1;
string? logFile = null;
for (var i = 0; i < args.Length; i++)
{
    var (option, value) = (args[i], i + 1 < args.Length ? args[i + 1] : null);
    switch (option)
    {
        case "-h" or "--help":
            Console.WriteLine(usage);
            return 0;
        case "--stale-reads":
            options = options with { StaleReads = true };
            continue;
        case "--log" when value is not null:
            logFile = value;
            i++;
            continue;
    }

    i++;
    if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var number))
        return Usage($"{option}: needs a number");
    switch (option)
    {
        case "--duration" when number > 0:
            options = options with { Duration = TimeSpan.FromSeconds(number) };
            break;
        case "--seed":
            options = options with { Seed = number };
            break;
        case "--nodes" when number >= 3:
            options = options with { Nodes = number };
            break;
        case "--clients" when number > 0:
            options = options with { Clients = number };
            break;
        case "--keys" when number > 0:
            options = options with { Keys = number };
            break;
        case "--runs":
            runs = number;
            break;
        default:
            return Usage($"{option} {number}: unknown option or out of range");
    }
}

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
    Console.WriteLine("Ctrl+C: stopping after this run");
};

var failed = 0;
for (var run = 0; (runs == 0 || run < runs) && !cancel.IsCancellationRequested; run++)
{
    var runOptions = options with { Seed = options.Seed + run };
    var path = logFile ?? $"fault-run-{runOptions.Seed}.log";
    Console.WriteLine($"run {run + 1}: {runOptions} (full log: {Path.GetFullPath(path)})");
    FaultRunReport report;
    using (var log = new ConsoleAndFileOutput(path))
        report = await FaultRun.RunAsync(runOptions, log);
    Console.WriteLine(report);
    if (!report.Passed)
        failed++;
}

return failed == 0 ? 0 : 1;

int Usage(string problem)
{
    Console.Error.WriteLine(problem);
    Console.Error.WriteLine(usage);
    return 2;
}
