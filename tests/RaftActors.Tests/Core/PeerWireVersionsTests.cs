using RaftActors.Core;

namespace RaftActors.Tests.Core;

/// <summary>
/// The cluster's wire version: the lowest any member of the configuration announced, a member
/// that announced nothing counting as version 1, so a feature is used only once every member reads it.
/// </summary>
public sealed class PeerWireVersionsTests
{
    private static readonly ClusterConfiguration ThreeVoters = ClusterConfiguration.OfVoters(["n1", "n2", "n3"]);

    [Fact]
    public void The_cluster_version_is_the_lowest_any_member_announced_and_a_silent_member_counts_as_version_1()
    {
        var versions = new PeerWireVersions(own: 3);
        Assert.Equal(WireVersions.Unversioned, versions.ClusterVersion(ThreeVoters, "n1"));

        versions.Learn("n2", 3);
        Assert.Equal(WireVersions.Unversioned, versions.ClusterVersion(ThreeVoters, "n1")); // n3 said nothing yet

        versions.Learn("n3", 2);
        Assert.Equal(2, versions.ClusterVersion(ThreeVoters, "n1"));

        versions.Learn("n3", 4);
        Assert.Equal(3, versions.ClusterVersion(ThreeVoters, "n1")); // capped by this node's own
    }

    [Fact]
    public void Only_members_of_the_configuration_count_learners_included()
    {
        var versions = new PeerWireVersions(own: 2);
        versions.Learn("n2", 2);
        versions.Learn("n3", 2);
        versions.Learn("old", 1);
        Assert.Equal(2, versions.ClusterVersion(ThreeVoters, "n1"));

        var withLearner = ThreeVoters.With(new ClusterMember("n4", null, IsVoter: false));
        Assert.Equal(1, versions.ClusterVersion(withLearner, "n1"));
    }

    [Fact]
    public void A_peer_is_written_to_in_the_highest_version_both_read()
    {
        var versions = new PeerWireVersions(own: 2);
        Assert.Equal(1, versions.ToWrite("n2"));
        versions.Learn("n2", 5);
        Assert.Equal(2, versions.ToWrite("n2"));
        Assert.False(versions.Learn("n2", 5)); // no news
    }

    [Fact]
    public void A_peer_that_writes_bare_is_forgotten_and_told_this_nodes_version_at_most_once_an_interval()
    {
        var versions = new PeerWireVersions(own: 2);
        versions.Learn("n2", 2);
        var now = TimeSpan.FromSeconds(100);

        Assert.True(versions.HeardUnversioned("n2", now));
        Assert.Equal(1, versions.ToWrite("n2")); // perhaps rolled back to a release that reads only version 1
        Assert.False(versions.HeardUnversioned("n2", now + PeerWireVersions.AnnounceInterval - TimeSpan.FromMilliseconds(1)));
        Assert.True(versions.HeardUnversioned("n2", now + PeerWireVersions.AnnounceInterval));
        Assert.True(versions.HeardUnversioned("n3", now)); // per peer
    }

    [Fact]
    public void The_protocol_may_use_a_feature_once_every_member_of_its_configuration_reads_it()
    {
        var protocol = ProtocolTestKit.NewNode("n1", clusterSize: 3);
        Assert.True(protocol.MayUse(WireVersions.Unversioned));
        Assert.False(protocol.MayUse(WireVersions.Announced));

        protocol.WireVersions.Learn("n2", WireVersions.Announced);
        Assert.False(protocol.MayUse(WireVersions.Announced));
        protocol.WireVersions.Learn("n3", WireVersions.Announced);
        Assert.True(protocol.MayUse(WireVersions.Announced));
    }
}
