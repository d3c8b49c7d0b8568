using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;

namespace RaftActors.IntegrationTests;

/// <summary>
/// One server (the built RaftActors.Server.dll under <c>dotnet exec</c>) as a separate process.
/// Its output is kept for the test's log, each line stamped with the time it came. <see cref="Kill"/> is SIGKILL of the process tree;
/// the server runs supervised, so it also stops by itself should the test host die (its
/// standard input closes).
/// </summary>
public sealed class ServerProcess : IDisposable
{
    private const int KeptLines = 2000;
    private readonly Queue<string> _log = new();
    private readonly Lock _lock = new();
    private Process? _process;
    private int _incarnation;

    public ServerProcess(string id, string configFile)
    {
        Id = id;
        ConfigFile = configFile;
    }

    public string Id { get; }

    public string ConfigFile { get; }

    public bool Running => _process is { HasExited: false };

    public int? ExitCode => _process is { HasExited: true } p ? p.ExitCode : null;

    /// <summary>Environment variables the server is started with, over the test's own.</summary>
    public Dictionary<string, string> EnvironmentVariables { get; } = new(StringComparer.Ordinal);

    public static string ServerAssembly { get; } = FindServerAssembly();

    /// <summary>The dotnet host that runs this test, else DOTNET_HOST_PATH, else dotnet on the PATH.</summary>
    public static string DotnetHost { get; } =
        Environment.ProcessPath is { } path && Path.GetFileNameWithoutExtension(path) == "dotnet" ? path
        : Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host
        : "dotnet";

    public void Start()
    {
        if (Running)
            throw new InvalidOperationException($"{Id} is running");
        var start = new ProcessStartInfo(DotnetHost)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(ConfigFile)!,
        };
        foreach (var arg in new[] { "exec", ServerAssembly, "--config", ConfigFile, "--supervised" })
            start.ArgumentList.Add(arg);
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        foreach (var (name, value) in EnvironmentVariables)
            start.Environment[name] = value;
        var incarnation = ++_incarnation;
        var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => Keep(incarnation, e.Data, error: false);
        process.ErrorDataReceived += (_, e) => Keep(incarnation, e.Data, error: true);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
        Keep(incarnation, $"started, pid {process.Id}", error: false);
    }

    /// <summary>SIGKILL, no goodbye; waits until the process is gone.</summary>
    public void Kill()
    {
        if (_process is not { } process)
            return;
        try
        {
            if (!process.HasExited)
                process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
        }

        process.WaitForExit(10_000);
        Keep(_incarnation, "killed (SIGKILL)", error: false);
    }

    /// <summary>SIGTERM: the server stops as planned (a leader hands over first); see <see cref="WaitForExitAsync"/>.</summary>
    public void Terminate() => Signal(SigTerm, "terminated (SIGTERM)");

    /// <summary>SIGSTOP: the process freezes where it is (its connections stay open, unanswered) until <see cref="Resume"/>.</summary>
    public void Pause() => Signal(SigStop, "paused (SIGSTOP)");

    /// <summary>SIGCONT: a paused process goes on as if nothing happened.</summary>
    public void Resume() => Signal(SigCont, "resumed (SIGCONT)");

    private const int SigTerm = 15;
    private const int SigCont = 18; // Linux
    private const int SigStop = 19;

    [DllImport("libc", SetLastError = true, EntryPoint = "kill")]
    private static extern int SendSignal(int pid, int signal);

    private void Signal(int signal, string what)
    {
        if (_process is not { HasExited: false } process)
            return;
        if (SendSignal(process.Id, signal) != 0)
            throw new InvalidOperationException($"{Id}: kill({process.Id}, {signal}) failed with errno {Marshal.GetLastPInvokeError()}");
        Keep(_incarnation, what, error: false);
    }

    /// <summary>Waits for the process to exit by itself.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan within)
    {
        var process = _process ?? throw new InvalidOperationException($"{Id} was never started");
        using var timeout = new CancellationTokenSource(within);
        await process.WaitForExitAsync(timeout.Token);
        process.WaitForExit(); // drains the redirected output
        return process.ExitCode;
    }

    public string Output
    {
        get
        {
            lock (_lock)
                return string.Join("\n", _log);
        }
    }

    private void Keep(int incarnation, string? line, bool error)
    {
        if (line is null)
            return;
        lock (_lock)
        {
            _log.Enqueue($"{DateTime.Now:HH:mm:ss.fff} [{Id}#{incarnation}{(error ? " stderr" : "")}] {line}");
            while (_log.Count > KeptLines)
                _log.Dequeue();
        }
    }

    public void Dispose()
    {
        Kill();
        _process?.Dispose();
    }

    private static string FindServerAssembly() => BuiltAssembly("ServerAssembly");

    /// <summary>The path of a program this project builds first (see the csproj's AssemblyMetadata).</summary>
    public static string BuiltAssembly(string key)
    {
        var path = typeof(ServerProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == key).Value!;
        path = Path.GetFullPath(path);
        if (!File.Exists(path))
            throw new FileNotFoundException($"{Path.GetFileName(path)} is not built at {path}: build the solution first", path);
        return path;
    }
}
