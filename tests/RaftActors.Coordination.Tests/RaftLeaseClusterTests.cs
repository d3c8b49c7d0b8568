using Akka.Actor;
using Akka.Configuration;
using Akka.Coordination;
using RaftActors.Client;
using RaftActors.Configuration;
using RaftActors.Messages;
using RaftActors.Node;
using RaftActors.Storage;
using Xunit.Abstractions;

namespace RaftActors.Coordination.Tests;

/// <summary>
/// <see cref="RaftLease"/> against a real 3-node Raft cluster running <see cref="LeaseStateMachine"/>
/// in this test's ActorSystem (real time, in-memory storage), found through the lease's HOCON
/// section as Akka's <see cref="LeaseProvider"/> finds it.
/// </summary>
public sealed class RaftLeaseClusterTests : Akka.TestKit.Xunit2.TestKit
{
    private const string SystemName = "lease-cluster";
    private const string ConfigPath = "akka.coordination.lease.raft";
    private static readonly string[] Ids = ["n1", "n2", "n3"];
    private static readonly TimeSpan HeartbeatTimeout = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    private static readonly Config LeaseConfig = ConfigurationFactory.ParseString($$"""
        akka.coordination.lease.raft {
          lease-class = "RaftActors.Coordination.RaftLease, RaftActors.Coordination"
          heartbeat-timeout = 2s
          heartbeat-interval = 200ms
          lease-operation-timeout = 1s
          raft.members = [
            {{string.Join(",\n", Ids.Select(id => $"{{ id = {id}, path = \"akka://{SystemName}/user/{id}\" }}"))}}
          ]
        }
        """).WithFallback(LeaseMessageSerializer.Config);

    private readonly ITestOutputHelper _output;
    private readonly Dictionary<string, IActorRef> _nodes;

    public RaftLeaseClusterTests(ITestOutputHelper output)
        : base(LeaseConfig, SystemName, output)
    {
        _output = output;
        _nodes = StartCluster(seed: 4242);
    }

    [Fact]
    public async Task The_holder_keeps_the_lease_by_renewing_it_and_a_second_owner_gets_it_only_after_the_release()
    {
        var a = LeaseProvider.Get(Sys).GetLease("singleton", ConfigPath, "owner-a");
        var b = LeaseProvider.Get(Sys).GetLease("singleton", ConfigPath, "owner-b");
        Assert.IsType<RaftLease>(a);

        Assert.True(await a.Acquire());
        Assert.True(a.CheckLease());
        Assert.False(await b.Acquire());

        // Well past one heartbeat-timeout: only renewals keep it.
        var until = DateTime.UtcNow + HeartbeatTimeout * 2;
        while (DateTime.UtcNow < until)
        {
            Assert.True(a.CheckLease());
            await Task.Delay(50);
        }

        Assert.False(await b.Acquire());
        Assert.True(await a.Acquire()); // re-entrant: the holder renews

        var aToken = ((RaftLease)a).FencingToken;
        Assert.True(await a.Release());
        Assert.False(a.CheckLease());
        Assert.True(await b.Acquire());
        Assert.True(((RaftLease)b).FencingToken > aToken, "a later grant must carry a higher fencing token");
        Assert.False(await a.Release()); // no longer its to release
    }

    [Fact]
    public async Task A_crashed_owners_lease_expires_and_then_another_owner_acquires_it_after_the_old_one_knows_it_lost_it()
    {
        var (a, aClient) = LeaseOverOwnClient("owner-a");
        var lost = new TaskCompletionSource<Exception>(TaskCreationOptions.RunContinuationsAsynchronously);
        Assert.True(await a.Acquire(e => lost.TrySetResult(e)));
        var b = LeaseProvider.Get(Sys).GetLease("singleton", ConfigPath, "owner-b");
        Assert.False(await b.Acquire());

        // The owner's way to the cluster dies with it; nothing releases the lease.
        Sys.Stop(aClient.Actor);

        var refusedAtLeastOnce = false;
        await AwaitConditionAsync(async () =>
        {
            if (await b.Acquire())
                return true;
            refusedAtLeastOnce = true;
            return false;
        }, Bound, TimeSpan.FromMilliseconds(100), "owner-b to acquire the expired lease");

        Assert.True(refusedAtLeastOnce);
        // Safety: by the time the cluster grants it to b, a no longer claims it.
        Assert.True(lost.Task.IsCompleted, "owner-a was not told it lost the lease before owner-b got it");
        Assert.False(a.CheckLease());
    }

