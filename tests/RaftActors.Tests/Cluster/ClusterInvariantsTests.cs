using RaftActors.Core;
using RaftActors.Messages;

namespace RaftActors.Tests.Cluster;

/// <summary>The history checkers must catch what they look for, or a green cluster test proves nothing.</summary>
public sealed class ClusterInvariantsTests
{
    private static ObservedChange Change(int ms, string node, RaftRole role, long term, string? leader, long previousTerm = 0) =>
        new(TimeSpan.FromMilliseconds(ms), new RaftStateChanged(node, role, term, leader, new RaftStatus(node, RaftRole.Follower, previousTerm, null, null)));

    [Fact]
    public void One_leader_per_term_across_terms_is_safe()
    {
        var history = new[]
        {
            Change(1, "n1", RaftRole.Candidate, 1, null),
            Change(2, "n1", RaftRole.Leader, 1, "n1", 1),
            Change(3, "n2", RaftRole.Follower, 1, "n1"),
            Change(4, "n2", RaftRole.Candidate, 2, null, 1),
            Change(5, "n2", RaftRole.Leader, 2, "n2", 2),
            Change(6, "n3", RaftRole.Follower, 2, "n2", 1),
        };

        Assert.Empty(ClusterInvariants.ElectionSafetyViolations(history));
        Assert.Empty(ClusterInvariants.TermMonotonicityViolations(history));
    }

    [Fact]
    public void Two_nodes_becoming_leader_of_one_term_is_a_violation()
    {
        var history = new[] { Change(1, "n1", RaftRole.Leader, 3, "n1", 3), Change(2, "n2", RaftRole.Leader, 3, "n2", 3) };

        var violation = Assert.Single(ClusterInvariants.ElectionSafetyViolations(history));
        Assert.Contains("term 3", violation);
    }

    [Fact]
    public void A_follower_naming_another_leader_than_the_terms_leader_is_a_violation()
    {
        var history = new[] { Change(1, "n1", RaftRole.Leader, 2, "n1", 2), Change(2, "n3", RaftRole.Follower, 2, "n2", 1) };

        Assert.Single(ClusterInvariants.ElectionSafetyViolations(history));
    }

    [Fact]
    public void A_term_going_back_is_a_violation()
    {
        var history = new[] { Change(1, "n1", RaftRole.Candidate, 4, null, 3), Change(2, "n1", RaftRole.Follower, 3, "n2", 4) };

        Assert.NotEmpty(ClusterInvariants.TermMonotonicityViolations(history));
    }
}
