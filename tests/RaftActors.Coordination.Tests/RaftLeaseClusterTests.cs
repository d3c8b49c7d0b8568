using Akka.Actor;
using Akka.Configuration;
using Akka.Coordination;
using RaftActors.Client;
using Xunit.Abstractions;

namespace RaftActors.Coordination.Tests;

/// <summary>
/// <see cref="RaftLease"/> against a real 3-node Raft cluster running <see cref="LeaseStateMachine"/>
/// in this test's ActorSystem (real time, in-memory storage), found through the lease's HOCON
/// section as Akka's <see cref="LeaseProvider"/> finds it.
/// </summary>
public sealed class RaftLeaseClusterTests : Akka.TestKit.Xunit2.TestKit, IAsyncLifetime
{
    private const string SystemName = "lease-cluster";
    private const string ConfigPath = "akka.coordination.lease.raft";
    private static readonly TimeSpan HeartbeatTimeout = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    private static readonly Config LeaseConfig = ConfigurationFactory.ParseString($$"""
        akka.coordination.lease.raft {
          lease-class = "RaftActors.Coordination.RaftLease, RaftActors.Coordination"
          heartbeat-timeout = 2s
          heartbeat-interval = 200ms
          lease-operation-timeout = 1s
          raft.members = [
            {{string.Join(",\n", LeaseRaftCluster.Ids.Select(id => $"{{ id = {id}, path = \"akka://{SystemName}/user/{id}\" }}"))}}
          ]
        }
        """).WithFallback(LeaseMessageSerializer.Config);

    private readonly ITestOutputHelper _output;
    private IReadOnlyDictionary<string, IActorRef> _nodes = null!;

    public RaftLeaseClusterTests(ITestOutputHelper output)
        : base(LeaseConfig, SystemName, output)
    {
        _output = output;
    }

    public async Task InitializeAsync() => (_nodes, _) = await LeaseRaftCluster.StartAsync(Sys, seed: 4242, Bound);

    public Task DisposeAsync() => Task.CompletedTask;

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
}
