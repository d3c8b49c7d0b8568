using RaftActors.Core;

namespace RaftActors.Tests.Core;

/// <summary>Majority arithmetic and the candidate's vote count.</summary>
public class QuorumTests
{
    // Raft §5.2: a candidate wins with "votes from a majority of the servers in the full cluster".
    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 2)]
    [InlineData(3, 2)]
    [InlineData(4, 3)]
    [InlineData(5, 3)]
    [InlineData(6, 4)]
    [InlineData(7, 4)]
    public void Majority_IsMoreThanHalfOfTheWholeCluster_5_2(int clusterSize, int expected)
    {
        Assert.Equal(expected, Quorum.Majority(clusterSize));
        // two majorities always overlap: this is what makes one leader per term possible
        Assert.True(2 * expected > clusterSize);
        Assert.False(2 * (expected - 1) > clusterSize);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    public void Majority_OfAnEmptyCluster_IsRejected(int clusterSize)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Quorum.Majority(clusterSize));
    }
}

/// <summary>The votes a candidate collects in one term.</summary>
public class ElectionTallyTests
{
    /// <summary>A candidate n1's tally in a cluster of voters n1..n<paramref name="clusterSize"/>.</summary>
    private static ElectionTally Tally(int clusterSize) =>
        new(Enumerable.Range(1, clusterSize).Select(i => $"n{i}"), "n1");

    // Thesis §4.2.1: only the voters of the candidate's configuration count; a learner's or an
    // outsider's grant adds nothing.
    [Fact]
    public void GrantsFromNonVoters_DoNotCount()
    {
        var tally = new ElectionTally(["n1", "n2", "n3"], "n1");

        tally.Record("n4", granted: true);
        tally.Record("learner", granted: true);

        Assert.Equal(1, tally.Granted);
        Assert.False(tally.HasMajority);
        tally.Record("n2", granted: true);
        Assert.True(tally.HasMajority);
    }

    // Raft §5.2: the candidate votes for itself; a majority is of the whole cluster, self included.
    [Theory]
    [InlineData(1, true)]
    [InlineData(2, false)]
    [InlineData(3, false)]
    [InlineData(5, false)]
    public void NewTally_CountsOnlyTheCandidatesOwnVote_5_2(int clusterSize, bool expectedMajority)
    {
        var tally = Tally(clusterSize);

        Assert.Equal(1, tally.Granted);
        Assert.Equal(expectedMajority, tally.HasMajority);
    }

    // Raft §5.2: each server votes once per term, so a duplicated reply (a retransmission, a
    // duplicate delivery) must not count twice.
    [Fact]
    public void DuplicateGrants_FromOneVoter_CountOnce_5_2()
    {
        var tally = Tally(5);

        tally.Record("n2", granted: true);
        tally.Record("n2", granted: true);
        tally.Record("n2", granted: true);

        Assert.Equal(2, tally.Granted);
        Assert.False(tally.HasMajority);
    }

    // Raft §5.2: a voter answers once per term; if a refusal and a grant from the same voter both
    // arrive, the first answer is its answer and the second cannot turn it into a vote.
    [Theory]
    [InlineData(false, true, 1)]
    [InlineData(true, false, 2)]
    [InlineData(false, false, 1)]
    public void FirstAnswerOfAVoter_IsKept_5_2(bool first, bool second, int expectedGranted)
    {
        var tally = Tally(3);

        tally.Record("n2", first);
        tally.Record("n2", second);

        Assert.Equal(expectedGranted, tally.Granted);
        Assert.Equal(expectedGranted >= 2, tally.HasMajority);
    }

    // The candidate's own vote is in the tally from the start; a (self-addressed) reply from it
    // neither adds a second vote nor takes the first away.
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void CandidatesOwnReply_DoesNotChangeItsVote_5_2(bool granted)
    {
        var tally = Tally(3);

        tally.Record("n1", granted);

        Assert.Equal(1, tally.Granted);
        Assert.False(tally.HasMajority);
    }

    // Raft §5.2, port of etcd TestLeaderElectionInOneRoundRPC at the tally level: votes are
    // written "n2+ n3-" (+ granted, - refused); a majority counts the candidate itself.
    [Theory]
    [InlineData(1, "", true)]
    [InlineData(3, "n2+ n3+", true)]
    [InlineData(3, "n2+", true)]
    [InlineData(5, "n2+ n3+ n4+ n5+", true)]
    [InlineData(5, "n2+ n3+ n4+", true)]
    [InlineData(5, "n2+ n3+", true)]
    [InlineData(3, "n2- n3-", false)]
    [InlineData(5, "n2- n3- n4- n5-", false)]
    [InlineData(5, "n2+ n3- n4- n5-", false)]
    [InlineData(3, "", false)]
    [InlineData(5, "n2+", false)]
    [InlineData(5, "n2- n3-", false)]
    [InlineData(5, "", false)]
    [InlineData(4, "n2+", false)]
    [InlineData(4, "n2+ n3+", true)]
    [InlineData(5, "n2+ n2+ n2+ n2+", false)]
    [InlineData(5, "n2- n2+ n3+", false)]
    [InlineData(5, "n2+ n2- n3+", true)]
    [InlineData(7, "n2+ n3+", false)]
    [InlineData(7, "n2+ n3+ n4+", true)]
    public void MajorityOfWholeCluster_IncludingSelf_5_2(int clusterSize, string votes, bool expectedMajority)
    {
        var tally = Tally(clusterSize);

        foreach (var (voter, granted) in ProtocolTestKit.ParseVotes(votes))
            tally.Record(voter, granted);

        Assert.Equal(expectedMajority, tally.HasMajority);
    }
}
