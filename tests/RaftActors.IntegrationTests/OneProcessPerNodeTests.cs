namespace RaftActors.IntegrationTests;

/// <summary>
/// One node, one process: a second server started on a running node's data directory, or on its
/// remoting port, exits at once naming what is taken, and the running node serves on. Two live
/// incarnations of one node could vote twice in a term and write over each other's log.
/// </summary>
public sealed class OneProcessPerNodeTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    [Fact(Timeout = 150_000)]
    public async Task A_second_server_on_a_running_nodes_directory_or_port_exits_naming_it()
    {
        using var cluster = new TestCluster(output);
        cluster.StartAll();
        await cluster.WaitForAgreedLeaderAsync(cluster.Nodes, Bound);

        // n1's config on other ports (its own member entry moved along): the data directory is taken.
        var twinConfig = Path.Combine(cluster.Root, "twin.conf");
        var twinPorts = LoopbackPorts.Free(2);
        File.WriteAllText(twinConfig, File.ReadAllText(cluster.Servers[0].ConfigFile)
            .Replace($"127.0.0.1:{cluster.AkkaPorts[0]}", $"127.0.0.1:{twinPorts[0]}")
            .Replace($"port = {cluster.AkkaPorts[0]}", $"port = {twinPorts[0]}")
            .Replace($"127.0.0.1:{cluster.HttpPorts[0]}", $"127.0.0.1:{twinPorts[1]}"));
        using var twin = new ServerProcess("n1-again", twinConfig);
        twin.Start();
        Assert.Equal(1, await twin.WaitForExitAsync(Bound));
        Assert.True(twin.Output.Contains($"stderr] raft.data-dir: cannot open the write-ahead log in {cluster.DataDirectory(0)}: {cluster.DataDirectory(0)} is in use by another process (pid "), twin.Output);

        // n1's config again, or another node given n1's remoting port by mistake, with a data directory
        // and HTTP port of its own: the remoting port is taken (it is bound first).
        var config = Path.Combine(cluster.Root, "intruder.conf");
        File.WriteAllText(config, File.ReadAllText(cluster.Servers[0].ConfigFile)
            .Replace("\"data/n1\"", "\"data/intruder\"")
            .Replace($"127.0.0.1:{cluster.HttpPorts[0]}", $"127.0.0.1:{LoopbackPorts.Free()}"));
        using var intruder = new ServerProcess("intruder", config);
        intruder.Start();
        Assert.Equal(1, await intruder.WaitForExitAsync(Bound));
        Assert.True(intruder.Output.Contains($"stderr] akka.remote.dot-netty.tcp.port: cannot listen on 127.0.0.1:{cluster.AkkaPorts[0]}: the address is in use"), intruder.Output);

        // n1 was not disturbed: a write through it commits.
        var put = await cluster.PutAsync(0, "after", "both");
        Assert.True(put.Status == 200, $"PUT through n1: {put}");
    }

    [Fact(Timeout = 150_000)]
    public async Task A_node_restarts_on_its_own_port_right_after_it_stopped()
    {
        // Its closed connections may linger in TIME_WAIT on its port: with tcp-reuse-addr off, .NET
        // still binds with SO_REUSEADDR, so it listens there again at once.
        using var cluster = new TestCluster(output);
        cluster.StartAll();
        await cluster.WaitForAgreedLeaderAsync(cluster.Nodes, Bound);
        Assert.Equal(200, (await cluster.PutAsync(0, "before", "stop")).Status);

        cluster.Servers[0].Terminate();
        Assert.Equal(0, await cluster.Servers[0].WaitForExitAsync(Bound));
        cluster.Start(0);

        await cluster.WaitForAgreedLeaderAsync(cluster.Nodes, Bound);
        var put = await cluster.PutAsync(0, "after", "restart");
        Assert.True(put.Status == 200, $"PUT through the restarted n1: {put}");
    }
}
