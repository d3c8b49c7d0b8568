using Akka.Configuration;

namespace RaftActors.Cli;

/// <summary>A server's HTTP API: its node id when known (from its config), and its base URL.</summary>
public sealed record NodeEndpoint(string? Id, Uri Url)
{
    public string Name => Id ?? Url.Authority;
}

/// <summary>
/// Which servers raftctl talks to: <c>--nodes</c>, else the RAFTCTL_NODES environment variable,
/// else the raft.server.http of every nodeN.conf in <c>--config-dir</c> (default: hocon/ of the
/// repository around the working directory).
/// </summary>
public static class ClusterNodes
{
    public const string EnvironmentVariable = "RAFTCTL_NODES";

    public static IReadOnlyList<NodeEndpoint> Resolve(IReadOnlyList<string> nodes, string? configDirectory)
    {
        var listed = nodes.SelectMany(n => n.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();
        if (listed.Count == 0 && Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } fromEnvironment)
            listed = fromEnvironment.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
        if (listed.Count > 0)
            return listed.Select(n => new NodeEndpoint(null, ParseUrl(n))).ToList();

        return ConfigFiles(configDirectory, $"no nodes: give --nodes host:port,... (or set {EnvironmentVariable}, or --config-dir DIR with node1.conf, ...)")
            .Select(FromConfig).ToList();
    }

    /// <summary>node1.conf, node2.conf, ... of <paramref name="configDirectory"/> (default: hocon/ of the repository), in order.</summary>
    public static IReadOnlyList<string> ConfigFiles(string? configDirectory, string noDirectory)
    {
        var directory = configDirectory ?? FindHoconDirectory() ?? throw new CliException(noDirectory);
        if (!Directory.Exists(directory))
            throw new CliException($"config directory {directory} does not exist");
        var files = Directory.GetFiles(directory, "node*.conf")
            .Select(f => (file: f, number: int.TryParse(Path.GetFileNameWithoutExtension(f)[4..], out var n) ? n : -1))
            .Where(f => f.number >= 0)
            .OrderBy(f => f.number)
            .Select(f => f.file)
            .ToList();
        if (files.Count == 0)
            throw new CliException($"no node configs (node1.conf, ...) in {directory}");
        return files;
    }

    public static Uri ParseUrl(string node)
    {
        var text = node.Contains("://", StringComparison.Ordinal) ? node : "http://" + node;
        if (!Uri.TryCreate(text, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https"))
            throw new CliException($"'{node}' is not a node's address (host:port or http://host:port)");
        return new Uri(url.GetLeftPart(UriPartial.Authority));
    }

    /// <summary>The node id and HTTP endpoint (<c>raft.server.http</c>) of a node config.</summary>
    public static NodeEndpoint FromConfig(string file)
    {
        try
        {
            var config = ConfigurationFactory.ParseString(File.ReadAllText(file));
            var http = config.GetString("raft.server.http");
            if (string.IsNullOrWhiteSpace(http))
                throw new CliException($"{file}: raft.server.http is missing");
            var (host, port) = SplitHostPort(http);
            host = host is "*" or "0.0.0.0" ? "127.0.0.1" : host is "::" ? "[::1]" : host.Contains(':') && !host.StartsWith('[') ? $"[{host}]" : host;
            var id = config.GetString("raft.node-id");
            return new NodeEndpoint(string.IsNullOrEmpty(id) ? null : id, ParseUrl($"{host}:{port}"));
        }
        catch (Exception e) when (e is ConfigurationException or FormatException or IOException)
        {
            throw new CliException($"{file}: {e.Message}");
        }
    }

    private static (string Host, string Port) SplitHostPort(string text)
    {
        var colon = text.LastIndexOf(':');
        return colon <= 0 ? throw new CliException($"raft.server.http \"{text}\" is not host:port") : (text[..colon], text[(colon + 1)..]);
    }

    /// <summary>hocon/ of the repository at or above the working directory.</summary>
    private static string? FindHoconDirectory() =>
        FindRepositoryRoot() is { } root && Directory.Exists(Path.Combine(root, "hocon")) ? Path.Combine(root, "hocon") : null;

    /// <summary>The repository (the folder with RaftActors.sln) at or above the working directory.</summary>
    public static string? FindRepositoryRoot()
    {
        for (var directory = new DirectoryInfo(Directory.GetCurrentDirectory()); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "RaftActors.sln")))
                return directory.FullName;
        }

        return null;
    }
}

/// <summary>A problem raftctl reports in one line and exits for.</summary>
public sealed class CliException(string message, int exitCode = ExitCodes.Usage) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}

public static class ExitCodes
{
    public const int Ok = 0;

    /// <summary>The key does not exist (get), or a compare-and-set found another value.</summary>
    public const int NotFoundOrConflict = 1;

    public const int Usage = 2;

    /// <summary>Certainly not applied: no node could take the request (503 everywhere, or none reachable).</summary>
    public const int Unavailable = 3;

    /// <summary>The outcome is unknown (504): retry with the same --idempotency-key to apply it at most once.</summary>
    public const int Unknown = 4;

    /// <summary>Any other error answer (a malformed request, a server error).</summary>
    public const int Failed = 5;
}
