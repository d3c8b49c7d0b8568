using RaftActors.Core;
using RaftActors.Messages;

namespace RaftActors.Tests.Node;

/// <summary>The one readiness rule every host uses: storage works, a leader is known, everything known committed is applied.</summary>
public sealed class RaftReadinessTests
{
    private static readonly RaftStatus CaughtUpFollower = new("n1", RaftRole.Follower, 3, "n2", "n2", LastLogIndex: 12, CommitIndex: 10, LastApplied: 10);

    [Fact]
    public void A_node_that_knows_a_leader_and_applied_every_committed_entry_is_ready()
    {
        var readiness = RaftReadiness.Of(CaughtUpFollower);

        Assert.True(readiness.IsReady);
        Assert.Equal("leader n2 is known and every committed entry (through 10) is applied", readiness.Reason);
    }

    [Fact]
    public void A_leader_that_applied_everything_it_committed_is_ready()
    {
        Assert.True(RaftReadiness.Of(CaughtUpFollower with { Role = RaftRole.Leader, LeaderId = "n1" }).IsReady);
    }

    [Theory]
    [InlineData(null, 10, 10, "no leader is known")]
    [InlineData("n2", 10, 9, "applied through entry 9, behind the commit index 10")]
    public void A_node_without_a_leader_or_behind_its_commit_index_is_not_ready(string? leader, long commit, long applied, string reason)
    {
        var readiness = RaftReadiness.Of(CaughtUpFollower with { LeaderId = leader, CommitIndex = commit, LastApplied = applied });

        Assert.Equal(new RaftReadiness(false, reason), readiness);
    }

    [Fact]
    public void A_node_whose_storage_failed_is_not_ready_and_says_why_first()
    {
        var readiness = RaftReadiness.Of(CaughtUpFollower with { LeaderId = null, StorageFailure = "appending to the write-ahead log failed: No space left on device" });

        Assert.Equal(
            new RaftReadiness(false, "stable storage failed: appending to the write-ahead log failed: No space left on device; the node takes part in nothing until it is restarted"),
            readiness);
    }
}
