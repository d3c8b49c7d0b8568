using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace RaftActors.IntegrationTests;

/// <summary>One server process at a time: bad configuration fails at start naming the key; a node without a quorum answers 503, live but not ready.</summary>
public sealed class ServerStartTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"raftactors-it-{Guid.NewGuid():N}");

    [Theory(Timeout = 60_000)]
    [InlineData("missing-data-dir", "raft.data-dir")]
    [InlineData("bad-http", "raft.server.http")]
    [InlineData("bad-timeout", "raft.server.request-timeout")]
    [InlineData("fault-injection-without-throttler", "raft.server.fault-injection")]
    [InlineData("fault-injection-not-a-switch", "raft.server.fault-injection")]
    public async Task A_bad_configuration_fails_at_start_naming_the_key(string problem, string key)
    {
        var ports = LoopbackPorts.Free(2);
        var lines = new List<string>
        {
            $"akka.remote.dot-netty.tcp {{ hostname = \"127.0.0.1\", port = {ports[0]} }}",
            $"raft.node-id = \"n1\"",
            $"raft.members = [ {{ id = \"n1\", address = \"akka.tcp://raft@127.0.0.1:{ports[0]}\" }} ]",
        };
        if (problem != "missing-data-dir")
            lines.Add("raft.data-dir = \"data/n1\"");
        lines.Add(problem == "bad-http" ? "raft.server.http = \"127.0.0.1:http\"" : $"raft.server.http = \"127.0.0.1:{ports[1]}\"");
        if (problem == "bad-timeout")
            lines.Add("raft.server.request-timeout = -1s");
        if (problem == "fault-injection-without-throttler")
            lines.Add("raft.server.fault-injection = on");
        if (problem == "fault-injection-not-a-switch")
            lines.Add("raft.server.fault-injection = maybe");

        using var server = new ServerProcess("n1", WriteConfig(string.Join("\n", lines)));
        server.Start();
        var exitCode = await server.WaitForExitAsync(TimeSpan.FromSeconds(30));
        output.WriteLine(server.Output);
        Assert.Equal(2, exitCode);
        Assert.Contains($"stderr] {Path.Combine(_root, "node.conf")}: {key}:", server.Output);
    }

    [Theory(Timeout = 60_000)]
    [InlineData(new string[0], "give --config FILE to run a server node")]
    [InlineData(new[] { "--bogus" }, "Unrecognized command or argument '--bogus'")]
    [InlineData(new[] { "cluster", "--nodes", "12" }, "--nodes takes a number from 1 to 9")]
    [InlineData(new[] { "restore", "--config", "node.conf" }, "Option '--snapshot' is required")]
    public async Task Without_a_command_or_with_a_bad_one_the_server_prints_its_usage_and_exits_2(string[] args, string problem)
    {
        var start = new System.Diagnostics.ProcessStartInfo(ServerProcess.DotnetHost)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { "exec", ServerProcess.ServerAssembly }.Concat(args))
            start.ArgumentList.Add(arg);
        using var process = System.Diagnostics.Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await process.WaitForExitAsync(timeout.Token);
        output.WriteLine($"{await stdout}\n{await stderr}");

        Assert.Equal(2, process.ExitCode);
        Assert.Contains(problem, await stderr);
        if (args.Length == 0)
            Assert.Contains("demo", await stdout); // the usage, commands included
    }

    [Fact(Timeout = 60_000)]
    public async Task An_HTTP_port_in_use_fails_at_start_naming_raft_server_http()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var httpPort = ((IPEndPoint)taken.LocalEndpoint).Port;
        var akkaPort = LoopbackPorts.Free();
        using var server = new ServerProcess("n1", WriteConfig($$"""
            akka.remote.dot-netty.tcp { hostname = "127.0.0.1", port = {{akkaPort}} }
            raft {
              node-id = "n1"
              members = [ { id = "n1", address = "akka.tcp://raft@127.0.0.1:{{akkaPort}}" } ]
              data-dir = "data/n1"
              server.http = "127.0.0.1:{{httpPort}}"
            }
            """));
        server.Start();
        var exitCode = await server.WaitForExitAsync(TimeSpan.FromSeconds(30));
        output.WriteLine(server.Output);
        Assert.Equal(1, exitCode);
        Assert.Contains("stderr] raft.server.http: cannot listen on 127.0.0.1:", server.Output);
    }

    [Fact(Timeout = 60_000)]
    public async Task A_node_that_hears_no_quorum_knows_no_leader_answers_503_and_is_live_but_not_ready()
    {
        using var cluster = new TestCluster(output, requestTimeout: "1s");
        cluster.Start(0); // n2 and n3 never come
        await cluster.WaitUntilAsync("n1 answers /status", TimeSpan.FromSeconds(30), async () => await cluster.StatusAsync(0) is not null);
        var status = (await cluster.StatusAsync(0))!;
        Assert.Null(status.Leader);
        Assert.Contains(status.Role, new[] { "Follower", "Candidate" });

        var put = await cluster.PutAsync(0, "k", "v", retry: false);
        Assert.True(put.Status == 503, put.ToString());
        Assert.Contains("no leader", put.Json.GetProperty("error").GetString());
        Assert.Equal(503, (await cluster.GetAsync(0, "k", retry: false)).Status);
        Assert.Equal(404, (await cluster.GetAsync(0, "k", stale: true)).Status);

        // Fault injection is off unless configured: no partition endpoint.
        Assert.Equal(404, (await cluster.SendAsync(0, HttpMethod.Post, "/admin/partition", new StringContent("""{"cut": ["n2"]}"""), null)).Status);

        // Alive, its storage fine, but not ready to serve: it knows no leader.
        Assert.Equal(JsonValueKind.Null, (await cluster.SendAsync(0, HttpMethod.Get, "/status", null, null)).Json.GetProperty("storageFailure").ValueKind);
        var live = await cluster.SendAsync(0, HttpMethod.Get, "/health/live", null, null);
        Assert.True(live.Status == 200 && live.Json.GetProperty("live").GetBoolean(), live.ToString());
        var notReady = await cluster.SendAsync(0, HttpMethod.Get, "/health/ready", null, null);
        Assert.True(notReady.Status == 503, notReady.ToString());
        Assert.Equal("no leader is known", notReady.Json.GetProperty("reason").GetString());

        // With a second member there is a leader: once n1 has applied what it knows committed, it is ready.
        cluster.Start(1);
        await cluster.WaitUntilAsync("n1 is ready", TimeSpan.FromSeconds(30), async () =>
            (await cluster.SendAsync(0, HttpMethod.Get, "/health/ready", null, null)).Status == 200);
        var ready = await cluster.SendAsync(0, HttpMethod.Get, "/health/ready", null, null);
        Assert.True(ready.Json.GetProperty("ready").GetBoolean(), ready.ToString());
    }

    private string WriteConfig(string hocon)
    {
        Directory.CreateDirectory(_root);
        var path = Path.Combine(_root, "node.conf");
        File.WriteAllText(path, hocon);
        return path;
    }

    public void Dispose()
    {
        try
        {
            if (Directory.Exists(_root))
                Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
