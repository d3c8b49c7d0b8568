using System.Diagnostics;

namespace RaftActors.IntegrationTests;

/// <summary>Runs the built raftctl (dotnet exec raftctl.dll) to completion, bounded; killed if it overruns.</summary>
public static class Raftctl
{
    public static string Assembly { get; } = ServerProcess.BuiltAssembly("RaftctlAssembly");

    public sealed record Result(int ExitCode, string Output, string Error)
    {
        public override string ToString() => $"exit {ExitCode}\n{Output}\n{Error}";
    }

    public static async Task<Result> RunAsync(TestCluster cluster, IEnumerable<int> nodes, params string[] args)
    {
        var start = new ProcessStartInfo(ServerProcess.DotnetHost)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("exec");
        start.ArgumentList.Add(Assembly);
        start.ArgumentList.Add("--nodes");
        start.ArgumentList.Add(string.Join(",", nodes.Select(n => $"127.0.0.1:{cluster.HttpPorts[n]}")));
        foreach (var arg in args)
            start.ArgumentList.Add(arg);
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
            throw new Xunit.Sdk.XunitException($"raftctl {string.Join(' ', args)} did not finish within 60 s");
        }

        var result = new Result(process.ExitCode, await output, await error);
        cluster.Log($"raftctl {string.Join(' ', args)} -> {result.ExitCode}: {result.Output.Trim()} {result.Error.Trim()}");
        return result;
    }
}
