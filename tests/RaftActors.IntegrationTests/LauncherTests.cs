using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;

namespace RaftActors.IntegrationTests;

/// <summary>
/// The local cluster launcher as the quick start uses it: <c>cluster --nodes 3</c> starts three
/// generated loopback servers (on free ports, not the quick start's, which a developer's own
/// cluster may hold), and <c>cluster add</c>, run beside it, starts a fourth that the cluster adds
/// as a voter, on the ports after theirs.
/// </summary>
public sealed class LauncherTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), $"raftactors-launcher-{Guid.NewGuid():N}");
    private readonly List<(Process Process, ConcurrentQueue<string> Lines)> _launchers = new();

    public void Dispose()
    {
        foreach (var (process, lines) in _launchers)
        {
            if (!process.HasExited)
                process.Kill(entireProcessTree: true);
            process.WaitForExit(10_000);
            output.WriteLine(string.Join("\n", lines));
            process.Dispose();
        }

        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [Fact(Timeout = 120_000)]
    public async Task Cluster_with_three_generated_nodes_grows_to_four_with_cluster_add()
    {
        Directory.CreateDirectory(_directory);
        var (akkaPort, httpPort) = FreeRuns();
        var cluster = Launch("cluster", "--nodes", "3", "--ports", $"{akkaPort},{httpPort}");
        await WaitForLineAsync(cluster, " is the leader of term ", TimeSpan.FromSeconds(60));
        Assert.Equal(3, Directory.GetFiles(Path.Combine(_directory, "data", "cluster-3"), "node*.conf").Length);

        var add = Launch("cluster", "add", "--config-dir", Path.Combine(_directory, "data", "cluster-3"));
        await WaitForLineAsync(add, "n4 is a voter of the cluster", TimeSpan.FromSeconds(60));

        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort + 3}") };
        var members = await http.GetFromJsonAsync<JsonElement>("/members");
        Assert.Equal(["n1", "n2", "n3", "n4"], members.GetProperty("members").EnumerateArray()
            .Where(m => m.GetProperty("voter").GetBoolean()).Select(m => m.GetProperty("id").GetString()));

        foreach (var (process, _) in _launchers)
            SendSigterm(process); // as Ctrl+C: the launcher stops its servers, then itself
        foreach (var (process, _) in _launchers)
            Assert.True(process.WaitForExit(20_000), "a launcher did not stop on SIGTERM");
    }

    /// <summary>Two runs of four free ports each, for Akka.Remote and HTTP (the fourth for the server added).</summary>
    private static (int Akka, int Http) FreeRuns()
    {
        var random = new Random();
        for (var attempt = 0; attempt < 100; attempt++)
        {
            var (akka, http) = (random.Next(20000, 30000), random.Next(30000, 40000));
            if (Enumerable.Range(0, 4).All(i => IsFree(akka + i) && IsFree(http + i)))
                return (akka, http);
        }

        throw new InvalidOperationException("no run of four free ports found");
    }

    private static bool IsFree(int port)
    {
        try
        {
            var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, port);
            listener.Start();
            listener.Stop();
            return true;
        }
        catch (System.Net.Sockets.SocketException)
        {
            return false;
        }
    }

    private (Process Process, ConcurrentQueue<string> Lines) Launch(params string[] args)
    {
        var start = new ProcessStartInfo(ServerProcess.DotnetHost)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = _directory,
        };
        start.ArgumentList.Add("exec");
        start.ArgumentList.Add(ServerProcess.ServerAssembly);
        foreach (var arg in args)
            start.ArgumentList.Add(arg);
        var process = new Process { StartInfo = start };
        var lines = new ConcurrentQueue<string>();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lines.Enqueue(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lines.Enqueue("! " + e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _launchers.Add((process, lines));
        return (process, lines);
    }

    private static async Task WaitForLineAsync((Process Process, ConcurrentQueue<string> Lines) launcher, string text, TimeSpan within)
    {
        var clock = Stopwatch.StartNew();
        while (!launcher.Lines.Any(l => l.Contains(text, StringComparison.Ordinal)))
        {
            if (clock.Elapsed > within || launcher.Process.HasExited)
                throw new Xunit.Sdk.XunitException($"no line with '{text}' within {within.TotalSeconds:F0} s:\n{string.Join("\n", launcher.Lines)}");
            await Task.Delay(100);
        }
    }

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true, EntryPoint = "kill")]
    private static extern int Kill(int pid, int signal);

    private static void SendSigterm(Process process)
    {
        if (!process.HasExited)
            Kill(process.Id, 15);
    }
}
