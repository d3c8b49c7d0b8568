using Akka.Cluster;
using RaftActors.Core;
using RaftActors.Messages;
using Xunit.Abstractions;

namespace RaftActors.Tests.Cluster;

/// <summary>
/// Cluster discovery over real Akka.Remote: three ActorSystems in this process joined as an
/// Akka.Cluster (n1 forms it, n2 and n3 join through n1), each node given only the member ids.
/// The nodes learn from the cluster where their peers live, elect, commit, and elect again when
/// the leader's system terminates (it leaves the cluster as it goes).
/// </summary>
[Collection(RemoteClusterCollection.Name)]
public sealed class AkkaClusterDiscoveryTests(ITestOutputHelper output)
{
    // Forming the cluster (join, gossip, convergence, MemberUp) takes a few of Akka.Cluster's 1 s
    // gossip rounds before any node knows where its peers live; elections fail until then.
    private static readonly TimeSpan FirstLeaderBound = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan FailoverBound = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan CommitBound = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task Members_found_through_the_cluster_elect_commit_and_reelect_after_the_leader_terminates()
    {
        await using var cluster = await LocalRemoteCluster.StartAsync(
            3, LocalRemoteCluster.NewTestSeed(), output, new LocalClusterOptions { AkkaCluster = true });

        var leader = await cluster.ExpectAgreedLeaderAsync(FirstLeaderBound, aboveTerm: 0, "after three systems joined one cluster");
        output.WriteLine($"{leader.NodeId} leads term {leader.Term} at +{cluster.Elapsed.TotalMilliseconds:F0}ms");
        Assert.All(cluster.NodeIds, id => Assert.Equal(3, Akka.Cluster.Cluster.Get(cluster.SystemOf(id)).State.Members.Count(m => m.HasRole("raft"))));
        var first = await cluster.ExpectCommittedEverywhereAsync(leader.NodeId, "first", CommitBound);

        var stoppedAt = cluster.Elapsed;
        await cluster.StopNodeAsync(leader.NodeId);
        var successor = await cluster.ExpectAgreedLeaderAsync(
            FailoverBound - (cluster.Elapsed - stoppedAt), aboveTerm: leader.Term, $"after stopping leader {leader.NodeId} of term {leader.Term}");
        Assert.NotEqual(leader.NodeId, successor.NodeId);
        output.WriteLine($"{successor.NodeId} leads term {successor.Term}, {(cluster.Elapsed - stoppedAt).TotalMilliseconds:F0}ms after the stop");

        var second = await cluster.ExpectCommittedEverywhereAsync(successor.NodeId, "second", CommitBound);
        Assert.True(second > first);
        cluster.AssertSafety();
    }

    // A server started to join (raft.join = on), knowing only itself: the leader adds it by id
    // alone, and both find each other through the cluster; it catches up and becomes a voter.
    [Fact]
    public async Task A_server_that_joins_the_cluster_is_added_by_id_alone_and_becomes_a_voter()
    {
        await using var cluster = await LocalRemoteCluster.StartAsync(
            4, LocalRemoteCluster.NewTestSeed(), output, new LocalClusterOptions { AkkaCluster = true, Voters = 3 });
        RaftStatus? leader = null;
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (leader is null && waited.Elapsed < FirstLeaderBound)
        {
            var sample = await cluster.SampleAsync(TimeSpan.FromMilliseconds(250));
            leader = sample.Statuses.Values.SingleOrDefault(s => s is { Role: RaftRole.Leader });
            Assert.Equal((RaftRole.Follower, false), (sample.Statuses["n4"]!.Role, sample.Statuses["n4"]!.IsVoter));
            await Task.Delay(50);
        }

        Assert.NotNull(leader);
        var changed = Assert.IsType<MembershipChanged>(await cluster.AskAsync(leader.NodeId, new AddMember("n4", Address: null), FirstLeaderBound));
        Assert.Equal(["n1", "n2", "n3", "n4"], changed.Configuration.Voters);

        var agreed = await cluster.ExpectAgreedLeaderAsync(CommitBound, aboveTerm: 0, "after n4 joined");
        await cluster.ExpectCommittedEverywhereAsync(agreed.NodeId, "after the join", CommitBound);
        Assert.True((await cluster.SampleAsync(TimeSpan.FromSeconds(1))).Statuses["n4"]!.IsVoter);
        cluster.AssertSafety();
    }
}
