using Akka.Actor;
using Akka.Cluster;
using Akka.Configuration;
using Akka.Remote;
using Akka.Remote.Transport;
using RaftActors.Configuration;
using Xunit.Abstractions;

namespace RaftActors.Coordination.Tests;

/// <summary>
/// Split Brain Resolver's lease-majority strategy on <see cref="RaftLease"/>: a two-node
/// Akka.Cluster split in half by the throttler (blackhole) while both halves still reach the Raft
/// cluster; exactly one half gets the lease and survives, the other downs itself.
/// </summary>
public sealed class SplitBrainLeaseMajorityTests : IAsyncLifetime
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);
    private readonly ITestOutputHelper _output;
    private readonly List<ActorSystem> _systems = new();

    public SplitBrainLeaseMajorityTests(ITestOutputHelper output) => _output = output;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var system in _systems)
            await system.Terminate();
    }

    [Fact]
    public async Task Exactly_one_side_of_a_split_gets_the_lease_and_survives()
    {
        var raftMembers = await StartRaftCluster();
        var a = Start(ClusterConfig(raftMembers));
        var b = Start(ClusterConfig(raftMembers));
        var (aAddress, bAddress) = (Akka.Cluster.Cluster.Get(a).SelfAddress, Akka.Cluster.Cluster.Get(b).SelfAddress);
        Akka.Cluster.Cluster.Get(a).Join(aAddress);
        Akka.Cluster.Cluster.Get(b).Join(aAddress);
        await Until(() => UpMembers(a) == 2 && UpMembers(b) == 2, "both nodes to be Up in one cluster");

        _output.WriteLine($"splitting {aAddress} from {bAddress}");
        Assert.True(await ((IRemoteActorRefProvider)((ExtendedActorSystem)a).Provider).Transport.ManagementCommand(
            new SetThrottle(bAddress, ThrottleTransportAdapter.Direction.Both, Blackhole.Instance)));

        var aDown = a.WhenTerminated;
        var bDown = b.WhenTerminated;
        var first = await Task.WhenAny(aDown, bDown).WaitAsync(Bound);
        var (loser, winner) = first == aDown ? (a, b) : (b, a);
        _output.WriteLine($"{Akka.Cluster.Cluster.Get(loser).SelfAddress} downed itself; {Akka.Cluster.Cluster.Get(winner).SelfAddress} survives");

        // The survivor removes the other and stays up on its own.
        await Until(() => Akka.Cluster.Cluster.Get(winner).State.Members.All(m => m.Address == Akka.Cluster.Cluster.Get(winner).SelfAddress),
            "the survivor to remove the downed side");
        Assert.False(winner.WhenTerminated.IsCompleted);
        Assert.Equal(MemberStatus.Up, Akka.Cluster.Cluster.Get(winner).SelfMember.Status);
    }

    private ActorSystem Start(Config config)
    {
        var system = ActorSystem.Create("sbr", config);
        _systems.Add(system);
        return system;
    }

    private static int UpMembers(ActorSystem system) => Akka.Cluster.Cluster.Get(system).State.Members.Count(m => m.Status == MemberStatus.Up);

    private static Config ClusterConfig(string raftMembers) => ConfigurationFactory.ParseString($$"""
        akka.loglevel = INFO
        akka.actor.provider = cluster
        akka.remote.dot-netty.tcp { hostname = "127.0.0.1", port = 0, applied-adapters = [trttl] }
        akka.cluster {
          downing-provider-class = "Akka.Cluster.SBR.SplitBrainResolverProvider, Akka.Cluster"
          split-brain-resolver {
            active-strategy = lease-majority
            stable-after = 2s
            lease-majority {
              lease-implementation = "akka.coordination.lease.raft"
              acquire-lease-delay-for-minority = 1s
            }
          }
          failure-detector { heartbeat-interval = 200ms, acceptable-heartbeat-pause = 1s }
        }
        akka.coordination.lease.raft {
          lease-class = "RaftActors.Coordination.RaftLease, RaftActors.Coordination"
          heartbeat-timeout = 6s
          heartbeat-interval = 500ms
          lease-operation-timeout = 3s
          raft.members = [ {{raftMembers}} ]
        }
        """);

    /// <summary>The Raft cluster in a system of its own, reachable over remoting; returns its members in HOCON.</summary>
    private async Task<string> StartRaftCluster()
    {
        var system = Start(ConfigurationFactory.ParseString("""
            akka.actor.provider = remote
            akka.remote.dot-netty.tcp { hostname = "127.0.0.1", port = 0, applied-adapters = [trttl] }
            """).WithFallback(LeaseMessageSerializer.Config).WithFallback(RaftSettings.DefaultConfig));
        var (_, members) = await LeaseRaftCluster.StartAsync(system, seed: 1234, Bound);
        return string.Join(", ", members.Select(m => $"{{ id = {m.Id}, path = \"{m.Path}\" }}"));
    }

    private static async Task Until(Func<bool> condition, string what)
    {
        using var deadline = new CancellationTokenSource(Bound);
        while (!condition())
        {
            if (deadline.IsCancellationRequested)
                throw new TimeoutException($"waited {Bound} for {what}");
            await Task.Delay(100);
        }
    }
}
