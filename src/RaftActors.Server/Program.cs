using RaftActors.Server.Cluster;
using RaftActors.Server.Demo;
using RaftActors.Server.Hosting;

// One program, four ways to run:
//   --config FILE    one key-value server node (ActorSystem "raft", Raft node, write-ahead log, HTTP API)
//   cluster          a local cluster: one server process per hocon/nodeN.conf, every change printed
//   restore          seed a new node's data directory from a backup (raftctl snapshot save)
//   demo (default)   the in-process election demo: three nodes, kill the leader, watch the re-election
const string usage = """
    usage:
      dotnet run --project src/RaftActors.Server -- --config FILE    run one server node from its HOCON file
      dotnet run --project src/RaftActors.Server -- cluster [--config-dir DIR | --nodes N] [--clean]
                                                                  a local cluster: a server process per DIR/nodeN.conf (default hocon/),
                                                                  or N generated loopback servers
      dotnet run --project src/RaftActors.Server -- cluster add [--config-dir DIR]
                                                                  one more server for that running cluster, added as a voter
      dotnet run --project src/RaftActors.Server -- restore --snapshot FILE --config FILE
                                                                  seed the node's new, empty raft.data-dir from a backup;
                                                                  its members are the config's raft.members
      dotnet run --project src/RaftActors.Server [-- demo [--config-dir DIR] [--data-dir DIR]]
                                                                  the election demo, in one process (the default)
    """;

switch (args)
{
    case ["-h" or "--help" or "help"]:
        Console.WriteLine(usage);
        return 0;
    case ["cluster", .. var rest]:
        return await LocalCluster.RunAsync(rest);
    case ["restore", .. var rest]:
        return await RestoreCommand.RunAsync(rest);
    case ["--config", var file, .. var rest]:
        var supervised = false;
        foreach (var arg in rest)
        {
            if (arg != "--supervised")
            {
                Console.Error.WriteLine($"unknown argument '{arg}'");
                Console.Error.WriteLine(usage);
                return 2;
            }

            supervised = true;
        }

        return await RaftServer.RunAsync(file, supervised);
    case ["--config"]:
        Console.Error.WriteLine("--config needs the node's HOCON file");
        Console.Error.WriteLine(usage);
        return 2;
    case ["demo", .. var rest]:
        return await RunDemoAsync(rest);
    default:
        // Without a command: the election demo, as it always was (its options included).
        return await RunDemoAsync(args);
}

static async Task<int> RunDemoAsync(IReadOnlyList<string> args)
{
    if (!DemoOptions.TryParse(args, out var options, out var problem))
    {
        if (problem is null)
        {
            Console.WriteLine(DemoOptions.Usage);
            return 0;
        }

        Console.Error.WriteLine(problem);
        Console.Error.WriteLine(DemoOptions.Usage);
        return 2;
    }

    return await ElectionDemo.RunAsync(options!, Console.Out);
}
