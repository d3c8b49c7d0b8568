using RaftActors.Configuration;
using RaftActors.Messages;
using RaftActors.Tests.Replication;
using Xunit.Abstractions;

namespace RaftActors.Tests.Diagnostics;

/// <summary>
/// The RaftActors meter seen by a listener while an in-process cluster works: the counters and
/// gauges of each node move, under its raft.node.id, with values the cluster's own status confirms.
/// In the real-time replication collection: it runs alone, so n1..n3 are this test's nodes only.
/// </summary>
[Collection(ReplicationCollection.Name)]
public sealed class MetricsClusterTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task ACommittingClusterMovesEachNodesCountersAndGauges()
    {
        using var metrics = new MetricsRecorder();
        await ReplicationCluster.RunAsync(3, output, async cluster =>
        {
            for (var i = 1; i <= 5; i++)
                await cluster.One(i * 100, cluster.Servers, retry: true);
            var leader = await cluster.CheckOneLeader();
            var leaderId = cluster.Id(leader);
            var followers = cluster.Ids.Where(id => id != leaderId).Order().ToList();

            // One command in a client session, and one the leader refuses: a session numbers its commands from 1.
            Assert.IsType<CommandApplied>(await cluster.Request(leader, new ClientCommand(600, "client-a", 1)));
            Assert.IsType<RequestRejected>(await cluster.Request(leader, new ClientCommand(700, "client-a", 0)));
            // A query at the leader and one at a follower, each served where it arrived.
            var reader = Enumerable.Range(0, cluster.Servers).First(i => i != leader);
            Assert.IsType<QueryResult>(await cluster.Request(leader, new ClientQuery("q")));
            Assert.IsType<QueryResult>(await cluster.Request(reader, new ClientQuery("q")));
            var status = (await cluster.Status(leader))!;
            var commit = status.CommitIndex;
            Assert.True(commit >= 7, $"commit index {commit}: a no-op and six commands");

            await MetricsRecorder.WaitUntil("every node reports applying through the leader's commit index", Within, () =>
                cluster.Ids.All(id =>
                    metrics.GaugeValue("raft.log.commit_index", Node(id)) >= commit
                    && metrics.GaugeValue("raft.log.applied_index", Node(id)) >= commit
                    && metrics.GaugeValue("raft.log.applied_lag", Node(id)) == 0));
            await MetricsRecorder.WaitUntil("the leader reports both followers caught up", Within, () =>
            {
                var lag = metrics.Gauge("raft.replication.lag", Node(leaderId));
                return lag.All(l => l.Value == 0) && lag.Select(l => l.Tags[RaftActors.Diagnostics.RaftMetrics.FollowerIdTag]).Order().SequenceEqual(followers);
            });

            // Role and term as each node's own status says (read again until they agree: on a loaded
            // machine a late heartbeat can bring an election in between).
            await MetricsRecorder.WaitUntil("each node's role and term gauges match its status", Within, async () =>
            {
                foreach (var i in Enumerable.Range(0, cluster.Servers))
                {
                    var now = (await cluster.Status(i))!;
                    var id = cluster.Id(i);
                    if (metrics.GaugeValue("raft.node.term", Node(id)) != now.Term
                        || metrics.Gauge("raft.node.role", Node(id)).Sum(r => r.Value) != 1
                        || metrics.GaugeValue("raft.node.role", Node(id), Role(now.Role.ToString().ToLowerInvariant())) != 1)
                        return false;
                }

                return true;
            });

            foreach (var id in cluster.Ids)
            {
                Assert.True(metrics.GaugeValue("raft.log.last_index", Node(id)) >= commit);
                Assert.True(metrics.Sum("raft.node.leader_changes", Node(id)) >= 1, $"{id} counted no leader change");
                Assert.Equal(1, metrics.GaugeValue("raft.client.sessions", Node(id)));

                // Every node wrote every entry durably, in group-committed writes, each timed.
                var written = metrics.Values("raft.storage.write.entries", Node(id));
                Assert.True(written.Sum() >= commit, $"{id} wrote {written.Sum()} entries in {written.Count} writes, the log holds {commit}");
                var durations = metrics.Values("raft.storage.write.duration", Node(id));
                Assert.Equal(written.Count, durations.Count);
                Assert.All(durations, seconds => Assert.InRange(seconds, double.Epsilon, 10));
            }

            Assert.True(metrics.Sum("raft.elections.won", Node(leaderId)) >= 1);
            Assert.True(metrics.Sum("raft.elections.started", Node(leaderId)) >= metrics.Sum("raft.elections.won", Node(leaderId)));
            Assert.True(metrics.Sum("raft.proposals", Outcome("applied")) >= 6);
            Assert.Equal(1, metrics.Sum("raft.proposals", Outcome("refused")));
            Assert.Equal(1, metrics.Sum("raft.reads", Node(leaderId), ReadOutcome("served_by_leader")));
            Assert.Equal(1, metrics.Sum("raft.reads", Node(cluster.Id(reader)), ReadOutcome("served_by_follower")));
            Assert.Equal(0, metrics.Sum("raft.reads", ReadOutcome("failed")));

            // The leader sends AppendEntries, heartbeats and entries; each follower receives them.
            var sent = metrics.Sum("raft.append_entries.sent", Node(leaderId));
            Assert.True(sent > 0);
            Assert.Equal(sent, metrics.Count("raft.append_entries.entries", Node(leaderId)));
            Assert.True(metrics.Sum("raft.append_entries.entries") >= commit, "the entries sent do not cover the log");
            foreach (var follower in followers)
                Assert.True(metrics.Sum("raft.append_entries.received", Node(follower)) > 0, $"{follower} received no AppendEntries");

            // A follower cut off falls behind by what commits without it, and catches up once back.
            var behind = cluster.IndexOf(followers[0]);
            cluster.Disconnect(behind);
            for (var i = 1; i <= 3; i++)
                await cluster.One(800 + i, cluster.Servers - 1, retry: true);
            await MetricsRecorder.WaitUntil($"the leader reports {followers[0]} 3 entries behind", Within, () =>
                metrics.GaugeValue("raft.replication.lag", Node(leaderId), Follower(followers[0])) >= 3
                && metrics.GaugeValue("raft.replication.lag", Node(leaderId), Follower(followers[1])) == 0);
            cluster.Connect(behind);
            await MetricsRecorder.WaitUntil($"the leader reports {followers[0]} caught up", Within, () =>
                metrics.GaugeValue("raft.replication.lag", Node(leaderId), Follower(followers[0])) == 0);
        });
    }

    [Fact]
    public async Task ALeaderThatLosesLeadershipShowsTheRoleChangeAndTheUnknownOutcome()
    {
        using var metrics = new MetricsRecorder();
        await ReplicationCluster.RunAsync(3, output, async cluster =>
        {
            await cluster.One(1, cluster.Servers, retry: true);
            var old = await cluster.CheckOneLeader();
            var oldId = cluster.Id(old);
            var (oldTerm, _) = await cluster.GetState(old);
            Assert.Equal(1, metrics.GaugeValue("raft.node.role", Node(oldId), Role("leader")));
            Assert.Single(metrics.Gauge("raft.replication.lag", Node(oldId), Follower(cluster.Id((old + 1) % 3))));

            // Cut off, the leader takes a command it cannot commit; the others elect a new leader.
            cluster.Disconnect(old);
            var lost = cluster.Submit(old, 2);
            var successorId = cluster.Id(await cluster.CheckOneLeader());
            cluster.Connect(old);

            await MetricsRecorder.WaitUntil($"{oldId} reports itself a follower of a later term", Within, () =>
                metrics.GaugeValue("raft.node.role", Node(oldId), Role("follower")) == 1
                && metrics.GaugeValue("raft.node.role", Node(oldId), Role("leader")) == 0
                && metrics.GaugeValue("raft.node.term", Node(oldId)) > oldTerm);
            Assert.IsType<CommandOutcomeUnknown>(await lost);
            Assert.Equal(1, metrics.Sum("raft.proposals", Node(oldId), Outcome("unknown")));
            Assert.Empty(metrics.Gauge("raft.replication.lag", Node(oldId)));
            Assert.True(metrics.Sum("raft.elections.won", Node(successorId)) >= 1);
            await MetricsRecorder.WaitUntil($"{oldId} counts itself and then {successorId} as leaders", Within, () =>
                metrics.Sum("raft.node.leader_changes", Node(oldId)) >= 2);
        });
    }

    [Fact]
    public async Task SnapshotsTakenAndInstalledAreTimedAndSized()
    {
        using var metrics = new MetricsRecorder();
        await ReplicationCluster.RunAsync(3, output, async cluster =>
        {
            await cluster.One(0, cluster.Servers, retry: true);
            var leader = await cluster.CheckOneLeader();
            var behind = (leader + 1) % cluster.Servers;
            cluster.Disconnect(behind);
            for (var i = 1; i <= 25; i++)
                await cluster.One(i, cluster.Servers - 1, retry: true);
            cluster.Connect(behind);

            await MetricsRecorder.WaitUntil($"{cluster.Id(behind)} installs the leader's snapshot", Within, () =>
                metrics.Count("raft.snapshot.size", Node(cluster.Id(behind)), Kind("installed")) >= 1);
            Assert.True(metrics.Count("raft.snapshot.size", Node(cluster.Id(leader)), Kind("taken")) >= 1);
            foreach (var kind in new[] { "taken", "installed" })
            {
                Assert.All(metrics.Values("raft.snapshot.size", Kind(kind)), bytes => Assert.True(bytes > 0));
                Assert.All(metrics.Values("raft.snapshot.duration", Kind(kind)), seconds => Assert.InRange(seconds, double.Epsilon, 10));
                Assert.Equal(metrics.Count("raft.snapshot.size", Kind(kind)), metrics.Count("raft.snapshot.duration", Kind(kind)));
            }
        }, snapshots: new SnapshotSettings(entriesThreshold: 10, bytesThreshold: 0, trailingEntries: 0, chunkSize: 512, chunksInFlight: 2));
    }

    private static (string, string) Node(string id) => (RaftActors.Diagnostics.RaftMetrics.NodeIdTag, id);

    private static (string, string) Role(string role) => (RaftActors.Diagnostics.RaftMetrics.RoleTag, role);

    private static (string, string) Outcome(string outcome) => (RaftActors.Diagnostics.RaftMetrics.OutcomeTag, outcome);

    private static (string, string) ReadOutcome(string outcome) => (RaftActors.Diagnostics.RaftMetrics.ReadOutcomeTag, outcome);

    private static (string, string) Follower(string id) => (RaftActors.Diagnostics.RaftMetrics.FollowerIdTag, id);

    private static (string, string) Kind(string kind) => (RaftActors.Diagnostics.RaftMetrics.SnapshotKindTag, kind);
}
