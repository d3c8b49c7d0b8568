using System.CommandLine;
using System.Text;
using System.Text.Json;
using RaftActors.Cli;
using Spectre.Console;

// raftctl: the RaftActors key-value cluster from the command line, over the servers' HTTP API.
var nodesOption = new Option<string[]>("--nodes", "-n")
{
    Description = $"The servers' HTTP endpoints, host:port or http://host:port, comma-separated or repeated " +
                  $"(default: ${ClusterNodes.EnvironmentVariable}, else raft.server.http of each nodeN.conf in --config-dir)",
    AllowMultipleArgumentsPerToken = true,
    Recursive = true,
};
var configDirOption = new Option<string?>("--config-dir")
{
    Description = "Read the nodes from the node1.conf, node2.conf, ... in this directory (default: hocon/ of the repository around the working directory)",
    Recursive = true,
};
var timeoutOption = new Option<double>("--timeout")
{
    Description = "Seconds to keep trying the nodes (a node that is down, 503 or 504 moves on to the next)",
    DefaultValueFactory = _ => 15,
    Recursive = true,
};
var nodeOption = new Option<string?>("--node")
{
    Description = "The node to ask first: its id (n2), its position in the list (2) or host:port; the others are tried after it",
};
var idempotencyKeyOption = new Option<string?>("--idempotency-key", "--request-id")
{
    Description = "The write's Idempotency-Key: the cluster applies one key at most once, however often it is sent within raft.sessions.expiry (default: a new one; --request-id is its former name)",
};

var root = new RootCommand("""
    raftctl: the RaftActors key-value cluster over its HTTP API.
    Exit codes: 0 done; 1 key or member not found, compare-and-set conflict, or a membership change
    or transfer refused; 2 usage; 3 unavailable (certainly not applied); 4 outcome unknown (retry with
    the same --idempotency-key; for a membership change, read `member list` first); 5 any other error
    (for `snapshot`: a snapshot file that is missing or damaged).
    """);
root.Options.Add(nodesOption);
root.Options.Add(configDirOption);
root.Options.Add(timeoutOption);

// status [-o table|json]
var outputOption = new Option<string>("--output", "-o")
{
    Description = "table (default), or json: an array with each node's status, for scripts",
    DefaultValueFactory = _ => "table",
};
outputOption.AcceptOnlyFromAmong("table", "json");
var status = new Command("status", "Every node's role, term, leader and log progress, as a table (or JSON)") { outputOption };
status.SetAction(async (parse, cancel) => await Run(parse, async client =>
{
    var statuses = await client.StatusAsync(cancel);
    if (parse.GetValue(outputOption) == "json")
        Console.WriteLine(StatusView.Json(statuses));
    else
        AnsiConsole.Write(StatusView.Table(statuses));
    return statuses.Any(s => s.Up) ? ExitCodes.Ok : ExitCodes.Unavailable;
}));
root.Subcommands.Add(status);

// metrics [--raw [--node N]]
var rawOption = new Option<bool>("--raw") { Description = "Print one node's GET /metrics as it is (Prometheus text): the first of --nodes that answers, or --node" };
var metrics = new Command("metrics", "Every node's main raft metrics, as a table; --raw prints a node's Prometheus text") { rawOption, nodeOption };
metrics.SetAction(async (parse, cancel) => await Run(parse, async client =>
{
    var scrapes = await client.MetricsAsync(cancel);
    if (!parse.GetValue(rawOption))
    {
        AnsiConsole.Write(MetricsView.Table(scrapes));
        return scrapes.Any(s => s.Text is not null) ? ExitCodes.Ok : ExitCodes.Unavailable;
    }

    var first = First(parse, client);
    var answered = scrapes.Skip(first).Concat(scrapes.Take(first)).FirstOrDefault(s => s.Text is not null)
        ?? throw new CliException($"no node gave its metrics ({string.Join("; ", scrapes.Select(s => $"{s.Node.Name}: {s.Problem}"))})", ExitCodes.Unavailable);
    Console.Write(answered.Text);
    return ExitCodes.Ok;
}));
root.Subcommands.Add(metrics);

