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

    public const string Usage = """
        usage: dotnet run --project src/RaftActors.Server -- cluster [--config-dir DIR] [--clean]
          starts one server process per node config DIR/node1.conf, node2.conf, ... and prints every
          role, term and leader change; Ctrl+C stops them all
          --config-dir DIR  the node configs (default: hocon/ in the repository)
          --clean           delete each node's raft.data-dir first (only one inside the working directory)
        """;

    private sealed class ServerNode(string id, string configFile, ServerSettings settings)
    {
        public string Id { get; } = id;

        public string ConfigFile { get; } = configFile;

        public ServerSettings Settings { get; } = settings;

        public Process? Process { get; set; }

        public Task Exited { get; set; } = Task.CompletedTask;
    }

    public static async Task<int> RunAsync(IReadOnlyList<string> args)
    {
        string? configDirectory = null;
        var clean = false;
        for (var i = 0; i < args.Count; i++)
        {
            switch (args[i])
            {
                case "-h" or "--help":
                    Console.WriteLine(Usage);
                    return 0;
                case "--config-dir" when i + 1 < args.Count:
                    configDirectory = args[++i];
                    break;
                case "--clean":
                    clean = true;
                    break;
                default:
                    Console.Error.WriteLine($"unknown or incomplete argument '{args[i]}'");
                    Console.Error.WriteLine(Usage);
                    return 2;
            }
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

    private async Task<int> RunAsync()
    {
        if (!LoadNodes())
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
