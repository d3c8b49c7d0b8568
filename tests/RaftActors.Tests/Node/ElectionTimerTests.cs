using RaftActors.Core;
using RaftActors.Messages;
using RaftActors.Storage;

namespace RaftActors.Tests.Node;

/// <summary>
/// The election timer (§5.2, Students' Guide): a named timer, uniform in [min, max) drawn
/// anew at each reset, reset only by the current leader's AppendEntries, by granting a vote
/// or by starting an election.
/// </summary>
public sealed class ElectionTimerTests : RaftNodeTestKit
{
    // A 1 ms window makes the deadline known to the test without knowing the random draw.
    private static readonly TimeSpan NarrowMin = TimeSpan.FromMilliseconds(150);
    private static readonly TimeSpan NarrowMax = TimeSpan.FromMilliseconds(151);

    [Fact]
    public void A_follower_does_not_start_an_election_before_the_minimum_timeout()
    {
        var (node, peers) = StartNode(new InMemoryRaftStorage());
        Assert.True(node.IsTimerActive("election"));

        Advance(node, ElectionMin - TimeSpan.FromMilliseconds(1));

        Assert.Equal(RaftRole.Follower, node.StateName);
        AssertSilent(peers.Values.ToArray());
    }

    [Fact]
    public void A_follower_that_hears_nothing_starts_an_election_by_the_maximum_timeout()
    {
        var (node, peers) = StartNode(new InMemoryRaftStorage());

        Advance(node, ElectionMax);

        Assert.Equal(RaftRole.Candidate, node.StateName);
        foreach (var peer in peers.Values)
            peer.ExpectMsg<RequestVote>();
    }

    [Fact]
    public void Election_timeouts_of_differently_seeded_nodes_spread_over_the_whole_interval()
    {
        var step = TimeSpan.FromMilliseconds(5);
        var observed = new List<TimeSpan>();
        for (var seed = 1; seed <= 16; seed++)
        {
            var (node, _) = StartNode(new InMemoryRaftStorage(), Settings(seed: seed), name: $"seed-{seed}");
            var elapsed = TimeSpan.Zero;
            while (node.StateName == RaftRole.Follower)
            {
                Advance(node, step);
                elapsed += step;
                Assert.True(elapsed <= ElectionMax, $"seed {seed}: no election within the maximum timeout");
            }

            Assert.True(elapsed > ElectionMin, $"seed {seed}: election after {elapsed}, before the minimum");
            observed.Add(elapsed);
            Sys.Stop(node);
        }

        // 16 uniform draws over [150, 300): one landing in each outer sixth is all but certain
        // (the seeds are fixed, so this is deterministic), and all equal would mean no spread.
        Assert.Contains(observed, t => t <= TimeSpan.FromMilliseconds(175));
        Assert.Contains(observed, t => t >= TimeSpan.FromMilliseconds(275));
        Assert.True(observed.Distinct().Count() >= 8, $"timeouts barely differ: {string.Join(", ", observed)}");
    }

    [Fact]
    public void Refused_votes_stale_messages_and_vote_replies_do_not_reset_the_timer()
    {
        var (node, peers) = StartNode(new InMemoryRaftStorage(), Settings(NarrowMin, NarrowMax));
        node.Tell(new RequestVote(1, "n2", 0, 0)); // granted: the timer restarts now
        peers["n2"].ExpectMsg<RequestVoteResult>(r => r.VoteGranted);

        Advance(node, TimeSpan.FromMilliseconds(140));
        node.Tell(new RequestVote(1, "n3", 0, 0)); // refused: already voted for n2
        node.Tell(new AppendEntries(0, "n3", 0, 0, [], 0)); // stale term
        node.Tell(new RequestVoteResult(1, "n3", false));
        node.Tell(new AppendEntriesResult(1, "n3", true));
        peers["n3"].ExpectMsg<RequestVoteResult>(r => !r.VoteGranted);
        peers["n3"].ExpectMsg<AppendEntriesResult>(r => !r.Success && r.Term == 1);

        Advance(node, TimeSpan.FromMilliseconds(11));

        Assert.Equal(RaftRole.Candidate, node.StateName);
        Assert.Equal(2, node.StateData.Term);
    }

    [Theory]
    [InlineData("an AppendEntries from the current leader")]
    [InlineData("granting a vote")]
    public void The_timer_is_reset_by(string resettingEvent)
    {
        var (node, peers) = StartNode(new InMemoryRaftStorage(), Settings(NarrowMin, NarrowMax));
        Advance(node, TimeSpan.FromMilliseconds(140));

        if (resettingEvent == "granting a vote")
        {
            node.Tell(new RequestVote(1, "n2", 0, 0));
            peers["n2"].ExpectMsg<RequestVoteResult>(r => r.VoteGranted);
        }
        else
        {
            node.Tell(new AppendEntries(1, "n2", 0, 0, [], 0));
            peers["n2"].ExpectMsg<AppendEntriesResult>(r => r.Success);
        }

        Advance(node, TimeSpan.FromMilliseconds(11));
        Assert.Equal(RaftRole.Follower, node.StateName);

        Advance(node, TimeSpan.FromMilliseconds(140));
        Assert.Equal(RaftRole.Candidate, node.StateName);
    }

    [Fact]
    public void Starting_an_election_resets_the_timer_so_a_split_vote_leads_to_a_later_election()
    {
        var (node, peers) = StartNode(new InMemoryRaftStorage(), Settings(NarrowMin, NarrowMax));
        Advance(node, NarrowMax);
        Assert.Equal(1, node.StateData.Term);
        peers["n2"].ExpectMsg<RequestVote>();

        // 140 ms into the candidacy nothing happens; by 151 ms the next election starts.
        Advance(node, TimeSpan.FromMilliseconds(140));
        Assert.Equal(1, node.StateData.Term);
        Advance(node, TimeSpan.FromMilliseconds(11));
        Assert.Equal(RaftRole.Candidate, node.StateName);
        Assert.Equal(2, node.StateData.Term);
    }

    [Fact]
    public void A_leader_runs_no_election_timer()
    {
        var (node, _) = StartLeader(new InMemoryRaftStorage());

        Assert.False(node.IsTimerActive("election"));
        Assert.True(node.IsTimerActive("heartbeat"));
        Advance(node, ElectionMax * 3);
        Assert.Equal(RaftRole.Leader, node.StateName);
        Assert.Equal(1, node.StateData.Term);
    }
}
