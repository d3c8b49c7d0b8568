using System.Globalization;

namespace RaftActors.Server.Cluster;

/// <summary>
/// Node configs for a cluster of servers on loopback, as hocon/node1.conf..node3.conf are: node
/// nK listens for Akka.Remote on 127.0.0.1:(4050 + K) and for HTTP on 127.0.0.1:(8080 + K) unless
/// other first ports are given, and keeps its write-ahead log in data/nK of the working directory.
/// </summary>
public static class LoopbackConfigs
{
    public const int DefaultAkkaPort = 4051;
    public const int DefaultHttpPort = 8081;

    public static string AkkaAddress(int port) => $"akka.tcp://raft@127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>
    /// Node nK's config, listening on <paramref name="akkaPort"/> and <paramref name="httpPort"/>.
    /// <paramref name="members"/> are the servers it lists (the starting configuration; for a
    /// joining node, where servers live); <paramref name="join"/> starts it to join a running cluster.
    /// </summary>
    public static string Config(int k, int akkaPort, int httpPort, IEnumerable<(string Id, string Address)> members, bool join)
    {
        var list = string.Join(",\n", members.Select(m => $"    {{ id = \"{m.Id}\", address = \"{m.Address}\" }}"));
        return $$"""
            # Node n{{k}} of a local loopback cluster, written by `dotnet run --project src/RaftActors.Server -- cluster`.
            akka {
              loglevel = WARNING
              stdout-loglevel = WARNING
              log-dead-letters = off
              log-dead-letters-during-shutdown = off
              actor.provider = remote
              remote {
                log-remote-lifecycle-events = off
                use-passive-connections = off
                dot-netty.tcp { hostname = "127.0.0.1", port = {{akkaPort}} }
              }
            }

            raft {
              node-id = "n{{k}}"
              join = {{(join ? "on" : "off")}}
              members = [
            {{list}}
              ]
              data-dir = "data/n{{k}}"
              forward-to-leader = on
              server.http = "127.0.0.1:{{httpPort}}"
            }
            """;
    }

    /// <summary>
    /// Writes node1.conf..node<paramref name="count"/>.conf of a new cluster of that many voters into
    /// <paramref name="directory"/>, node nK on <paramref name="akkaPort"/> + K - 1 and <paramref name="httpPort"/> + K - 1.
    /// </summary>
    public static void WriteCluster(string directory, int count, int akkaPort = DefaultAkkaPort, int httpPort = DefaultHttpPort)
    {
        Directory.CreateDirectory(directory);
        var members = Enumerable.Range(1, count).Select(k => ($"n{k}", AkkaAddress(akkaPort + k - 1))).ToList();
        foreach (var file in Directory.GetFiles(directory, "node*.conf"))
            File.Delete(file); // configs of an earlier, larger cluster would be taken for members
        for (var k = 1; k <= count; k++)
            File.WriteAllText(Path.Combine(directory, $"node{k}.conf"), Config(k, akkaPort + k - 1, httpPort + k - 1, members, join: false));
    }
}
