using System.Buffers.Binary;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Configuration;
using RaftActors.Messages;
using RaftActors.Serialization;
using RaftActors.Tests.Serialization.Forbidden;
using Xunit.Abstractions;

namespace RaftActors.Tests.Cluster;

/// <summary>
/// What anyone who can reach a node's Akka.Remote port can send: raw TCP garbage, a frame cut
/// short, a frame over <c>maximum-frame-size</c>, a frame of junk, and well-formed Akka messages
/// (straight, and inside a Raft client command) carrying a type nobody allowed. After each, the
/// node attacked — the leader — still leads and commits, and the type was never created.
/// </summary>
[Collection(RemoteClusterCollection.Name)]
public sealed class BadInputOverRemotingTests(ITestOutputHelper output)
{
    // Bounds on waiting only, generous for a loaded machine.
    private static readonly TimeSpan LeaderBound = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan CommitBound = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Raw_bytes_and_forbidden_types_on_the_remoting_port_leave_the_leader_serving()
    {
        var seed = LocalRemoteCluster.NewTestSeed();
        await using var cluster = await LocalRemoteCluster.StartAsync(3, seed, output);
        var leader = await cluster.ExpectAgreedLeaderAsync(LeaderBound, aboveTerm: 0, "after the start");
        var target = ((ExtendedActorSystem)cluster.SystemOf(leader.NodeId)).Provider.DefaultAddress;
        var tcp = target.Port ?? throw new InvalidOperationException($"no port in {target}");
        var maxFrame = cluster.SystemOf(leader.NodeId).Settings.Config.GetByteSize("akka.remote.dot-netty.tcp.maximum-frame-size") ?? 128000;
        var random = new Random(seed);
        output.WriteLine($"attacking {leader.NodeId} at {target}; maximum frame {maxFrame} bytes");

        var attacks = new (string Name, Func<Task> Send)[]
        {
            ("garbage", () => SendRawAsync(tcp, Bytes(random, 4096))),
            ("a truncated frame", () => SendRawAsync(tcp, [.. Frame(1000), .. Bytes(random, 10)])),
            ("an oversized frame", () => SendRawAsync(tcp, [.. Frame(maxFrame + 1), .. Bytes(random, 64 * 1024)])),
            ("a frame of junk", () => SendRawAsync(tcp, [.. Frame(512), .. Bytes(random, 512)])),
            ("a forbidden type in Akka's JSON", () => SendFromForeignSystemAsync(target, raft: false)),
            ("a forbidden type in a client command", () => SendFromForeignSystemAsync(target, raft: true)),
        };
        foreach (var (name, send) in attacks)
        {
            await send();
            var status = await cluster.ExpectAgreedLeaderAsync(LeaderBound, aboveTerm: 0, $"after {name}");
            Assert.Equal(leader.NodeId, status.NodeId);
            await cluster.ExpectCommittedEverywhereAsync(leader.NodeId, $"after {name}", CommitBound);
            output.WriteLine($"after {name}: {leader.NodeId} still leads and commits");
        }

        Assert.DoesNotContain(RecordingGadget.Created.Keys, k => k.StartsWith(GadgetPrefix, StringComparison.Ordinal));
        Assert.DoesNotContain(cluster.History, o => o.Change.NodeId == leader.NodeId && o.Change.Term > leader.Term);
    }

    private static readonly string GadgetPrefix = "bad-input-" + Guid.NewGuid().ToString("N");

    private static byte[] Bytes(Random random, int count)
    {
        var bytes = new byte[count];
        random.NextBytes(bytes);
        return bytes;
    }

    /// <summary>The 4-byte length in front of every Akka.Remote frame (little-endian, Akka's <c>byte-order</c> default).</summary>
    private static byte[] Frame(long length)
    {
        var header = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(header, (int)length);
        return header;
    }

    /// <summary>Connects, writes, and lets the node read it before hanging up; the node may hang up first.</summary>
    private static async Task SendRawAsync(int port, byte[] bytes)
    {
        using var client = new TcpClient();
        await client.ConnectAsync("127.0.0.1", port);
        var stream = client.GetStream();
        try
        {
            await stream.WriteAsync(bytes);
            await stream.FlushAsync();
            using var wait = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
            await stream.ReadAtLeastAsync(new byte[1], 1, throwOnEndOfStream: false, wait.Token); // until the node closes, or half a second
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException)
        {
            // The node dropped the connection: what it should do.
        }
    }

    /// <summary>
    /// From an ActorSystem that is no node (Akka's own JSON, no RaftActors defaults), sends the node a
    /// gadget: as a message of its own, or as the command of a <see cref="ClientCommand"/> in the Raft
    /// protocol serializer, whose payload is then Akka's JSON naming the gadget's type.
    /// </summary>
    private static async Task SendFromForeignSystemAsync(Address target, bool raft)
    {
        var system = ActorSystem.Create("intruder", ConfigurationFactory.ParseString("""
            akka.loglevel = ERROR
            akka.stdout-loglevel = ERROR
            akka.actor.provider = remote
            akka.remote.dot-netty.tcp { hostname = "127.0.0.1", port = 0 }
            """));
        try
        {
            if (raft)
            {
                var serializer = new RaftProtocolSerializer((ExtendedActorSystem)system);
                system.Serialization.AddSerializer(RaftProtocolSerializer.SerializerName, serializer);
                system.Serialization.AddSerializationMap(typeof(ClientCommand), serializer);
            }

            var node = system.ActorSelection(new RootActorPath(target) / "user" / LocalRemoteCluster.ActorName);
            var gadget = new RecordingGadget { Name = $"{GadgetPrefix}-{(raft ? "command" : "message")}" };
            RecordingGadget.Created.TryRemove(gadget.Name, out _); // made here, on the sending side: only a creation on the node counts
            node.Tell(raft ? new ClientCommand(gadget) : gadget);

            // Delivered once the node answers something sent after it on the same connection.
            await node.Ask<ActorIdentity>(new Identify(null), TimeSpan.FromSeconds(10));
        }
        finally
        {
            await system.Terminate();
        }
    }
}