// watch
var intervalOption = new Option<double>("--interval")
{
    Description = "Seconds between refreshes",
    DefaultValueFactory = _ => 0.5,
};
var watch = new Command("watch", "A live view of the cluster: the status table, refreshed, and every change seen (Ctrl+C stops)");
watch.Options.Add(intervalOption);
watch.SetAction(async (parse, cancel) => await Run(parse, client =>
{
    var interval = parse.GetValue(intervalOption);
    if (interval is <= 0 or > 3600)
        throw new CliException("--interval must be between 0 and 3600 seconds");
    return StatusView.WatchAsync(client, TimeSpan.FromSeconds(interval), cancel);
}));
root.Subcommands.Add(watch);

// put KEY VALUE
var keyArgument = new Argument<string>("key") { Description = "The key" };
var valueArgument = new Argument<string>("value") { Description = "The value; - reads it from standard input" };
var put = new Command("put", "Set a key's value (applied once committed)") { keyArgument, valueArgument, nodeOption, idempotencyKeyOption };
put.SetAction(async (parse, cancel) => await Run(parse, async client =>
{
    var value = parse.GetValue(valueArgument)!;
    if (value == "-")
        value = await Console.In.ReadToEndAsync(cancel);
    var reply = await client.SendAsync(HttpMethod.Put, KeyPath(parse.GetValue(keyArgument)!), () => new StringContent(value, Encoding.UTF8, "text/plain"),
        IdempotencyKey(parse), First(parse, client), cancel);
    return reply.Status == 200 ? Done(reply, $"index {Index(reply)}") : Failed(reply);
}));
root.Subcommands.Add(put);

// get KEY
var staleOption = new Option<bool>("--stale") { Description = "Read the node's local state machine (fast, may lag) instead of a linearizable read" };
var get = new Command("get", "Print a key's value") { keyArgument, staleOption, nodeOption };
get.SetAction(async (parse, cancel) => await Run(parse, async client =>
{
    var key = parse.GetValue(keyArgument)!;
    var reply = await client.SendAsync(HttpMethod.Get, KeyPath(key) + (parse.GetValue(staleOption) ? "?stale=true" : ""), () => null,
        null, First(parse, client), cancel);
    switch (reply.Status)
    {
        case 200:
            Console.WriteLine(reply.Body.GetProperty("value").GetString());
            return ExitCodes.Ok;
        case 404:
            Console.Error.WriteLine($"raftctl: key '{key}' not found");
            return ExitCodes.NotFoundOrConflict;
        default:
            return Failed(reply);
    }
}));
root.Subcommands.Add(get);

// delete KEY
var delete = new Command("delete", "Remove a key") { keyArgument, nodeOption, idempotencyKeyOption };
delete.SetAction(async (parse, cancel) => await Run(parse, async client =>
{
    var reply = await client.SendAsync(HttpMethod.Delete, KeyPath(parse.GetValue(keyArgument)!), () => null, IdempotencyKey(parse), First(parse, client), cancel);
    return reply.Status == 200
        ? Done(reply, $"index {Index(reply)}, {(reply.Body.TryGetProperty("existed", out var e) && e.GetBoolean() ? "deleted" : "was absent")}")
        : Failed(reply);
}));
root.Subcommands.Add(delete);

