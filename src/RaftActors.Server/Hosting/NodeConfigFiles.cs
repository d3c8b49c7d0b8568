using System.Text.RegularExpressions;

namespace RaftActors.Server.Hosting;

/// <summary>A directory of node configs, node1.conf, node2.conf, ...: how the local cluster and the demo find their nodes.</summary>
public static partial class NodeConfigFiles
{
    /// <summary>The node configs in <paramref name="directory"/>, in node order; fails saying why when there are none.</summary>
    public static IReadOnlyList<string> In(string directory)
    {
        if (!Directory.Exists(directory))
            throw new ServerStartException($"config directory {directory} does not exist");
        var files = Directory.GetFiles(directory)
            .Select(path => (path, match: NodeConfigName().Match(Path.GetFileName(path))))
            .Where(f => f.match.Success)
            .OrderBy(f => int.Parse(f.match.Groups[1].Value))
            .Select(f => f.path)
            .ToList();
        return files.Count > 0 ? files : throw new ServerStartException($"no node configs (node1.conf, node2.conf, ...) in {directory}");
    }

    /// <summary>Fails when two files configure the same raft.node-id.</summary>
    public static void CheckDistinctIds(IEnumerable<(string NodeId, string ConfigFile)> nodes)
    {
        var repeated = nodes.GroupBy(n => n.NodeId).FirstOrDefault(g => g.Count() > 1);
        if (repeated is not null)
            throw new ServerStartException($"raft.node-id '{repeated.Key}' is set in more than one file: {string.Join(", ", repeated.Select(n => n.ConfigFile))}");
    }

    [GeneratedRegex(@"^node(\d+)\.conf$")]
    private static partial Regex NodeConfigName();
}
