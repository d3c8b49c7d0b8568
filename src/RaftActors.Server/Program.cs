using System.CommandLine;
using RaftActors.Server.Cluster;
using RaftActors.Server.Demo;
using RaftActors.Server.Hosting;

// One program, four ways to run: one server node (--config), a local cluster of server processes
// (cluster, cluster add), seeding a node from a backup (restore), and the in-process election demo.
var configOption = new Option<string?>("--config") { Description = "Run one key-value server node from its HOCON file" };
var supervisedOption = new Option<bool>("--supervised")
{
    Description = "Run under a launcher: no timestamps, and stop when standard input closes",
    Hidden = true,
};
var root = new RootCommand("""
    The RaftActors key-value server: a Raft node (ActorSystem "raft", write-ahead log in raft.data-dir)
    with the HTTP API on raft.server.http. Exit codes: 0 stopped; 1 failed while starting or running;
    2 usage or a bad configuration.
    """)
{
    configOption,
    supervisedOption,
};
root.SetAction(async (parse, _) =>
{
    if (parse.GetValue(configOption) is { } file)
        return await RaftServer.RunAsync(file, parse.GetValue(supervisedOption));
    Console.Error.WriteLine("give --config FILE to run a server node, or a command; the election demo is `demo`");
    await root.Parse("--help").InvokeAsync();
    return 2;
});

// cluster [--config-dir DIR | --nodes N [--ports A,H]] [--clean];  cluster add [--config-dir DIR]
var configDirOption = new Option<string?>("--config-dir") { Description = "The node configs node1.conf, node2.conf, ... (default: hocon/ in the repository)" };
var nodesOption = new Option<int?>("--nodes") { Description = "A cluster of N loopback servers (1 to 9), its configs written to data/cluster-N/ of the working directory" };
nodesOption.Validators.Add(result =>
{
    if (result.GetValueOrDefault<int?>() is < 1 or > 9)
        result.AddError("--nodes takes a number from 1 to 9");
});
var portsOption = new Option<string?>("--ports") { Description = "With --nodes: the first server's Akka.Remote and HTTP ports, e.g. 4051,8081 (the default)" };
portsOption.Validators.Add(result =>
{
    if (result.GetValueOrDefault<string?>() is { } text && ParsePorts(text) is null)
        result.AddError($"--ports takes the first Akka.Remote and HTTP ports, e.g. 4051,8081; got '{text}'");
});
var cleanOption = new Option<bool>("--clean") { Description = "Delete each node's raft.data-dir first (only one inside the working directory)" };
var clusterAdd = new Command("add", "While that cluster runs: start one more server, nK, and add it as a voter (a learner until caught up); Ctrl+C stops it")
{
    configDirOption,
};
clusterAdd.SetAction(async (parse, _) => await LocalCluster.RunAsync(parse.GetValue(configDirOption), null, DefaultPorts(), clean: false, add: true));
var cluster = new Command("cluster", "A local cluster: a server process per node config, every role, term and leader change printed; Ctrl+C stops them all")
{
    configDirOption, nodesOption, portsOption, cleanOption, clusterAdd,
};
cluster.Validators.Add(result =>
{
    var nodes = result.GetResult(nodesOption) is { Implicit: false };
    if (nodes && result.GetResult(configDirOption) is { Implicit: false })
        result.AddError("give --nodes or --config-dir, not both");
    if (!nodes && result.GetResult(portsOption) is { Implicit: false })
        result.AddError("--ports goes with --nodes");
});
cluster.SetAction(async (parse, _) => await LocalCluster.RunAsync(
    parse.GetValue(configDirOption), parse.GetValue(nodesOption),
    parse.GetValue(portsOption) is { } ports ? ParsePorts(ports)!.Value : DefaultPorts(), parse.GetValue(cleanOption), add: false));
root.Subcommands.Add(cluster);

// restore --snapshot FILE --config FILE
var snapshotOption = new Option<string>("--snapshot") { Description = "The backup, written by raftctl snapshot save", Required = true };
var restoreConfigOption = new Option<string>("--config") { Description = "The node's HOCON file: its raft.data-dir (absent or empty) is seeded; its raft.members are the cluster", Required = true };
var restore = new Command("restore", "Seed a new node's empty raft.data-dir from a backup; its members are the config's raft.members")
{
    snapshotOption, restoreConfigOption,
};
restore.SetAction(async (parse, _) => await RestoreCommand.RunAsync(parse.GetValue(snapshotOption)!, parse.GetValue(restoreConfigOption)!));
root.Subcommands.Add(restore);

// demo [--config-dir DIR] [--data-dir DIR]
var dataDirOption = new Option<string?>("--data-dir") { Description = "Where each node keeps its durable state (DIR/n1, ...; wiped at start); default data/election-demo in the repository, else a temporary folder" };
var demo = new Command("demo", "The election demo, in one process: three nodes, the leader stopped, the re-election watched")
{
    configDirOption, dataDirOption,
};
demo.SetAction(async (parse, _) =>
{
    if (DemoOptions.Resolve(parse.GetValue(configDirOption), parse.GetValue(dataDirOption), out var problem) is not { } options)
    {
        Console.Error.WriteLine(problem);
        return 2;
    }

    return await ElectionDemo.RunAsync(options, Console.Out);
});
root.Subcommands.Add(demo);

var parsed = root.Parse(args);
if (parsed.Errors.Count > 0)
{
    // Usage errors exit 2, as a bad configuration does.
    foreach (var error in parsed.Errors)
        Console.Error.WriteLine(error.Message);
    Console.Error.WriteLine("see --help");
    return 2;
}

return await parsed.InvokeAsync();

static (int Akka, int Http) DefaultPorts() => (LoopbackConfigs.DefaultAkkaPort, LoopbackConfigs.DefaultHttpPort);

static (int Akka, int Http)? ParsePorts(string text)
{
    var pair = text.Split(',');
    return pair.Length == 2 && int.TryParse(pair[0], out var akka) && int.TryParse(pair[1], out var http) &&
           akka is >= 1 and <= 65000 && http is >= 1 and <= 65000
        ? (akka, http)
        : null;
}