// cas KEY VALUE --expected OLD | --absent
var expectedOption = new Option<string?>("--expected") { Description = "Swap only if the key's value is this" };
var absentOption = new Option<bool>("--absent") { Description = "Swap only if the key is absent" };
var newValueArgument = new Argument<string>("value") { Description = "The new value" };
var cas = new Command("cas", "Compare and set: set the key's value only if it is --expected (or --absent)")
{
    keyArgument, newValueArgument, expectedOption, absentOption, nodeOption, idempotencyKeyOption,
};
cas.Validators.Add(result =>
{
    var hasExpected = result.GetResult(expectedOption) is { Implicit: false };
    var absent = result.GetValue(absentOption);
    if (hasExpected == absent)
        result.AddError("give exactly one of --expected VALUE and --absent");
});
cas.SetAction(async (parse, cancel) => await Run(parse, async client =>
{
    var key = parse.GetValue(keyArgument)!;
    var body = JsonSerializer.Serialize(new { expected = parse.GetValue(absentOption) ? null : parse.GetValue(expectedOption), value = parse.GetValue(newValueArgument) });
    var reply = await client.SendAsync(HttpMethod.Post, KeyPath(key) + "/cas", () => new StringContent(body, Encoding.UTF8, "application/json"),
        IdempotencyKey(parse), First(parse, client), cancel);
    switch (reply.Status)
    {
        case 200:
            return Done(reply, $"index {Index(reply)}");
        case 409:
            var current = reply.Body.GetProperty("current");
            Console.Error.WriteLine(current.ValueKind == JsonValueKind.Null
                ? $"raftctl: conflict: '{key}' is absent"
                : $"raftctl: conflict: the value of '{key}' is \"{current.GetString()}\"");
            return ExitCodes.NotFoundOrConflict;
        default:
            return Failed(reply);
    }
}));
root.Subcommands.Add(cas);

// member list | add ID ADDRESS [--learner] | remove ID;  leader transfer [--to ID]
var memberIdArgument = new Argument<string>("id") { Description = "The server's id (its raft.node-id)" };
var memberAddressArgument = new Argument<string?>("address")
{
    Description = "The server's Akka address, e.g. akka.tcp://raft@127.0.0.1:4054 (none under raft.discovery = cluster)",
    Arity = ArgumentArity.ZeroOrOne,
};
var learnerOption = new Option<bool>("--learner") { Description = "Keep it a learner: it receives the log, never votes" };
var memberList = new Command("list", "The members of the configuration a node uses: id, address, voter or learner, and the leader");
memberList.Options.Add(nodeOption);
memberList.SetAction(async (parse, cancel) => await Run(parse, async client =>
{
    var reply = await client.SendAsync(HttpMethod.Get, "/members", () => null, null, First(parse, client), cancel);
    if (reply.Status != 200)
        return Failed(reply);
    AnsiConsole.Write(StatusView.Members(reply.Body));
    return ExitCodes.Ok;
}));
var memberAdd = new Command("add", "Add a server, started with raft.join = on: a learner that becomes a voter once caught up (waits for it)")
{
    memberIdArgument, memberAddressArgument, learnerOption, nodeOption,
};
memberAdd.SetAction(async (parse, cancel) => await Run(parse, async client =>
{
    var body = JsonSerializer.Serialize(new { id = parse.GetValue(memberIdArgument), address = parse.GetValue(memberAddressArgument) });
    var reply = await client.SendAsync(HttpMethod.Post, parse.GetValue(learnerOption) ? "/members?promote=false" : "/members",
        () => new StringContent(body, Encoding.UTF8, "application/json"), null, First(parse, client), cancel, resendAfterUnknown: false);
    return MembershipDone(reply, $"{parse.GetValue(memberIdArgument)} is a {(parse.GetValue(learnerOption) ? "learner" : "voter")}");
}));
var memberRemove = new Command("remove", "Remove a member, voter or learner (a leader that removes itself hands over)") { memberIdArgument, nodeOption };
memberRemove.SetAction(async (parse, cancel) => await Run(parse, async client =>
{
    var id = parse.GetValue(memberIdArgument)!;
    var reply = await client.SendAsync(HttpMethod.Delete, "/members/" + Uri.EscapeDataString(id), () => null, null, First(parse, client), cancel, resendAfterUnknown: false);
    return MembershipDone(reply, $"{id} is no longer a member");
}));
root.Subcommands.Add(new Command("member", "The cluster's members: list, add, remove") { memberList, memberAdd, memberRemove });

