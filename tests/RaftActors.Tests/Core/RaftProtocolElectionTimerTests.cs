using RaftActors.Core;
using RaftActors.Messages;
using static RaftActors.Tests.Core.ProtocolTestKit;

namespace RaftActors.Tests.Core;

/// <summary>
/// When the election timer restarts. Raft §5.2 and the Students' Guide to Raft: only three
/// events reset it — an AppendEntries from the current leader, granting a vote, and starting an
/// election. Resetting on anything else (a refused vote, a stale AppendEntries, a vote reply)
/// lets a stale or misbehaving peer postpone elections forever.
/// </summary>
public class RaftProtocolElectionTimerTests
{
    private static readonly IReadOnlyDictionary<string, (Func<RaftProtocol> Arrange, Action<RaftProtocol> Act)> Scenarios =
        new Dictionary<string, (Func<RaftProtocol>, Action<RaftProtocol>)>
        {
            // the three events that reset the timer
            ["follower: AppendEntries of the current term"] =
                (() => InRole(RaftRole.Follower, 3), n => n.Step(new AppendEntries(3, "n2", 0, 0, [], 0))),
            ["follower: AppendEntries of a higher term"] =
                (() => InRole(RaftRole.Follower, 3), n => n.Step(new AppendEntries(4, "n2", 0, 0, [], 0))),
            ["candidate: AppendEntries of its term (falls back)"] =
                (() => InRole(RaftRole.Candidate, 3), n => n.Step(new AppendEntries(3, "n2", 0, 0, [], 0))),
            ["follower: vote granted"] =
                (() => InRole(RaftRole.Follower, 3), n => n.Step(new RequestVote(3, "n2", 0, 0))),
            ["follower: vote granted in a higher term"] =
                (() => InRole(RaftRole.Follower, 3), n => n.Step(new RequestVote(5, "n2", 0, 0))),
            ["follower: election timeout starts an election"] =
                (() => InRole(RaftRole.Follower, 3), n => n.ElectionTimeoutElapsed()),
            ["candidate: election timeout starts a new election"] =
                (() => InRole(RaftRole.Candidate, 3), n => n.ElectionTimeoutElapsed()),

            // and, beyond the paper, a split vote: the candidate whose id orders first campaigns again soon
            ["candidate: vote refused to a candidate of its term ordered after it (split vote)"] =
                (() => InRole(RaftRole.Candidate, 3), n => n.Step(new RequestVote(3, "n2", 0, 0))),

            // everything else leaves the timer running
            ["follower: vote refused, already voted for another"] =
                (() => Voted(RaftRole.Follower, "n3"), n => n.Step(new RequestVote(3, "n2", 0, 0))),
            ["candidate: vote refused to a candidate of its term ordered before it"] =
                (() => InRole(RaftRole.Candidate, 3), n => n.Step(new RequestVote(3, "n0", 0, 0))),
            ["follower: RequestVote of a stale term"] =
                (() => InRole(RaftRole.Follower, 3), n => n.Step(new RequestVote(2, "n2", 0, 0))),
            ["follower: AppendEntries of a stale term"] =
                (() => InRole(RaftRole.Follower, 3), n => n.Step(new AppendEntries(2, "n2", 0, 0, [], 0))),
            ["candidate: AppendEntries of a stale term"] =
                (() => InRole(RaftRole.Candidate, 3), n => n.Step(new AppendEntries(2, "n2", 0, 0, [], 0))),
            ["candidate: vote granted, no majority yet"] =
                (() => InRole(RaftRole.Candidate, 3, clusterSize: 5), n => n.Step(new RequestVoteResult(3, "n2", true))),
            ["candidate: vote refused"] =
                (() => InRole(RaftRole.Candidate, 3), n => n.Step(new RequestVoteResult(3, "n2", false))),
            ["candidate: vote reply of a stale term"] =
                (() => InRole(RaftRole.Candidate, 3), n => n.Step(new RequestVoteResult(2, "n2", true))),
            ["candidate: vote reply of a higher term (steps down)"] =
                (() => InRole(RaftRole.Candidate, 3), n => n.Step(new RequestVoteResult(4, "n2", false))),
            ["follower: vote reply"] =
                (() => InRole(RaftRole.Follower, 3), n => n.Step(new RequestVoteResult(3, "n2", true))),
            ["follower: AppendEntries reply"] =
                (() => InRole(RaftRole.Follower, 3), n => n.Step(new AppendEntriesResult(3, "n2", true))),
            ["follower: AppendEntries reply of a higher term"] =
                (() => InRole(RaftRole.Follower, 3), n => n.Step(new AppendEntriesResult(4, "n2", false))),
            ["follower: answer from an unknown node"] =
                (() => InRole(RaftRole.Follower, 3), n => n.Step(new AppendEntriesResult(3, "n9", true))),
            ["leader: AppendEntries of its own term"] =
                (() => InRole(RaftRole.Leader, 3), n => n.Step(new AppendEntries(3, "n2", 0, 0, [], 0))),
            ["leader: AppendEntries reply"] =
                (() => InRole(RaftRole.Leader, 3), n => n.Step(new AppendEntriesResult(3, "n2", true))),
            ["leader: heartbeat timeout"] =
                (() => InRole(RaftRole.Leader, 3), n => n.HeartbeatTimeoutElapsed()),
            ["leader: late election timeout"] =
                (() => InRole(RaftRole.Leader, 3), n => n.ElectionTimeoutElapsed()),
            ["follower: late heartbeat timeout"] =
                (() => InRole(RaftRole.Follower, 3), n => n.HeartbeatTimeoutElapsed()),
        };

