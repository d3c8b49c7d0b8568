using System.Diagnostics;

namespace RaftActors.IntegrationTests;

/// <summary>Runs the built raftctl against the cluster's nodes.</summary>
public static class Raftctl
{
    public static string Assembly { get; } = ServerProcess.BuiltAssembly("RaftctlAssembly");

    public static Task<DotnetProgram.Result> RunAsync(TestCluster cluster, IEnumerable<int> nodes, params string[] args) =>
        DotnetProgram.RunAsync(cluster, Assembly, ["--nodes", string.Join(",", nodes.Select(n => $"127.0.0.1:{cluster.HttpPorts[n]}")), .. args]);
}

/// <summary>Runs a built program (dotnet exec) to completion, bounded; killed if it overruns.</summary>
public static class DotnetProgram
{
    public sealed record Result(int ExitCode, string Output, string Error)
    {
        public override string ToString() => $"exit {ExitCode}\n{Output}\n{Error}";
    }

    /// <summary>Runs <paramref name="assembly"/> with <paramref name="args"/> in <paramref name="workingDirectory"/> (default: this process's), logging the outcome to the cluster's log.</summary>
    public static async Task<Result> RunAsync(TestCluster cluster, string assembly, IReadOnlyList<string> args, string? workingDirectory = null)
    {
        var start = new ProcessStartInfo(ServerProcess.DotnetHost)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (workingDirectory is not null)
            start.WorkingDirectory = workingDirectory;
        start.ArgumentList.Add("exec");
        start.ArgumentList.Add(assembly);
        foreach (var arg in args)
            start.ArgumentList.Add(arg);
        var name = $"{Path.GetFileNameWithoutExtension(assembly)} {string.Join(' ', args)}";
        using var process = Process.Start(start)!;
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new Xunit.Sdk.XunitException($"{name} did not finish within 60 s");
        }

        var result = new Result(process.ExitCode, await output, await error);
        cluster.Log($"{name} -> {result.ExitCode}: {result.Output.Trim()} {result.Error.Trim()}");
        return result;
    }
}