var toOption = new Option<string?>("--to") { Description = "The voter to hand leadership to (default: the most up-to-date one)" };
var leaderTransfer = new Command("transfer", "Hand leadership to another voter; waits until it leads") { toOption, nodeOption };
leaderTransfer.SetAction(async (parse, cancel) => await Run(parse, async client =>
{
    var body = parse.GetValue(toOption) is { } to ? JsonSerializer.Serialize(new { to }) : "";
    var reply = await client.SendAsync(HttpMethod.Post, "/leader/transfer", () => new StringContent(body, Encoding.UTF8, "application/json"),
        null, First(parse, client), cancel, resendAfterUnknown: false);
    if (reply.Status != 200)
        return MembershipDone(reply, "");
    return Done(reply, $"{reply.Body.GetProperty("leader").GetString()} leads term {reply.Body.GetProperty("term").GetInt64()}");
}));
root.Subcommands.Add(new Command("leader", "The cluster's leadership: transfer") { leaderTransfer });

// snapshot save FILE | status FILE
var fileArgument = new Argument<string>("file") { Description = "The snapshot file" };
var snapshotSave = new Command("save", "Save a consistent snapshot of the cluster's state, from its leader, to FILE (replaced whole, or left as it was)")
{
    fileArgument,
};
snapshotSave.SetAction(async (parse, cancel) => await Run(parse, async client =>
{
    var file = Path.GetFullPath(parse.GetValue(fileArgument)!);
    var (reply, saved) = await SnapshotCommands.SaveAsync(client, file, cancel);
    return saved is null ? Failed(reply) : Done(reply, $"{SnapshotCommands.Summary(saved)}, saved to {file}");
}));
var snapshotStatus = new Command("status", "Check a snapshot file whole and print its index, term, members and size") { fileArgument };
snapshotStatus.SetAction(async (parse, _) => await Reported(() => Task.FromResult(SnapshotCommands.Status(Path.GetFullPath(parse.GetValue(fileArgument)!)))));
root.Subcommands.Add(new Command("snapshot", "Backups of the cluster's state: save, status") { snapshotSave, snapshotStatus });

// bench put|get [--conns 64] [--seconds 10] [--payload 128] [--json FILE]
var connsOption = new Option<int>("--conns") { Description = "Keep-alive connections, each sending its next request when the last is answered", DefaultValueFactory = _ => 64 };
var secondsOption = new Option<double>("--seconds") { Description = "How long to measure, after the warm-up", DefaultValueFactory = _ => 10 };
var warmupOption = new Option<double>("--warmup") { Description = "Seconds of load before measuring starts", DefaultValueFactory = _ => 2 };
var payloadOption = new Option<int>("--payload") { Description = "Bytes in each value written (and read back)", DefaultValueFactory = _ => 128 };
var keysOption = new Option<int>("--keys") { Description = "Distinct keys, spread over the connections", DefaultValueFactory = _ => 1000 };
var jsonOption = new Option<string?>("--json") { Description = "Also write the result as JSON to this file" };
var apiOption = new Option<BenchApi>("--api") { Description = "The server's API: RaftActors' key-value server, or etcd's JSON gateway (/v3/kv/put, /v3/kv/range)", DefaultValueFactory = _ => BenchApi.RaftActors };
var serializableOption = new Option<bool>("--serializable") { Description = "get: read the node's local state (?stale=true; etcd's serializable) instead of a linearizable read" };
var bench = new Command("bench", "Load the cluster over HTTP and report requests/s, latency percentiles and status codes (like etcd's benchmark)");
foreach (var operation in new[] { "put", "get" })
{
    var command = new Command(operation, operation == "put" ? "Writes: PUT /kv/{key} (etcd: POST /v3/kv/put)" : "Reads: GET /kv/{key} (etcd: POST /v3/kv/range)")
    {
        connsOption, secondsOption, warmupOption, payloadOption, keysOption, jsonOption, apiOption, serializableOption,
    };
    command.SetAction(async (parse, cancel) => await Run(parse, async client =>
    {
        var options = new BenchOptions(
            operation, parse.GetValue(connsOption), TimeSpan.FromSeconds(parse.GetValue(secondsOption)), TimeSpan.FromSeconds(parse.GetValue(warmupOption)),
            parse.GetValue(payloadOption), parse.GetValue(keysOption), parse.GetValue(apiOption), parse.GetValue(serializableOption));
        if (options.Connections is < 1 or > 10_000 || options.Duration <= TimeSpan.Zero || options.Warmup < TimeSpan.Zero || options.PayloadBytes < 0 || options.Keys < 1)
            throw new CliException("--conns must be 1 to 10000, --seconds positive, --warmup, --payload at least 0 and --keys at least 1");
        var live = !Console.IsErrorRedirected;
        var result = await Bench.RunAsync(options, client.Nodes, live ? line => Console.Error.Write($"\r{line}   ") : null, cancel);
        if (live)
            Console.Error.WriteLine();
        Console.WriteLine($"{result.Operation} via {result.Api}, {result.Connections} connections, {result.PayloadBytes}-byte values, {result.Seconds:F0} s");
        Console.WriteLine($"  {result.RequestsPerSecond:N0} requests/s ({result.Requests:N0} requests)");
        Console.WriteLine($"  latency ms: mean {result.MeanMs:F2}  p50 {result.P50Ms:F2}  p99 {result.P99Ms:F2}  p99.9 {result.P999Ms:F2}  max {result.MaxMs:F2}");
        Console.WriteLine($"  status: {string.Join("  ", result.Statuses.OrderBy(s => s.Key).Select(s => $"{s.Key} x{s.Value:N0}"))}");
        if (parse.GetValue(jsonOption) is { } file)
            await File.WriteAllTextAsync(file, result.ToJson(), cancel);
        return result.Requests > 0 && result.Failures == 0 ? ExitCodes.Ok : ExitCodes.Unavailable;
    }));
    bench.Subcommands.Add(command);
}

