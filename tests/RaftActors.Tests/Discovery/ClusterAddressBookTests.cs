using Akka.Actor;
using Akka.Cluster;
using RaftActors.Configuration;
using RaftActors.Discovery;

namespace RaftActors.Tests.Discovery;

/// <summary>Where peers live under cluster discovery, from the membership events a node sees.</summary>
public class ClusterAddressBookTests
{
    private static readonly UniqueAddress Self = Member(4051, uid: 1);

    private static UniqueAddress Member(int port, int uid) => new(new Address("akka.tcp", "raft", "127.0.0.1", port), uid);

    private static ClusterAddressBook Book() => new("n1", Self, "raft");

    private static string[] Roles(string id) => ["raft", $"raft-id:{id}"];

    [Fact]
    public void A_raft_member_up_is_located_at_its_address_under_user_and_the_actor_name()
    {
        var book = new ClusterAddressBook("n1", Self, "consensus");

        var located = book.MemberUp(Member(4052, 7), Roles("n2"), out var problem);

        Assert.Null(problem);
        Assert.Equal(new PeerLocated("n2", ActorPath.Parse("akka.tcp://raft@127.0.0.1:4052/user/consensus")), located);
        Assert.Equal(located!.Path, book.PathOf("n2"));
        Assert.Null(book.PathOf("n3"));
    }

    [Fact]
    public void The_same_member_seen_twice_changes_nothing_the_second_time()
    {
        var book = Book();
        Assert.NotNull(book.MemberUp(Member(4052, 7), Roles("n2"), out _));

        Assert.Null(book.MemberUp(Member(4052, 7), Roles("n2"), out var problem));
        Assert.Null(problem);
    }

    [Fact]
    public void A_member_without_the_raft_role_is_not_a_raft_member_and_is_quietly_ignored()
    {
        var book = Book();

        Assert.Null(book.MemberUp(Member(4052, 7), ["frontend", "raft-id:n2"], out var problem));
        Assert.Null(problem);
        Assert.Null(book.PathOf("n2"));
    }

    [Theory]
    [InlineData(new[] { "raft" }, "no 'raft-id:<id>' roles")]
    [InlineData(new[] { "raft", "raft-id:n2", "raft-id:n3" }, "several")]
    public void A_raft_member_that_does_not_name_one_id_is_ignored_with_a_reason(string[] roles, string reason)
    {
        var book = Book();

        Assert.Null(book.MemberUp(Member(4052, 7), roles, out var problem));

        Assert.Contains(reason, problem);
        Assert.Null(book.PathOf("n2"));
        Assert.Null(book.PathOf("n3"));
    }

    [Fact]
    public void This_node_itself_is_no_peer_but_another_member_claiming_its_id_is_reported()
    {
        var book = Book();

        Assert.Null(book.MemberUp(Self, Roles("n1"), out var selfProblem));
        Assert.Null(selfProblem);

        Assert.Null(book.MemberUp(Member(4059, 9), Roles("n1"), out var impostor));
        Assert.Contains("claims this node's id 'n1'", impostor);
    }

    [Fact]
    public void A_removed_member_loses_its_place_and_an_unknown_one_changes_nothing()
    {
        var book = Book();
        book.MemberUp(Member(4052, 7), Roles("n2"), out _);

        Assert.Null(book.MemberGone(Member(4053, 8)));
        Assert.Equal(new PeerLocated("n2", null), book.MemberGone(Member(4052, 7)));
        Assert.Null(book.PathOf("n2"));
        Assert.Null(book.MemberGone(Member(4052, 7)));
    }

    // A restarted peer is a new incarnation (new uid, perhaps a new port); the old one's removal
    // may be reported after the new one is up, and must not forget the new one.
    [Fact]
    public void A_new_incarnation_replaces_the_old_one_and_survives_the_old_ones_late_removal()
    {
        var book = Book();
        book.MemberUp(Member(4052, 7), Roles("n2"), out _);

        var moved = book.MemberUp(Member(4062, 8), Roles("n2"), out var problem);
        Assert.Null(problem);
        Assert.Equal(ActorPath.Parse("akka.tcp://raft@127.0.0.1:4062/user/raft"), moved?.Path);

        Assert.Null(book.MemberGone(Member(4052, 7)));
        Assert.Equal(moved!.Path, book.PathOf("n2"));
    }

    [Fact]
    public void Own_roles_must_announce_this_node_naming_akka_cluster_roles()
    {
        ClusterAddressBook.CheckOwnRoles("n1", ["raft", "raft-id:n1", "other"]);

        foreach (var roles in new[] { new[] { "raft" }, ["raft-id:n1"], ["raft", "raft-id:n2"], ["raft", "raft-id:n1", "raft-id:n2"] })
        {
            var e = Assert.Throws<RaftConfigurationException>(() => ClusterAddressBook.CheckOwnRoles("n1", roles));
            Assert.Equal("akka.cluster.roles", e.Key);
            Assert.Contains("\"raft-id:n1\"", e.Message);
        }
    }
}
