using Akka.Actor;
using Akka.Configuration;
using RaftActors.Configuration;
using RaftActors.Core;

namespace RaftActors.Tests.Configuration;

/// <summary>The cluster's members as a node reads them from HOCON.</summary>
public class RaftMembershipTests
{
    private static RaftMembership Parse(string hocon) => RaftMembership.FromConfig(ConfigurationFactory.ParseString(hocon));

    private static RaftConfigurationException Fails(string hocon) =>
        Assert.Throws<RaftConfigurationException>(() => Parse(hocon));

    [Fact]
    public void MembersByAddress_LiveAtAddressUserRaft()
    {
        var membership = Parse("""
            raft {
              node-id = n1
              members = [
                { id = n1, address = "akka.tcp://raft@127.0.0.1:4051" }
                { id = n2, address = "akka.tcp://raft@127.0.0.1:4052" }
                { id = n3, address = "akka.tcp://raft@10.0.0.3:4053" }
              ]
            }
            """);

        Assert.Equal("n1", membership.SelfId);
        Assert.Equal(
            [
                new RaftMember("n2", ActorPath.Parse("akka.tcp://raft@127.0.0.1:4052/user/raft")),
                new RaftMember("n3", ActorPath.Parse("akka.tcp://raft@10.0.0.3:4053/user/raft")),
            ],
            membership.Peers);
        Assert.Equal("akka.tcp://raft@127.0.0.1:4052/user/raft", membership.Peers[0].Path?.ToString());
    }

    // Thesis §4.1: a cluster starts with its listed members as voters; a server started to join one
    // (raft.join = on) starts with no configuration, and learns it from the leader.
    [Fact]
    public void The_members_are_the_starting_voters_unless_the_node_joins()
    {
        const string members = """
            raft {
              node-id = n2
              members = [
                { id = n1, address = "akka.tcp://raft@127.0.0.1:4051" }
                { id = n2, address = "akka.tcp://raft@127.0.0.1:4052" }
              ]
            }
            """;

        var founding = Parse(members);
        Assert.False(founding.Join);
        Assert.Equal(
            new ClusterConfiguration([
                new ClusterMember("n1", "akka.tcp://raft@127.0.0.1:4051/user/raft", true),
                new ClusterMember("n2", "akka.tcp://raft@127.0.0.1:4052/user/raft", true),
            ]),
            founding.Bootstrap);

        var joining = Parse("raft.join = on\n" + members);
        Assert.True(joining.Join);
        Assert.Equal(ClusterConfiguration.Empty, joining.Bootstrap);
        Assert.Equal(ActorPath.Parse("akka.tcp://raft@127.0.0.1:4051/user/raft"), Assert.Single(joining.Peers).Path);
    }

    [Fact]
    public void Join_NotASwitch_FailsNamingRaftJoin() =>
        Assert.Equal("raft.join", Fails("raft { join = maybe, node-id = n1, members = [{ id = n1, address = \"akka.tcp://raft@127.0.0.1:4051\" }] }").Key);

    [Fact]
    public void MembersByAddress_UseTheConfiguredActorName()
    {
        var membership = Parse("""
            raft {
              node-id = b
              actor-name = consensus
              members = [
                { id = a, address = "akka.tcp://sys@host-a:2552" }
                { id = b, address = "akka.tcp://sys@host-b:2552" }
              ]
            }
            """);

        Assert.Equal("akka.tcp://sys@host-a:2552/user/consensus", Assert.Single(membership.Peers).Path?.ToString());
    }

    [Fact]
    public void MembersByPath_AreUsedAsGiven_AndMayMixWithAddresses()
    {
        var membership = Parse("""
            raft {
              node-id = n1
              members = [
                { id = n1, path = "akka://local/user/raft-1" }
                { id = n2, path = "akka.tcp://raft@127.0.0.1:4052/user/services/raft-node" }
                { id = n3, address = "akka.tcp://raft@127.0.0.1:4053" }
              ]
            }
            """);

        Assert.Equal(
            [
                "akka.tcp://raft@127.0.0.1:4052/user/services/raft-node",
                "akka.tcp://raft@127.0.0.1:4053/user/raft",
            ],
            membership.Peers.Select(p => p.Path?.ToString()));
        Assert.Equal(["n2", "n3"], membership.Peers.Select(p => p.Id));
    }

    // A path names the node actor exactly; when both are given it wins over the address.
    [Fact]
    public void PathWinsOverAddress()
    {
        var membership = Parse("""
            raft {
              node-id = n1
              members = [
                { id = n1, address = "akka.tcp://raft@127.0.0.1:4051" }
                { id = n2, address = "akka.tcp://raft@127.0.0.1:4052", path = "akka.tcp://raft@127.0.0.1:4052/user/other" }
              ]
            }
            """);

        Assert.Equal("akka.tcp://raft@127.0.0.1:4052/user/other", Assert.Single(membership.Peers).Path?.ToString());
    }