// bench failover [--trials 20] [--server PATH] [--json FILE]
var trialsOption = new Option<int>("--trials") { Description = "Trials without an Idempotency-Key, and as many with one", DefaultValueFactory = _ => 20 };
var serverOption = new Option<string?>("--server")
{
    Description = "The server program, RaftActors.Server.dll or an executable (default: the repository's Release build, else its Debug build)",
};
var failover = new Command(
    "failover",
    "Start a server per node config (--config-dir), SIGKILL the leader and at that moment PUT once to a survivor; print latency and how often it was applied exactly once")
{
    trialsOption, serverOption, jsonOption,
};
failover.SetAction(async (parse, cancel) => await Reported(async () =>
{
    if (parse.GetValue(nodesOption) is { Length: > 0 })
        throw new CliException("bench failover starts its own servers from the node configs: give --config-dir, not --nodes");
    var trials = parse.GetValue(trialsOption);
    if (trials is < 1 or > 1000)
        throw new CliException("--trials must be 1 to 1000");
    var configs = ClusterNodes.ConfigFiles(parse.GetValue(configDirOption), "no node configs: give --config-dir DIR with node1.conf, node2.conf, ...");
    if (configs.Count < 3)
        throw new CliException($"bench failover needs at least three node configs, got {configs.Count}");
    var options = new FailoverOptions(trials, configs, parse.GetValue(serverOption) ?? DefaultServer());
    var runs = await FailoverBench.RunAsync(options, Console.WriteLine, cancel);
    var summaries = new[] { false, true }.Select(withKey => FailoverSummary.Of(withKey, runs.Where(r => r.WithKey == withKey).ToList())).ToList();
    foreach (var summary in summaries)
    {
        Console.WriteLine($"{(summary.WithKey ? "with an Idempotency-Key:   " : "without an Idempotency-Key:")} {summary.Succeeded}/{summary.Trials} succeeded, " +
                          $"{summary.AppliedOnce}/{summary.Trials} applied exactly once; ms p50 {summary.P50Ms:F0}  p99 {summary.P99Ms:F0}  max {summary.MaxMs:F0}");
    }

    if (parse.GetValue(jsonOption) is { } file)
        await File.WriteAllTextAsync(file, JsonSerializer.Serialize(new { summaries, trials = runs }, new JsonSerializerOptions { WriteIndented = true }), cancel);
    return summaries.All(s => s.AllApplied) ? ExitCodes.Ok : ExitCodes.Unavailable;
}));
bench.Subcommands.Add(failover);

