using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using RaftActors.Configuration;
using RaftActors.Server.Demo;
using RaftActors.Server.Hosting;

namespace RaftActors.Server.Cluster;

/// <summary>
/// A local cluster of real server processes, one per node config (hocon/node1.conf, node2.conf,
/// ...). Prints each node's HTTP endpoint, every role, term and leader change as it happens (the
/// servers print them; this stamps them with the time since start), when the nodes agree on a
/// leader, and when a server exits. Ctrl+C (or SIGTERM) stops every server; should this
/// launcher die, each server sees its standard input close and stops by itself.
/// </summary>
public sealed partial class LocalCluster
{
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(10);

    private readonly string _configDirectory;
    private readonly bool _clean;
    private readonly Stopwatch _clock = new();
    private readonly Lock _outputLock = new();
    private readonly List<ServerNode> _nodes = new();
    private readonly Dictionary<string, (string Role, long Term, string? Leader)> _view = new(StringComparer.Ordinal);
    private (string Leader, long Term)? _announced;
    private readonly TaskCompletionSource _stopRequested = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private LocalCluster(string configDirectory, bool clean)
    {
        _configDirectory = configDirectory;
        _clean = clean;
    }

    /// <summary>Set by <c>cluster add</c>: the running cluster's servers, to which the one started here is added.</summary>
    private IReadOnlyList<ServerSettings>? _joining;

    private sealed class ServerNode(string id, string configFile, ServerSettings settings)
    {
        public string Id { get; } = id;

        public string ConfigFile { get; } = configFile;

        public ServerSettings Settings { get; } = settings;

        public Process? Process { get; set; }

        public Task Exited { get; set; } = Task.CompletedTask;
    }

