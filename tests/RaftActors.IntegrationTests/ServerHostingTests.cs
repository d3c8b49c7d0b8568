using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace RaftActors.IntegrationTests;

/// <summary>
/// The server on the .NET generic host: environment variables and appsettings.json over the
/// node's HOCON file, Kestrel's endpoints from configuration, and one log format for Akka's lines
/// and the server's own.
/// </summary>
public sealed class ServerHostingTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Fact(Timeout = 90_000)]
    public async Task An_environment_variable_overrides_the_HOCON_files_HTTP_endpoint()
    {
        using var cluster = new TestCluster(output, size: 1);
        var overridden = LoopbackPorts.Free();
        cluster.Servers[0].EnvironmentVariables["Raft__Server__Http"] = $"127.0.0.1:{overridden}";
        cluster.Start(0);

        await WaitForStatusAsync(cluster, overridden);
        await AssertRefusedAsync(cluster.HttpPorts[0]);
        Assert.Contains($"ready  http http://127.0.0.1:{overridden}", cluster.Servers[0].Output);
    }

    [Fact(Timeout = 90_000)]
    public async Task A_Kestrel_endpoint_in_appsettings_json_is_where_HTTP_listens()
    {
        using var cluster = new TestCluster(output, size: 1);
        var configured = LoopbackPorts.Free();
        File.WriteAllText(Path.Combine(cluster.Root, "appsettings.json"), $$"""
            { "Kestrel": { "Endpoints": { "Api": { "Url": "http://127.0.0.1:{{configured}}" } } } }
            """);
        cluster.Start(0);

        await WaitForStatusAsync(cluster, configured);
        await AssertRefusedAsync(cluster.HttpPorts[0]);
    }

    [Fact(Timeout = 90_000)]
    public async Task Akkas_log_lines_come_out_in_the_format_of_the_servers_own_lines()
    {
        using var cluster = new TestCluster(output);
        cluster.Start(0); // n2 and n3 never come: Akka.Remote warns that it cannot reach them
        await cluster.WaitUntilAsync("Akka.Remote warns about n2", Bound, () =>
            Task.FromResult(cluster.Servers[0].Output.Contains($"127.0.0.1:{cluster.AkkaPorts[1]}", StringComparison.Ordinal)));

        // Each kept line is "time [n1#1] line"; the server runs supervised, without timestamps of its own.
        var lines = cluster.Servers[0].Output.Split('\n')
            .Select(line => Regex.Match(line, @"^\S+ \[n1#1\] (?<line>.*)$"))
            .Where(m => m.Success)
            .Select(m => m.Groups["line"].Value)
            .ToList();
        Assert.Contains("n1  Follower   term 0  leader -", lines);
        Assert.Contains(lines, line => line.StartsWith("n1  ready  http ", StringComparison.Ordinal));
        var akka = lines.Where(line => line.Contains($"127.0.0.1:{cluster.AkkaPorts[1]}", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(akka);
        Assert.All(akka, line => Assert.Matches(@"^n1  WARNING  \[Akka[^\]]*\] \S", line));
        Assert.DoesNotContain(lines, line => line.StartsWith("[WARNING][", StringComparison.Ordinal)); // Akka's own format
    }

    [Theory(Timeout = 60_000)]
    [InlineData("RAFT__SERVER__REQUEST_TIMEOUT", "-1s", "raft.server.request-timeout")]
    [InlineData("Raft__ElectionTimeoutMin", "soon", "raft.election-timeout-min")]
    public async Task A_bad_value_from_the_environment_fails_at_start_naming_the_variable_and_the_key(string variable, string value, string key)
    {
        using var cluster = new TestCluster(output, size: 1);
        cluster.Servers[0].EnvironmentVariables[variable] = value;
        cluster.Start(0);

        Assert.Equal(2, await cluster.Servers[0].WaitForExitAsync(Bound));
        Assert.Contains($"stderr] environment variable {variable}: {key}: ", cluster.Servers[0].Output);
    }

    private static async Task WaitForStatusAsync(TestCluster cluster, int port)
    {
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(5) };
        await cluster.WaitUntilAsync($"the server answers /status on port {port}", Bound, async () =>
        {
            try
            {
                return (await http.GetAsync("/status")).IsSuccessStatusCode;
            }
            catch (HttpRequestException)
            {
                return false;
            }
        });
    }

    private static async Task AssertRefusedAsync(int port)
    {
        using var tcp = new TcpClient();
        var refused = await Assert.ThrowsAsync<SocketException>(() => tcp.ConnectAsync("127.0.0.1", port));
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
    }
}
