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
    /// <param name="faultInjection">
    /// Maps /admin/partition and /admin/heal, for tests of faults: Akka.Remote then runs through
    /// its throttler, whose addresses read akka.trttl.tcp://, so members are listed by their full
    /// actor path (an "address" must be the node's own akka.tcp:// one). The throttler does not
    /// pass on the disconnect of a SIGKILLed peer (Akka's ThrottledAssociation relies on
    /// heartbeats instead): until the transport failure detector gives up on it (120 s by
    /// default), messages to the peer's next incarnation go into the dead connection; heartbeats
    /// every second, and 5 s of silence, find it out in time.
    /// </param>
    /// <param name="raft">More of the node's raft section, e.g. <c>heartbeat-interval = 50ms</c>.</param>
    public static string Config(
        int k, int akkaPort, int httpPort, IEnumerable<(string Id, string Address)> members, bool join, bool faultInjection = false, string raft = "")
    {
        var list = string.Join(",\n", members.Select(m => faultInjection
            ? $"    {{ id = \"{m.Id}\", path = \"{m.Address.Replace("akka.tcp://", "akka.trttl.tcp://", StringComparison.Ordinal)}/user/raft\" }}"
            : $"    {{ id = \"{m.Id}\", address = \"{m.Address}\" }}"));
        var throttler = faultInjection ? ", applied-adapters = [trttl]" : "";
        var failureDetector = faultInjection ? "\n    transport-failure-detector { heartbeat-interval = 1s, acceptable-heartbeat-pause = 5s }" : "";
        string[] faultSettings = faultInjection ? ["server.fault-injection = on"] : [];
        var moreRaft = faultSettings
            .Concat(raft.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            .Select(line => "\n  " + line);
        return $$"""
            # Node n{{k}} of a cluster of key-value servers on loopback.
            akka {
              loglevel = WARNING
              stdout-loglevel = WARNING
              log-dead-letters = off
              log-dead-letters-during-shutdown = off
              actor.provider = remote
              remote {
                log-remote-lifecycle-events = off
                use-passive-connections = off
                dot-netty.tcp { hostname = "127.0.0.1", port = {{akkaPort}}{{throttler}} }{{failureDetector}}
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
              server.http = "127.0.0.1:{{httpPort}}"{{string.Concat(moreRaft)}}
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
