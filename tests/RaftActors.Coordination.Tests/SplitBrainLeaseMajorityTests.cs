using Akka.Actor;
using System.Collections.Concurrent;
using System.Diagnostics;
using Akka.Cluster;
using Akka.Cluster.Tools.Singleton;
using Akka.Configuration;
using Akka.Remote;
using Akka.Remote.Transport;
using RaftActors.Configuration;
using Xunit.Abstractions;

namespace RaftActors.Coordination.Tests;

/// <summary>
/// Split Brain Resolver's lease-majority strategy on <see cref="RaftLease"/>: a two-node
/// Akka.Cluster split in half by the throttler (blackhole) while both halves still reach the Raft
/// cluster; exactly one half gets the lease and survives, the other downs itself. A Cluster
/// Singleton with <c>use-lease</c> on the same lease never runs on both halves at once.
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

    [Fact]
    public async Task A_singleton_with_use_lease_never_runs_on_both_sides_of_a_split()
    {
        var (raftMembers, raftAddress) = await StartRaftClusterAt();
        var config = ConfigurationFactory.ParseString("""
            akka.cluster.singleton { use-lease = "akka.coordination.lease.raft", lease-retry-interval = 500ms }
            """).WithFallback(ClusterConfig(raftMembers));
        var a = Start(config);
        var b = Start(config);
        var (aAddress, bAddress) = (Akka.Cluster.Cluster.Get(a).SelfAddress, Akka.Cluster.Cluster.Get(b).SelfAddress);
        Akka.Cluster.Cluster.Get(a).Join(aAddress);
        Akka.Cluster.Cluster.Get(b).Join(aAddress);
        await Until(() => UpMembers(a) == 2 && UpMembers(b) == 2, "both nodes to be Up in one cluster");

        // Each incarnation of the singleton notes when it starts and stops, on one clock.
        var clock = Stopwatch.StartNew();
        var events = new ConcurrentQueue<(TimeSpan At, string Side, bool Running)>();
        foreach (var (system, side) in new[] { (a, "a"), (b, "b") })
        {
            system.ActorOf(ClusterSingletonManager.Props(
                Props.Create(() => new SingletonRecorder(side, clock, events)), PoisonPill.Instance, ClusterSingletonManagerSettings.Create(system)), "singleton");
        }

        await Until(() => events.Any(e => e.Running), "the singleton to start");
        Assert.Equal("a", events.Single(e => e.Running).Side); // the oldest runs it

        // a, which runs the singleton, is cut off from b and from the Raft cluster: it cannot renew
        // the singleton's lease nor take Split Brain Resolver's, so b survives and must take the
        // singleton over — but only once a's lease expired, never while a's instance still runs.
        var transport = ((IRemoteActorRefProvider)((ExtendedActorSystem)a).Provider).Transport;
        Assert.True(await transport.ManagementCommand(new SetThrottle(bAddress, ThrottleTransportAdapter.Direction.Both, Blackhole.Instance)));
        Assert.True(await transport.ManagementCommand(new SetThrottle(raftAddress, ThrottleTransportAdapter.Direction.Both, Blackhole.Instance)));

        await a.WhenTerminated.WaitAsync(Bound);
        await Until(() => RunningAfter(events).Contains("b"), "the singleton to run on b");
        _output.WriteLine(string.Join("\n", events.Select(e => $"{e.At.TotalMilliseconds,8:F0} ms  {e.Side} {(e.Running ? "started" : "stopped")}")));

        // Replayed in order, the events never show the singleton running on both sides.
        foreach (var (at, running) in Replay(events))
            Assert.True(running.Count <= 1, $"at {at.TotalMilliseconds:F0} ms the singleton ran on {string.Join(" and ", running)}");

        Assert.False(b.WhenTerminated.IsCompleted);
    }

    private static IReadOnlySet<string> RunningAfter(IEnumerable<(TimeSpan At, string Side, bool Running)> events) =>
        Replay(events).Select(step => step.Running).LastOrDefault() ?? new HashSet<string>();

    /// <summary>The sides the singleton runs on after each event, in the order they happened.</summary>
    private static IEnumerable<(TimeSpan At, IReadOnlySet<string> Running)> Replay(IEnumerable<(TimeSpan At, string Side, bool Running)> events)
    {
        var running = new HashSet<string>();
        foreach (var (at, side, isRunning) in events.OrderBy(e => e.At))
        {
            if (isRunning)
                running.Add(side);
            else
                running.Remove(side);
            yield return (at, new HashSet<string>(running));
        }
    }

    private sealed class SingletonRecorder : ReceiveActor
    {
        private readonly string _side;
        private readonly Stopwatch _clock;
        private readonly ConcurrentQueue<(TimeSpan, string, bool)> _events;

        public SingletonRecorder(string side, Stopwatch clock, ConcurrentQueue<(TimeSpan, string, bool)> events)
        {
            (_side, _clock, _events) = (side, clock, events);
            ReceiveAny(_ => { });
        }

        protected override void PreStart() => _events.Enqueue((_clock.Elapsed, _side, true));

        protected override void PostStop() => _events.Enqueue((_clock.Elapsed, _side, false));
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
    private async Task<string> StartRaftCluster() => (await StartRaftClusterAt()).Members;

    /// <summary>The Raft cluster in a system of its own, reachable over remoting: its members in HOCON, and its system's address.</summary>
    private async Task<(string Members, Address Address)> StartRaftClusterAt()
    {
        var system = Start(ConfigurationFactory.ParseString("""
            akka.actor.provider = remote
            akka.remote.dot-netty.tcp { hostname = "127.0.0.1", port = 0, applied-adapters = [trttl] }
            """).WithFallback(LeaseMessageSerializer.Config).WithFallback(RaftSettings.DefaultConfig));
        var (_, members) = await LeaseRaftCluster.StartAsync(system, seed: 1234, Bound);
        return (string.Join(", ", members.Select(m => $"{{ id = {m.Id}, path = \"{m.Path}\" }}")), ((ExtendedActorSystem)system).Provider.DefaultAddress);
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
