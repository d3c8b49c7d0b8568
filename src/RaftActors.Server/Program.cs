using RaftActors.Server;

// The election demo: three Raft nodes, each its own ActorSystem over Akka.Remote on 127.0.0.1,
// elect a leader; the demo kills the leader and shows the re-election.
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