    private static RaftProtocol Voted(RaftRole role, string votedFor)
    {
        var node = InRole(role, 3);
        node.Step(new RequestVote(3, votedFor, 0, 0));
        node.DrainEffects();
        Assert.Equal(votedFor, node.HardState.VotedFor);
        return node;
    }

    public static TheoryData<string, bool> Cases() => new()
    {
        { "follower: AppendEntries of the current term", true },
        { "follower: AppendEntries of a higher term", true },
        { "candidate: AppendEntries of its term (falls back)", true },
        { "follower: vote granted", true },
        { "follower: vote granted in a higher term", true },
        { "follower: election timeout starts an election", true },
        { "candidate: election timeout starts a new election", true },
        { "follower: vote refused, already voted for another", false },
        { "candidate: vote refused to a candidate of its term ordered after it (split vote)", true },
        { "candidate: vote refused to a candidate of its term ordered before it", false },
        { "follower: RequestVote of a stale term", false },
        { "follower: AppendEntries of a stale term", false },
        { "candidate: AppendEntries of a stale term", false },
        { "candidate: vote granted, no majority yet", false },
        { "candidate: vote refused", false },
        { "candidate: vote reply of a stale term", false },
        { "candidate: vote reply of a higher term (steps down)", false },
        { "follower: vote reply", false },
        { "follower: AppendEntries reply", false },
        { "follower: AppendEntries reply of a higher term", false },
        { "follower: answer from an unknown node", false },
        { "leader: AppendEntries of its own term", false },
        { "leader: AppendEntries reply", false },
        { "leader: heartbeat timeout", false },
        { "leader: late election timeout", false },
        { "follower: late heartbeat timeout", false },
    };

    // Raft §5.2; Students' Guide to Raft, "the election timer is reset only when you get an
    // AppendEntries from the current leader, start an election, or grant a vote" — and here also
    // when a candidate refuses another of its term and hurries (a split vote, shorter than the range).
    [Theory]
    [MemberData(nameof(Cases))]
    public void ElectionTimer_IsResetOnlyByLeaderAppendEntries_VoteGrant_OrElectionStart_5_2(string scenario, bool expectReset)
    {
        var (arrange, act) = Scenarios[scenario];
        var node = arrange();

        act(node);
        var effects = node.DrainEffects();

        Assert.True(
            expectReset == effects.Any(e => e is ResetElectionTimer),
            $"{scenario}: expected {(expectReset ? "a" : "no")} ResetElectionTimer, got{Environment.NewLine}{Describe(effects)}");
        if (scenario.Contains("(split vote)"))
            Assert.InRange(Assert.Single(effects.OfType<ResetElectionTimer>()).Timeout, TimeSpan.Zero, (TimeoutMax - TimeoutMin) / 4);
        else
            AssertTimeoutsInRange(effects);
    }

    [Fact]
    public void EveryScenario_HasAnExpectation()
    {
        Assert.Equal(
            Scenarios.Keys.Order(StringComparer.Ordinal),
            Cases().Select(row => (string)row[0]).Order(StringComparer.Ordinal));
    }

    // A deposed leader had no election timer running (it stopped it on winning); stepping down it
    // must start one, or it would wait forever for a leader that may never come.
    [Fact]
    public void DeposedLeader_RestartsItsElectionTimer_AndStopsHeartbeats_5_2()
    {
        var node = InRole(RaftRole.Leader, term: 3);

        node.Step(new AppendEntriesResult(4, "n2", Success: false));
        var effects = node.DrainEffects();

        Assert.Equal(RaftRole.Follower, node.Role);
        Assert.Contains(effects, e => e is StopHeartbeatTimer);
        Assert.Single(effects, e => e is ResetElectionTimer);
        AssertTimeoutsInRange(effects);
    }

    // Each reset draws a fresh random timeout (§5.2), not the same value every time.
    [Fact]
    public void ElectionTimerResets_DrawFreshTimeouts_5_2()
    {
        var node = InRole(RaftRole.Follower, term: 1, seed: 99);
        var drawn = new List<TimeSpan>();

        for (var i = 0; i < 20; i++)
        {
            node.Step(new AppendEntries(1, "n2", 0, 0, [], 0));
            drawn.Add(node.DrainEffects().OfType<ResetElectionTimer>().Single().Timeout);
        }

        Assert.True(drawn.Distinct().Count() > 15, $"seed 99: timeouts {string.Join(", ", drawn.Select(t => t.TotalMilliseconds))}");
    }
}
