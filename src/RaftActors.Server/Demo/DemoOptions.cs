namespace RaftActors.Server.Demo;

/// <summary>The demo's command line: where the node configs are and where the nodes keep their state.</summary>
public sealed record DemoOptions(string ConfigDirectory, string DataDirectory)
{
    public const string SolutionFile = "RaftActors.sln";

    public const string Usage = """
        usage: dotnet run --project src/RaftActors.Server [-- demo [--config-dir DIR] [--data-dir DIR]]
          --config-dir DIR  the node configs node1.conf, node2.conf, ... (default: hocon/ in the repository)
          --data-dir DIR    where each node keeps its durable state (DIR/n1, ...; wiped at start)
                            (default: data/election-demo in the repository, else a temporary folder)
        """;

    /// <summary>Reads the arguments; false with a null problem means help was asked for.</summary>
    public static bool TryParse(IReadOnlyList<string> args, out DemoOptions? options, out string? problem)
    {
        options = null;
        problem = null;
        string? configDirectory = null;
        string? dataDirectory = null;
        for (var i = 0; i < args.Count; i++)
        {
            switch (args[i])
            {
                case "-h" or "--help":
                    return false;
                case "--config-dir" or "--data-dir" when i + 1 >= args.Count:
                    problem = $"{args[i]} needs a directory";
                    return false;
                case "--config-dir":
                    configDirectory = args[++i];
                    break;
                case "--data-dir":
                    dataDirectory = args[++i];
                    break;
                default:
                    problem = $"unknown argument '{args[i]}'";
                    return false;
            }
        }

        var root = FindRepositoryRoot();
        if (configDirectory is null)
        {
            if (root is null)
            {
                problem = $"cannot find the repository ({SolutionFile}) above {AppContext.BaseDirectory} or {Directory.GetCurrentDirectory()}; give --config-dir";
                return false;
            }

            configDirectory = Path.Combine(root, "hocon");
        }

        dataDirectory ??= root is null
            ? Path.Combine(Path.GetTempPath(), "raftactors-election-demo")
            : Path.Combine(root, "data", "election-demo");
        options = new DemoOptions(Path.GetFullPath(configDirectory), Path.GetFullPath(dataDirectory));
        return true;
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
