using RaftActors.Messages;
using Xunit.Abstractions;

namespace RaftActors.Tests.Cluster;

/// <summary>
/// Leader election on a real Akka.Remote cluster in one process: every node its own ActorSystem
/// on 127.0.0.1, default timings (150-300 ms election timeout, 50 ms heartbeat). Seeds are
/// printed; RAFT_TEST_SEED replays a run's election timeouts.
/// </summary>
[Collection(RemoteClusterCollection.Name)]
public sealed class ElectionOverRemotingTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(2);

    [Theory]
    [InlineData(3)]
    [InlineData(5)]
    public async Task One_leader_is_elected_within_two_seconds_of_start(int size)
    {
        await using var cluster = await LocalRemoteCluster.StartAsync(size, LocalRemoteCluster.NewTestSeed(), output);

        var leader = await cluster.ExpectAgreedLeaderAsync(Bound - cluster.Elapsed, aboveTerm: 0, $"after the start of {size} nodes");

        output.WriteLine($"{leader.NodeId} leads term {leader.Term}, elected at +{cluster.BecameLeaderAt(leader.NodeId, leader.Term)?.TotalMilliseconds:F0}ms, agreed by all at +{cluster.Elapsed.TotalMilliseconds:F0}ms");
        cluster.AssertSafety();
    }

    [Theory]
    [InlineData(3)]
    [InlineData(5)]
    public async Task Stopping_the_leaders_system_elects_a_new_leader_of_a_higher_term_within_two_seconds(int size)
    {
        await using var cluster = await LocalRemoteCluster.StartAsync(size, LocalRemoteCluster.NewTestSeed(), output);
        var old = await cluster.ExpectAgreedLeaderAsync(Bound - cluster.Elapsed, aboveTerm: 0, $"after the start of {size} nodes");

        var stoppedAt = cluster.Elapsed;
        await cluster.StopNodeAsync(old.NodeId);
        var terminated = cluster.Elapsed - stoppedAt;
        var successor = await cluster.ExpectAgreedLeaderAsync(
            Bound - (cluster.Elapsed - stoppedAt), aboveTerm: old.Term, $"after stopping leader {old.NodeId} of term {old.Term}");

        Assert.NotEqual(old.NodeId, successor.NodeId);
        Assert.Contains(successor.NodeId, cluster.RunningNodeIds);
        var electedAt = cluster.BecameLeaderAt(successor.NodeId, successor.Term);
        output.WriteLine($"leader {old.NodeId} (term {old.Term}) stopped at +{stoppedAt.TotalMilliseconds:F0}ms " +
                         $"(its system took {terminated.TotalMilliseconds:F0}ms to terminate); {successor.NodeId} leads term {successor.Term}, " +
                         $"elected {(electedAt - stoppedAt)?.TotalMilliseconds:F0}ms after the stop");
        cluster.AssertSafety();
    }

    /// <summary>
    /// Kills leaders while a majority survives (one of 3, two of 5), then checks Election Safety
    /// over every state change every node published in the whole run.
    /// </summary>
    [Theory]
    [InlineData(3)]
    [InlineData(5)]
    public async Task No_term_ever_has_two_leaders_across_elections_and_leader_failures(int size)
    {
        await using var cluster = await LocalRemoteCluster.StartAsync(size, LocalRemoteCluster.NewTestSeed(), output);
        var leader = await cluster.ExpectAgreedLeaderAsync(Bound - cluster.Elapsed, aboveTerm: 0, $"after the start of {size} nodes");
        var leaders = new List<RaftStatus> { leader };

        for (var kill = 0; kill < (size - 1) / 2; kill++)
        {
            var stoppedAt = cluster.Elapsed;
            await cluster.StopNodeAsync(leader.NodeId);
            leader = await cluster.ExpectAgreedLeaderAsync(
                Bound - (cluster.Elapsed - stoppedAt), aboveTerm: leader.Term, $"after stopping leader {leader.NodeId} of term {leader.Term}");
            leaders.Add(leader);
        }

        var history = cluster.History;
        output.WriteLine($"{history.Count} state changes; leaders: {string.Join(" -> ", leaders.Select(l => $"{l.NodeId}@{l.Term}"))}");
        foreach (var elected in leaders)
            Assert.True(cluster.BecameLeaderAt(elected.NodeId, elected.Term) is not null,
                $"the history lacks {elected.NodeId} becoming leader of term {elected.Term}\n{cluster.Describe()}");
        cluster.AssertSafety();
    }
}