    [Fact]
    public void SingleMember_HasNoPeers()
    {
        var membership = Parse("""raft { node-id = solo, members = [ { id = solo, address = "akka.tcp://raft@127.0.0.1:4051" } ] }""");

        Assert.Equal("solo", membership.SelfId);
        Assert.Empty(membership.Peers);
    }

    [Fact]
    public void DuplicateIds_FailNamingMembers()
    {
        var e = Fails("""
            raft {
              node-id = n1
              members = [
                { id = n1, address = "akka.tcp://raft@127.0.0.1:4051" }
                { id = n2, address = "akka.tcp://raft@127.0.0.1:4052" }
                { id = n2, address = "akka.tcp://raft@127.0.0.1:4053" }
              ]
            }
            """);

        Assert.Equal("raft.members", e.Key);
        Assert.Contains("'n2'", e.Message);
    }

    [Theory]
    [InlineData("n9")]
    [InlineData("N1")] // ids are case-sensitive
    public void NodeIdNotAmongMembers_FailsNamingNodeId(string nodeId)
    {
        var e = Fails($$"""
            raft {
              node-id = {{nodeId}}
              members = [
                { id = n1, address = "akka.tcp://raft@127.0.0.1:4051" }
                { id = n2, address = "akka.tcp://raft@127.0.0.1:4052" }
              ]
            }
            """);

        Assert.Equal("raft.node-id", e.Key);
        Assert.Contains(nodeId, e.Message);
    }

    [Theory]
    [InlineData("")]                              // the default: node-id not set
    [InlineData("raft.node-id = \"\"")]
    [InlineData("raft.node-id = \"  \"")]
    public void MissingNodeId_FailsNamingNodeId(string nodeIdSetting)
    {
        var e = Fails($$"""
            {{nodeIdSetting}}
            raft.members = [ { id = n1, address = "akka.tcp://raft@127.0.0.1:4051" } ]
            """);

        Assert.Equal("raft.node-id", e.Key);
    }

    [Fact]
    public void NoMembers_FailsNamingNodeId()
    {
        var e = Fails("raft.node-id = n1");

        Assert.Equal("raft.node-id", e.Key);
    }

    [Theory]
    [InlineData("""{ address = "akka.tcp://raft@127.0.0.1:4052" }""", "raft.members[1].id")]
    [InlineData("""{ id = "", address = "akka.tcp://raft@127.0.0.1:4052" }""", "raft.members[1].id")]
    [InlineData("""{ id = n2 }""", "raft.members[1].address")]
    [InlineData("""{ id = n2, address = "" }""", "raft.members[1].address")]
    [InlineData("""{ id = n2, address = "not an address" }""", "raft.members[1].address")]
    [InlineData("""{ id = n2, path = "not a path" }""", "raft.members[1].path")]
    public void BadMember_FailsNamingItsIndexAndField(string member, string expectedKey)
    {
        var e = Fails($$"""
            raft {
              node-id = n1
              members = [
                { id = n1, address = "akka.tcp://raft@127.0.0.1:4051" }
                {{member}}
                { id = n3, address = "akka.tcp://raft@127.0.0.1:4053" }
              ]
            }
            """);

        Assert.Equal(expectedKey, e.Key);
        Assert.StartsWith(expectedKey, e.Message);
    }

    [Fact]
    public void Create_SplitsSelfFromPeers_KeepingTheirOrder()
    {
        var members = new[] { "c", "a", "b" }
            .Select(id => new RaftMember(id, ActorPath.Parse($"akka://sys/user/{id}")))
            .ToList();

        var membership = RaftMembership.Create("a", members);

        Assert.Equal("a", membership.SelfId);
        Assert.Equal(["c", "b"], membership.Peers.Select(p => p.Id));
    }

    // Membership built in code is checked like membership read from HOCON.
    [Fact]
    public void Constructor_RefusesSelfAsPeer_DuplicatePeers_AndABlankSelfId()
    {
        static RaftMember Member(string id) => new(id, ActorPath.Parse($"akka://sys/user/{id}"));

        Assert.Equal("raft.members", Assert.Throws<RaftConfigurationException>(() => new RaftMembership("a", [Member("a"), Member("b")])).Key);
        Assert.Equal("raft.members", Assert.Throws<RaftConfigurationException>(() => new RaftMembership("a", [Member("b"), Member("b")])).Key);
        Assert.Equal("raft.node-id", Assert.Throws<RaftConfigurationException>(() => new RaftMembership(" ", [Member("b")])).Key);
        Assert.Equal(["b", "c"], new RaftMembership("a", [Member("b"), Member("c")]).Peers.Select(p => p.Id));
    }