root.Subcommands.Add(bench);

var parsed = root.Parse(args);
if (parsed.Errors.Count > 0)
{
    // Usage errors exit 2 (System.CommandLine's own 1 means "not found or conflict" here).
    foreach (var error in parsed.Errors)
        Console.Error.WriteLine($"raftctl: {error.Message}");
    Console.Error.WriteLine("raftctl: see raftctl --help");
    return ExitCodes.Usage;
}

return await parsed.InvokeAsync();

async Task<int> Run(ParseResult parse, Func<KvClient, Task<int>> action) => await Reported(async () =>
{
    var timeout = parse.GetValue(timeoutOption);
    if (timeout is <= 0 or > 3600)
        throw new CliException("--timeout must be between 0 and 3600 seconds");
    var nodes = ClusterNodes.Resolve(parse.GetValue(nodesOption) ?? [], parse.GetValue(configDirOption));
    using var client = new KvClient(nodes, TimeSpan.FromSeconds(timeout));
    return await action(client);
});

// A problem is one line on standard error and its exit code.
async Task<int> Reported(Func<Task<int>> action)
{
    try
    {
        return await action();
    }
    catch (CliException e)
    {
        Console.Error.WriteLine($"raftctl: {e.Message}");
        return e.ExitCode;
    }
    catch (OperationCanceledException)
    {
        Console.Error.WriteLine("raftctl: interrupted");
        return 130;
    }
}

// The repository's build of the server, Release first.
string DefaultServer()
{
    var root = ClusterNodes.FindRepositoryRoot() ?? throw new CliException("give --server PATH (RaftActors.Server.dll): no repository around the working directory");
    return new[] { "Release", "Debug" }.Select(c => Path.Combine(root, "src", "RaftActors.Server", "bin", c, "net10.0", "RaftActors.Server.dll")).FirstOrDefault(File.Exists)
        ?? throw new CliException("give --server PATH, or build the server first: dotnet build -c Release src/RaftActors.Server");
}

string KeyPath(string key) => key.Length == 0 ? throw new CliException("the key cannot be empty") : "/kv/" + Uri.EscapeDataString(key);

string IdempotencyKey(ParseResult parse) => parse.GetValue(idempotencyKeyOption) is { Length: > 0 } id ? id : $"raftctl-{Guid.NewGuid():N}";

int First(ParseResult parse, KvClient client)
{
    if (parse.GetValue(nodeOption) is not { } wanted)
        return 0;
    for (var i = 0; i < client.Nodes.Count; i++)
    {
        var node = client.Nodes[i];
        if (node.Id == wanted || node.Url.Authority == wanted || node.Url.ToString().TrimEnd('/') == wanted.TrimEnd('/') || (i + 1).ToString() == wanted)
            return i;
    }

    throw new CliException($"--node {wanted} is none of {string.Join(", ", client.Nodes.Select((n, i) => $"{i + 1}: {n.Name}"))}");
}

long Index(ApiReply reply) => reply.Body.TryGetProperty("index", out var index) ? index.GetInt64() : 0;

int Done(ApiReply reply, string what)
{
    Console.WriteLine($"OK  {what}  (via {reply.Node.Name})");
    return ExitCodes.Ok;
}

int MembershipDone(ApiReply reply, string what)
{
    switch (reply.Status)
    {
        case 200:
            Done(reply, $"{what}; configuration at index {Index(reply)}");
            AnsiConsole.Write(StatusView.Members(reply.Body));
            return ExitCodes.Ok;
        case 404 or 409:
            Console.Error.WriteLine($"raftctl: refused by {reply.Node.Name}: {reply.Error}");
            return ExitCodes.NotFoundOrConflict;
        default:
            return Failed(reply);
    }
}

int Failed(ApiReply reply)
{
    Console.Error.WriteLine($"raftctl: {reply.Node.Name} answered {reply.Status}: {reply.Error ?? reply.Body.ToString()}");
    return ExitCodes.Failed;
}
