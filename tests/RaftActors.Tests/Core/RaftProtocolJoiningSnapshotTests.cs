using RaftActors.Core;
using RaftActors.Messages;
using static RaftActors.Tests.Core.ProtocolTestKit;

namespace RaftActors.Tests.Core;

/// <summary>
/// A server started to join a running cluster (bootstrap <see cref="ClusterConfiguration.Empty"/>)
/// may receive the log from its first entry, when the leader still holds it: those entries are in
/// force under the founders' configuration, which no entry records and this server was never told.
/// A snapshot records the configuration in force at its index (a receiver installing it uses that
/// one), so the server takes on no snapshot through an index whose configuration it does not know.
/// </summary>
public class RaftProtocolJoiningSnapshotTests
{
    private static readonly ClusterConfiguration Founders = ClusterConfiguration.OfVoters(["n1", "n2", "n3"]);

    /// <summary>
    /// Found by the simulator (seed 1207): n6 joined, received entries 1..9 from a leader that kept
    /// them (trailing entries), applied 1..5 and snapshotted them recording {} — the only configuration
    /// it knew — though {n1, ..., n5} was in force there; a server installing that snapshot would have
    /// used no configuration at all.
    /// </summary>
    [Fact]
    public void AJoiningServer_TakesOnNoSnapshotBeforeItKnowsTheConfigurationInForce()
    {
        var joiner = new RaftProtocol("n4", ClusterConfiguration.Empty, HardState.Initial,
            new ElectionTimeouts(TimeoutMin, TimeoutMax, new Random(DefaultSeed)), Heartbeat);
        joiner.Start();
        Assert.True(joiner.Step(new AppendEntries(1, "n1", 0, 0, Entries(1, 1, 1), LeaderCommit: 3, Sequence: 1)));
        joiner.DrainEffects();

        Assert.False(joiner.SnapshotTaken(new LogPosition(3, 1)), "entries 1..3 are under a configuration n4 does not know");
        Assert.DoesNotContain(joiner.DrainEffects(), e => e is PersistSnapshot);
        Assert.Equal(LogPosition.Empty, joiner.Snapshot);

        // The entry that adds it tells it the configuration from there on.
        var withLearner = Founders.With(new ClusterMember("n4", null, IsVoter: false));
        Assert.True(joiner.Step(new AppendEntries(1, "n1", 3, 1, [new LogEntry(4, 1, null, withLearner)], LeaderCommit: 4, Sequence: 2)));
        joiner.DrainEffects();

        Assert.True(joiner.SnapshotTaken(new LogPosition(4, 1)));
        Assert.Contains(joiner.DrainEffects(), e => e is PersistSnapshot { Snapshot.Index: 4 });
    }

    /// <summary>A founder knows the configuration in force from the first entry on: its snapshots are taken on as before.</summary>
    [Fact]
    public void AFounder_TakesOnASnapshotOfEntriesUnderTheBootstrapConfiguration()
    {
        var founder = new RaftProtocol("n2", Founders, HardState.Initial,
            new ElectionTimeouts(TimeoutMin, TimeoutMax, new Random(DefaultSeed)), Heartbeat);
        founder.Start();
        Assert.True(founder.Step(new AppendEntries(1, "n1", 0, 0, Entries(1, 1, 1), LeaderCommit: 3, Sequence: 1)));
        founder.DrainEffects();

        Assert.True(founder.SnapshotTaken(new LogPosition(3, 1)));
    }
}