    [Fact]
    public async Task An_owner_cut_off_from_the_Raft_cluster_is_told_within_heartbeat_timeout()
    {
        var lost = new TaskCompletionSource<Exception>(TaskCreationOptions.RunContinuationsAsynchronously);
        var a = LeaseProvider.Get(Sys).GetLease("singleton", ConfigPath, "owner-a");
        Assert.True(await a.Acquire(e => lost.TrySetResult(e)));

        var cutOff = DateTime.UtcNow;
        foreach (var node in _nodes.Values)
            Sys.Stop(node);

        // The last renewal that succeeded was sent before the cut, so the deadline is at most
        // one heartbeat-timeout after it; the margin covers scheduling on a busy machine.
        var reason = await lost.Task.WaitAsync(HeartbeatTimeout + TimeSpan.FromSeconds(2));
        _output.WriteLine($"lost {DateTime.UtcNow - cutOff} after the cut: {reason.Message}");
        Assert.False(a.CheckLease());
        Assert.IsAssignableFrom<LeaseException>(reason);
    }

    /// <summary>A lease with a Raft client of its own, which the test can stop as a crash would.</summary>
    private (RaftLease Lease, RaftClientFacade Client) LeaseOverOwnClient(string owner)
    {
        var config = Sys.Settings.Config.GetConfig(ConfigPath).WithFallback(Sys.Settings.Config.GetConfig("akka.coordination.lease"));
        var settings = LeaseSettings.Create(config, "singleton", owner);
        var client = RaftClientFacade.Start(Sys, RaftClient.MembersFromConfig(config), new RaftClientOptions
        {
            Deadline = settings.TimeoutSettings.OperationTimeout,
            RequestTimeout = settings.TimeoutSettings.OperationTimeout / 3,
        });
        return (new RaftLease(settings, client, Sys.Scheduler, () => Sys.Scheduler.MonotonicClock, Sys.Log), client);
    }

    /// <summary>
    /// Starts n1..n3 under /user. A node resolves its peers' paths when it is constructed, and in
    /// one ActorSystem a path with no actor yet resolves to a dead reference for good; so every
    /// node's construction waits until all three actors are registered.
    /// </summary>
    private Dictionary<string, IActorRef> StartCluster(int seed)
    {
        _output.WriteLine($"seed {seed}");
        var root = new RootActorPath(((ExtendedActorSystem)Sys).Provider.DefaultAddress) / "user";
        var members = Ids.Select(id => new RaftMember(id, root / id)).ToList();
        var settings = new RaftSettings(TimeSpan.FromMilliseconds(150), TimeSpan.FromMilliseconds(300), TimeSpan.FromMilliseconds(50), seed);
        var nodes = new Dictionary<string, IActorRef>();
        var gate = new ManualResetEventSlim();
        foreach (var id in Ids)
        {
            var membership = RaftMembership.Create(id, members);
            var storage = new InMemoryRaftStorage();
            nodes[id] = Sys.ActorOf(Props.CreateBy(new GatedProducer(gate, () => new RaftNode(membership, settings, storage, () => new LeaseStateMachine()))), id);
        }

        gate.Set();

        // The first lease command then goes to a cluster ready to answer it well within its term.
        AwaitCondition(() => nodes.Values.Any(n => n.Ask<RaftStatus>(GetRaftStatus.Instance, TimeSpan.FromSeconds(3)).Result.Role == Core.RaftRole.Leader), Bound);
        return nodes;
    }

    /// <summary>Creates the actor once the gate opens (on the actor's own thread, inside Akka's creation context).</summary>
    private sealed class GatedProducer(ManualResetEventSlim gate, Func<ActorBase> create) : IIndirectActorProducer
    {
        public Type ActorType => typeof(RaftNode);

        public ActorBase Produce()
        {
            if (!gate.Wait(TimeSpan.FromSeconds(10)))
                throw new TimeoutException("the cluster's actors were not all created in time");
            return create();
        }

        public void Release(ActorBase actor)
        {
        }
    }
}