    /// <summary>
    /// <c>cluster</c>: one server process per node config in <paramref name="configDirectory"/> (default
    /// hocon/ of the repository), or <paramref name="nodes"/> generated loopback servers whose first
    /// ports are <paramref name="ports"/>; with <paramref name="add"/>, one more server for that
    /// running cluster, added as a voter. The command line has checked the combination.
    /// </summary>
    public static async Task<int> RunAsync(string? configDirectory, int? nodes, (int Akka, int Http) ports, bool clean, bool add)
    {
        if (nodes is { } n)
        {
            configDirectory = Path.Combine(Directory.GetCurrentDirectory(), "data", $"cluster-{n}");
            LoopbackConfigs.WriteCluster(configDirectory, n, ports.Akka, ports.Http);
        }

        if (configDirectory is null)
        {
            var root = DemoOptions.FindRepositoryRoot();
            if (root is null)
            {
                Console.Error.WriteLine($"cannot find the repository ({DemoOptions.SolutionFile}) above {AppContext.BaseDirectory} or {Directory.GetCurrentDirectory()}; give --config-dir");
                return 2;
            }

            configDirectory = Path.Combine(root, "hocon");
        }

        var cluster = new LocalCluster(Path.GetFullPath(configDirectory), clean);
        if (add && !cluster.PrepareToJoin())
            return 2;
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, cluster.OnSignal);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, cluster.OnSignal);
        using var sigquit = PosixSignalRegistration.Create(PosixSignal.SIGQUIT, cluster.OnSignal);
        try
        {
            return await cluster.RunAsync();
        }
        finally
        {
            cluster.KillAll();
        }
    }

    private void OnSignal(PosixSignalContext context)
    {
        context.Cancel = true;
        if (_stopRequested.Task.IsCompleted)
        {
            Say("second signal: killing the servers");
            KillAll();
            return;
        }

        _stopRequested.TrySetResult();
    }

    /// <summary>
    /// <c>cluster add</c>: reads the running cluster's configs, and writes the next server's, nK
    /// (the first free number, on the ports after the highest the cluster uses), to
    /// data/added/nodeK.conf with <c>raft.join = on</c>; that one is the node this launcher runs.
    /// </summary>
    private bool PrepareToJoin()
    {
        if (!LoadNodes())
            return false;
        var existing = _nodes.Select(n => n.Settings).ToList();
        _nodes.Clear();
        var taken = existing.Select(s => s.NodeId).ToHashSet(StringComparer.Ordinal);
        var k = Enumerable.Range(1, 99).First(i => !taken.Contains($"n{i}"));
        var akkaPort = existing.Max(s => Akka.Actor.Address.Parse(s.AkkaAddress).Port ?? 0) + 1;
        var httpPort = existing.Max(s => s.Http.Port) + 1;
        var members = existing.Select(s => (s.NodeId, s.AkkaAddress)).Append(($"n{k}", LoopbackConfigs.AkkaAddress(akkaPort)));
        var file = Path.Combine(Directory.GetCurrentDirectory(), "data", "added", $"node{k}.conf");
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        File.WriteAllText(file, LoopbackConfigs.Config(k, akkaPort, httpPort, members, join: true));
        _nodes.Add(new ServerNode($"n{k}", file, ServerSettings.Load(file)));
        _joining = existing;
        return true;
    }

    private async Task<int> RunAsync()
    {
        if (_joining is null && !LoadNodes())
            return 2;
        if (_clean && !Clean())
            return 2;

        var (fileName, prefix) = SelfCommand();
        Console.WriteLine($"RaftActors local cluster: {_nodes.Count} server processes, configs from {_configDirectory}");
        foreach (var node in _nodes)
        {
            Console.WriteLine($"  {node.Id,-4} http {node.Settings.Http.Url(),-23} akka {node.Settings.AkkaAddress,-29} data {node.Settings.DataDirectory}");
        }

        Console.WriteLine("  Ctrl+C stops them all");
        Console.WriteLine();
        _clock.Start();
        foreach (var node in _nodes)
            Start(node, fileName, prefix);
        if (_joining is { } cluster)
            _ = AddToClusterAsync(_nodes[0], cluster);

        var allExited = Task.WhenAll(_nodes.Select(n => n.Exited));
        var first = await Task.WhenAny(_stopRequested.Task, allExited);
        if (first == allExited)
        {
            Say("every server has exited");
            return 1;
        }

        await StopAllAsync();
        return 0;
    }

    /// <summary>
    /// Asks the running cluster, through each of its servers in turn, to add the node started here
    /// (POST /members: forwarded to the leader, answered once the node is a voter), and says how it went.
    /// </summary>
    private async Task AddToClusterAsync(ServerNode node, IReadOnlyList<ServerSettings> cluster)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(70) };
        var body = System.Text.Json.JsonSerializer.Serialize(new { id = node.Id, address = node.Settings.AkkaAddress });
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        for (var attempt = 0; DateTime.UtcNow < deadline && !_stopRequested.Task.IsCompleted; attempt++)
        {
            var server = cluster[attempt % cluster.Count];
            try
            {
                using var response = await http.PostAsync(server.Http.Url() + "/members", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
                var answer = await response.Content.ReadAsStringAsync();
                switch ((int)response.StatusCode)
                {
                    case 200:
                        Say($"{node.Id} is a voter of the cluster: {answer}");
                        return;
                    case 503:
                        break; // no leader known there yet: the next server
                    default:
                        Say($"adding {node.Id} through {server.NodeId}: {(int)response.StatusCode} {answer}");
                        return;
                }
            }
            catch (HttpRequestException)
            {
                // That server is down: the next one.
            }

            await Task.Delay(TimeSpan.FromMilliseconds(300));
        }

        Say($"could not add {node.Id}: no server of the cluster took the request (is it running?)");
    }

    private bool LoadNodes()
    {
        IReadOnlyList<string> files;
        try
        {
            files = NodeConfigFiles.In(_configDirectory);
        }
        catch (ServerStartException e)
        {
            Console.Error.WriteLine(e.Message);
            return false;
        }

        foreach (var file in files)
        {
            try
            {
                var settings = ServerSettings.Load(file);
                _nodes.Add(new ServerNode(settings.NodeId, file, settings));
            }
            catch (Exception e) when (e is RaftConfigurationException or ServerStartException)
            {
                Console.Error.WriteLine($"{file}: {e.Message}");
                return false;
            }
        }

        string? problem = null;
        try
        {
            NodeConfigFiles.CheckDistinctIds(_nodes.Select(n => (n.Id, n.ConfigFile)));
        }
        catch (ServerStartException e)
        {
            problem = e.Message;
        }

        var sharedHttp = _nodes.GroupBy(n => n.Settings.Http).FirstOrDefault(g => g.Count() > 1);
        if (sharedHttp is not null)
            problem ??= $"raft.server.http {sharedHttp.Key.Host}:{sharedHttp.Key.Port} is used by {string.Join(" and ", sharedHttp.Select(n => n.ConfigFile))}";
        var sharedData = _nodes.GroupBy(n => n.Settings.DataDirectory).FirstOrDefault(g => g.Count() > 1);
        if (sharedData is not null)
            problem ??= $"raft.data-dir {sharedData.Key} is used by {string.Join(" and ", sharedData.Select(n => n.ConfigFile))}";
        foreach (var node in _nodes.Where(n => n.Settings.Membership.Peers.Count + 1 != _nodes.Count))
            problem ??= $"{node.ConfigFile}: raft.members has {node.Settings.Membership.Peers.Count + 1} members, but {_nodes.Count} node configs are in {_configDirectory}";
        if (problem is null)
            return true;
        Console.Error.WriteLine(problem);
        return false;
    }

    private bool Clean()
    {
        var workingDirectory = Path.GetFullPath(Directory.GetCurrentDirectory()).TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar;
        foreach (var node in _nodes)
        {
            var directory = node.Settings.DataDirectory;
            if (!directory.StartsWith(workingDirectory, StringComparison.Ordinal))
            {
                Console.Error.WriteLine($"--clean deletes only data directories inside the working directory {workingDirectory}; {node.Id}'s is {directory}");
                return false;
            }
        }

        foreach (var node in _nodes.Where(n => Directory.Exists(n.Settings.DataDirectory)))
        {
            Directory.Delete(node.Settings.DataDirectory, recursive: true);
            Console.WriteLine($"deleted {node.Settings.DataDirectory}");
        }

        return true;
    }

    /// <summary>How to start this same program again: its apphost, or dotnet with its assembly.</summary>
    private static (string FileName, IReadOnlyList<string> Prefix) SelfCommand()
    {
        var processPath = Environment.ProcessPath ?? "dotnet";
        var assembly = typeof(LocalCluster).Assembly.Location;
        return Path.GetFileNameWithoutExtension(processPath).Equals("dotnet", StringComparison.OrdinalIgnoreCase)
            ? (processPath, ["exec", assembly])
            : (processPath, []);
    }

    private void Start(ServerNode node, string fileName, IReadOnlyList<string> prefix)
    {
        var start = new ProcessStartInfo(fileName)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Directory.GetCurrentDirectory(),
        };
        foreach (var arg in prefix)
            start.ArgumentList.Add(arg);
        start.ArgumentList.Add("--config");
        start.ArgumentList.Add(node.ConfigFile);
        start.ArgumentList.Add("--supervised");
        var process = Process.Start(start) ?? throw new InvalidOperationException($"cannot start {fileName}");
        node.Process = process;
        Say($"started {node.Id} (pid {process.Id}) from {Path.GetFileName(node.ConfigFile)}");
        var stdout = PumpAsync(node, process.StandardOutput, error: false);
        var stderr = PumpAsync(node, process.StandardError, error: true);
        node.Exited = Task.Run(async () =>
        {
            await process.WaitForExitAsync();
            await Task.WhenAll(stdout, stderr);
            lock (_outputLock)
                _view.Remove(node.Id);
            Say($"{node.Id} exited with code {process.ExitCode}{(process.ExitCode == 137 || process.ExitCode == -1 ? " (killed)" : "")}");
        });
    }

    private async Task PumpAsync(ServerNode node, StreamReader reader, bool error)
    {
        while (await reader.ReadLineAsync() is { } line)
        {
            if (line.Length == 0)
                continue;
            var shown = line.StartsWith(node.Id + "  ", StringComparison.Ordinal) ? line : $"{node.Id}  {(error ? "! " : "")}{line}";
            lock (_outputLock)
            {
                Console.WriteLine($"+{_clock.Elapsed.TotalSeconds:F3}s  {shown}");
                var match = StateLine().Match(line);
                if (match.Success && match.Groups["id"].Value == node.Id)
                {
                    var leader = match.Groups["leader"].Value;
                    _view[node.Id] = (match.Groups["role"].Value, long.Parse(match.Groups["term"].Value), leader == "-" ? null : leader);
                    AnnounceAgreement();
                }
            }
        }
    }

    /// <summary>Says when every running node follows one leader, once per leader and term.</summary>
    private void AnnounceAgreement()
    {
        var running = _nodes.Where(n => n.Process is { HasExited: false } && _view.ContainsKey(n.Id)).Select(n => _view[n.Id]).ToList();
        var leaders = running.Where(v => v.Role == "Leader").ToList();
        if (running.Count == 0 || leaders.Count != 1)
            return;
        var (_, term, leader) = leaders[0];
        if (leader is null || !running.All(v => v.Term == term && v.Leader == leader) || _announced == (leader, term))
            return;
        _announced = (leader, term);
        var url = _nodes.First(n => n.Id == leader).Settings.Http.Url();
        Console.WriteLine($"+{_clock.Elapsed.TotalSeconds:F3}s  >> {leader} is the leader of term {term}, followed by all {running.Count} running nodes ({url})");
    }

    private async Task StopAllAsync()
    {
        Say("stopping every server");
        foreach (var node in _nodes.Where(n => n.Process is { HasExited: false }))
        {
            try
            {
                node.Process!.StandardInput.Close(); // a supervised server stops when its input closes
            }
            catch (IOException)
            {
            }
        }

        var all = Task.WhenAll(_nodes.Select(n => n.Exited));
        if (await Task.WhenAny(all, Task.Delay(StopTimeout)) != all)
        {
            Say($"servers still running after {StopTimeout.TotalSeconds:F0} s: killing them");
            KillAll();
            await all.WaitAsync(TimeSpan.FromSeconds(5)).ContinueWith(_ => { });
        }

        Say("all servers stopped");
    }

    private void KillAll()
    {
        foreach (var node in _nodes)
        {
            try
            {
                if (node.Process is { HasExited: false } process)
                    process.Kill(entireProcessTree: true);
            }
            catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
            {
            }
        }
    }

    private void Say(string line)
    {
        lock (_outputLock)
            Console.WriteLine($"+{_clock.Elapsed.TotalSeconds:F3}s  >> {line}");
    }

    [GeneratedRegex(@"^(?<id>\S+)  (?<role>Follower|Candidate|Leader)\s+term (?<term>\d+)  leader (?<leader>\S+)$")]
    private static partial Regex StateLine();
}
