using System.Diagnostics;
using Akka.Actor;
using RaftActors.Core;
using RaftActors.Messages;
using RaftActors.Tests.Serialization.Legacy;
using Xunit.Abstractions;

namespace RaftActors.Tests.Cluster;

/// <summary>
/// A rolling upgrade over real Akka.Remote: one node still speaks the previous release's wire format
/// (<see cref="WireVersion1Serializer"/> in its ActorSystem) while the others run this one. They elect,
/// replicate and commit with the old node as follower and as leader; the new nodes speak version 2
/// between themselves and version 1 to it, and hold the cluster version at 1 while it is a member.
/// </summary>
[Collection(RemoteClusterCollection.Name)]
public sealed class RollingUpgradeTests(ITestOutputHelper output)
{
    // Bounds on waiting only, generous for a loaded machine; nothing here depends on timing.
    private static readonly TimeSpan LeaderBound = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan CommitBound = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan VersionBound = TimeSpan.FromSeconds(10);

    private const string Old = "n1";

    // Nothing here is about elections: timeouts long enough that a busy machine's pauses cause none,
    // so every leader change is the test's own transfer.
    private static readonly LocalClusterOptions Unhurried = new()
    {
        Timing = (TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2), TimeSpan.FromMilliseconds(100)),
    };

    [Fact]
    public async Task A_node_of_the_previous_release_follows_and_leads_nodes_of_this_one()
    {
        await using var cluster = await LocalRemoteCluster.StartAsync(3, LocalRemoteCluster.NewTestSeed(), output, Unhurried with
        {
            ConfigureSystem = (id, system) =>
            {
                if (id == Old)
                    WireVersion1Serializer.Install(system);
            },
        });
        var leader = await cluster.ExpectAgreedLeaderAsync(LeaderBound, aboveTerm: 0, "after the start");
        if (leader.NodeId == Old)
            leader = await TransferAsync(cluster, leader, "n2");

        // The old node as a follower.
        await cluster.ExpectCommittedEverywhereAsync(leader.NodeId, "while the old node follows", CommitBound);
        var other = leader.NodeId == "n2" ? "n3" : "n2";
        var versions = await WaitForVersionsAsync(cluster, leader.NodeId, v => v.Peers.GetValueOrDefault(other) == WireVersions.Highest);
        Assert.Equal(WireVersions.Unversioned, versions.Cluster); // the old node holds it down
        Assert.False(versions.Peers.ContainsKey(Old), $"the old node cannot announce a version, yet {leader.NodeId} has {versions.Peers.GetValueOrDefault(Old)} for it");

        // The old node as the leader.
        var oldLeader = await TransferAsync(cluster, leader, Old);
        await cluster.ExpectCommittedEverywhereAsync(oldLeader.NodeId, "while the old node leads", CommitBound);
        await cluster.ExpectCommittedEverywhereAsync(oldLeader.NodeId, "again while the old node leads", CommitBound);

        // What the old node could not read or write is all it dropped: the new nodes' announcements.
        var problems = cluster.LogLines
            .Where(l => l.Contains("serializ", StringComparison.OrdinalIgnoreCase))
            .Where(l => !(l.Contains($"[{Old}]", StringComparison.Ordinal) && (l.Contains("WireVersionAnnouncement", StringComparison.Ordinal) || l.Contains("manifest [WV]", StringComparison.Ordinal))))
            .ToList();
        Assert.True(problems.Count == 0, $"seed {cluster.Seed}: unexpected serialization problems:\n{string.Join("\n", problems)}\n{cluster.Describe()}");
    }

    /// <summary>
    /// The leader, which hears from every member, learns that they all read this release's version;
    /// so does a new leader after a transfer. (Followers hear only from their leader: their view of
    /// the cluster version may lag, and they use none of it.)
    /// </summary>
    [Fact]
    public async Task The_leader_of_nodes_of_this_release_raises_the_cluster_version_to_theirs()
    {
        await using var cluster = await LocalRemoteCluster.StartAsync(3, LocalRemoteCluster.NewTestSeed(), output, Unhurried);
        var leader = await cluster.ExpectAgreedLeaderAsync(LeaderBound, aboveTerm: 0, "after the start");
        await cluster.ExpectCommittedEverywhereAsync(leader.NodeId, "in versioned messages", CommitBound);
        await WaitForVersionsAsync(cluster, leader.NodeId, v => v.Cluster == WireVersions.Highest);

        var successor = await TransferAsync(cluster, leader, cluster.NodeIds.First(id => id != leader.NodeId));
        await WaitForVersionsAsync(cluster, successor.NodeId, v => v.Cluster == WireVersions.Highest);
        await cluster.ExpectCommittedEverywhereAsync(successor.NodeId, "after the transfer", CommitBound);
        cluster.AssertSafety();
    }

    private async Task<RaftStatus> TransferAsync(LocalRemoteCluster cluster, RaftStatus from, string to)
    {
        var reply = await cluster.AskAsync(from.NodeId, new TransferLeadership(to), LeaderBound);
        Assert.True(reply is LeadershipTransferred { LeaderId: var id } && id == to, $"seed {cluster.Seed}: transfer to {to} answered {reply}\n{cluster.Describe()}");
        var leader = await cluster.ExpectAgreedLeaderAsync(LeaderBound, aboveTerm: from.Term, $"after handing leadership to {to}");
        Assert.Equal(to, leader.NodeId);
        output.WriteLine($"{to} leads term {leader.Term}");
        return leader;
    }

    private static async Task<WireVersionStatus> WaitForVersionsAsync(LocalRemoteCluster cluster, string nodeId, Func<WireVersionStatus, bool> condition)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var status = await cluster.AskAsync(nodeId, GetWireVersions.Instance, VersionBound) as WireVersionStatus;
            Assert.NotNull(status);
            if (condition(status))
                return status;
            Assert.True(
                deadline.Elapsed < VersionBound,
                $"seed {cluster.Seed}: {nodeId}'s wire versions stayed at cluster {status.Cluster}, peers " +
                $"{string.Join(", ", status.Peers.Select(p => $"{p.Key}={p.Value}"))}\n{cluster.Describe()}");
            await Task.Delay(20);
        }
    }
}