    [Theory]
    [InlineData("raft.members = \"n1\"")]
    [InlineData("raft.members = { id = n1 }")]
    public void MembersNotAList_FailsNamingMembers(string members)
    {
        var e = Fails("raft.node-id = n1\n" + members);

        Assert.Equal("raft.members", e.Key);
    }
}

/// <summary>raft.discovery = cluster: members by id only, the ActorSystem a cluster member announcing its id.</summary>
public class ClusterDiscoveryConfigTests
{
    private const string ClusterNode = """
        akka.actor.provider = cluster
        akka.cluster.roles = [ raft, "raft-id:n1" ]
        raft {
          node-id = n1
          discovery = cluster
          members = [ { id = n1 }, { id = n2 }, { id = n3 } ]
        }
        """;

    private static RaftMembership Parse(string hocon) => RaftMembership.FromConfig(ConfigurationFactory.ParseString(hocon));

    private static RaftConfigurationException Fails(string hocon) => Assert.Throws<RaftConfigurationException>(() => Parse(hocon));

    [Fact]
    public void Members_are_ids_without_paths()
    {
        var membership = Parse(ClusterNode);

        Assert.Equal(RaftDiscovery.Cluster, membership.Discovery);
        Assert.Equal([new RaftMember("n2", null), new RaftMember("n3", null)], membership.Peers);
        Assert.Equal("raft", membership.ActorName);
    }

    [Fact]
    public void Static_is_the_default()
    {
        var membership = Parse("""raft { node-id = n1, members = [ { id = n1, address = "akka.tcp://raft@127.0.0.1:4051" } ] }""");

        Assert.Equal(RaftDiscovery.Static, membership.Discovery);
    }

    [Theory]
    [InlineData("Cluster")]
    [InlineData("dns")]
    public void A_bad_discovery_value_fails_naming_raft_discovery(string value)
    {
        var e = Fails(ClusterNode + $"\nraft.discovery = {value}");

        Assert.Equal("raft.discovery", e.Key);
        Assert.Contains(value, e.Message);
    }

    [Theory]
    [InlineData("akka.actor.provider = remote")]
    [InlineData("akka.actor.provider = local")]
    public void Cluster_discovery_without_the_cluster_provider_fails_naming_akka_actor_provider(string provider)
    {
        var e = Fails(ClusterNode + "\n" + provider);

        Assert.Equal("akka.actor.provider", e.Key);
    }

    [Fact]
    public void The_providers_full_type_name_counts_as_cluster()
    {
        Parse(ClusterNode + "\nakka.actor.provider = \"Akka.Cluster.ClusterActorRefProvider, Akka.Cluster\"");
    }

    [Theory]
    [InlineData("akka.cluster.roles = [ raft ]")]
    [InlineData("akka.cluster.roles = [ \"raft-id:n1\" ]")]
    [InlineData("akka.cluster.roles = [ raft, \"raft-id:n2\" ]")]
    public void Roles_that_do_not_announce_this_node_fail_naming_akka_cluster_roles(string roles)
    {
        var e = Fails(ClusterNode + "\n" + roles);

        Assert.Equal("akka.cluster.roles", e.Key);
    }

    [Theory]
    [InlineData("address", "\"akka.tcp://raft@127.0.0.1:4052\"")]
    [InlineData("path", "\"akka.tcp://raft@127.0.0.1:4052/user/raft\"")]
    public void A_member_location_in_cluster_mode_fails_naming_the_field(string field, string value)
    {
        var e = Fails(ClusterNode + $"\nraft.members = [ {{ id = n1 }}, {{ id = n2, {field} = {value} }} ]");

        Assert.Equal($"raft.members[1].{field}", e.Key);
    }

    [Fact]
    public void Built_in_code_like_from_HOCON()
    {
        var membership = RaftMembership.ForCluster("n2", ["n1", "n2", "n3"], "consensus");

        Assert.Equal(["n1", "n3"], membership.Peers.Select(p => p.Id));
        Assert.All(membership.Peers, p => Assert.Null(p.Path));
        Assert.Equal("consensus", membership.ActorName);
        Assert.Equal("raft.node-id", Assert.Throws<RaftConfigurationException>(() => RaftMembership.ForCluster("n9", ["n1"])).Key);
        Assert.Equal("raft.members", Assert.Throws<RaftConfigurationException>(
            () => new RaftMembership("n1", [new RaftMember("n2", null)])).Key); // static discovery needs paths
    }
}
