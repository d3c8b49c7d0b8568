namespace RaftActors.Server.Demo;

/// <summary>The demo's directories: where the node configs are and where the nodes keep their state.</summary>
public sealed record DemoOptions(string ConfigDirectory, string DataDirectory)
{
    public const string SolutionFile = "RaftActors.sln";

    /// <summary>The demo's directories, the defaults filled in; null with a problem when the repository's hocon/ is wanted but not found.</summary>
    public static DemoOptions? Resolve(string? configDirectory, string? dataDirectory, out string? problem)
    {
        problem = null;
        var root = FindRepositoryRoot();
        if (configDirectory is null)
        {
            if (root is null)
            {
                problem = $"cannot find the repository ({SolutionFile}) above {AppContext.BaseDirectory} or {Directory.GetCurrentDirectory()}; give --config-dir";
                return null;
            }

            configDirectory = Path.Combine(root, "hocon");
        }

        dataDirectory ??= root is null
            ? Path.Combine(Path.GetTempPath(), "raftactors-election-demo")
            : Path.Combine(root, "data", "election-demo");
        return new DemoOptions(Path.GetFullPath(configDirectory), Path.GetFullPath(dataDirectory));
    }

    /// <summary>The nearest folder holding RaftActors.sln above the program, else above the current directory.</summary>
    public static string? FindRepositoryRoot()
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
        {
            for (var directory = new DirectoryInfo(start); directory is not null; directory = directory.Parent)
            {
                if (File.Exists(Path.Combine(directory.FullName, SolutionFile)))
                    return directory.FullName;
            }
        }

        return null;
    }
}
