using RaftActors.Core;
using RaftActors.Messages;
using static RaftActors.Tests.Core.ProtocolTestKit;

namespace RaftActors.Tests.Core;

/// <summary>
/// A follower's linearizable reads (thesis §6.4, etcd's MsgReadIndex): the follower asks its
/// leader for a read index, the leader answers with its commit index once a majority confirmed its
/// leadership after the request arrived (as for its own reads), and the follower serves the read
/// only once it has applied through that index. A follower that served earlier, or a leader that
/// answered before the confirmation, would return stale data.
/// </summary>
public class RaftProtocolFollowerReadTests
{
    private static IReadOnlyList<T> Sent<T>(IReadOnlyList<RaftEffect> effects) => Sends(effects).Select(s => s.Message).OfType<T>().ToList();

    /// <summary>n1, a follower of n2 in term 1, holding entries 1..<paramref name="entries"/> of which <paramref name="committed"/> are known committed; effects drained.</summary>
    private static RaftProtocol FollowerOfN2(int entries = 2, long committed = 1, Func<string, bool>? leaderServesReadIndex = null)
    {
        var node = new RaftProtocol("n1", ["n2", "n3"], new HardState(1, null), Timeouts(), Heartbeat)
        {
            LeaderServesReadIndex = leaderServesReadIndex ?? (static _ => true),
        };
        node.Start();
        node.Step(new AppendEntries(1, "n2", 0, 0, Entries(Enumerable.Repeat(1L, entries).ToArray()), LeaderCommit: committed));
        node.DrainEffects();
        return node;
    }

    private static ReadIndexRequest Request(RaftProtocol follower, long readId)
    {
        Assert.True(follower.RequestRead(readId));
        return Sent<ReadIndexRequest>(follower.DrainEffects()).Single();
    }

    [Fact]
    public void AFollowerServesARead_OnlyOnceItHasCommittedThroughTheReadIndex()
    {
        var follower = FollowerOfN2(entries: 2, committed: 1);
        Assert.True(follower.RequestRead(7));
        var effects = follower.DrainEffects();
        var request = Sent<ReadIndexRequest>(effects).Single();
        Assert.Equal(new ReadIndexRequest(1, "n1", request.RequestId), request);
        Assert.Equal("n2", Sends(effects).Single().To);

        // The leader had committed entry 2 when it took the request; this follower knows of 1 only.
        follower.Step(new ReadIndexResult(1, "n2", request.RequestId, ReadIndex: 2));
        Assert.Empty(Served(follower.DrainEffects()));

        follower.Step(new AppendEntries(1, "n2", 2, 1, [], LeaderCommit: 2));
        effects = follower.DrainEffects();
        Assert.Equal([new ServeRead(7, ReadIndex: 2)], Served(effects));
        Assert.True(FirstIndexOf<ApplyEntries>(effects) < FirstIndexOf<ServeRead>(effects), Describe(effects));
        Assert.Equal(2, Applied(effects).Single().Index);
    }

    [Fact]
    public void OneRequestStandsForEveryReadThatWaitedForTheOneBefore()
    {
        var follower = FollowerOfN2();
        var first = Request(follower, 1);
        Assert.True(follower.RequestRead(2));
        Assert.True(follower.RequestRead(3));
        Assert.Empty(Sends(follower.DrainEffects()));

        follower.Step(new ReadIndexResult(1, "n2", first.RequestId, ReadIndex: 1));
        var effects = follower.DrainEffects();
        Assert.Equal([new ServeRead(1, 1)], Served(effects));
        var second = Sent<ReadIndexRequest>(effects).Single();
        Assert.True(second.RequestId > first.RequestId);

        // A duplicate answer to the first request serves nothing more.
        follower.Step(new ReadIndexResult(1, "n2", first.RequestId, ReadIndex: 1));
        Assert.Empty(follower.DrainEffects());

        follower.Step(new ReadIndexResult(1, "n2", second.RequestId, ReadIndex: 1));
        Assert.Equal([new ServeRead(2, 1), new ServeRead(3, 1)], Served(follower.DrainEffects()));
    }

    [Fact]
    public void AFollowerTakesNoRead_WithoutALeaderItMayAsk()
    {
        Assert.False(InRole(RaftRole.Follower, term: 1).RequestRead(1)); // knows no leader

        var olderLeader = FollowerOfN2(leaderServesReadIndex: leader => leader != "n2");
        Assert.False(olderLeader.RequestRead(1));
        Assert.Empty(olderLeader.DrainEffects());

        var canvassing = NewNode(preVote: true);
        canvassing.Start();
        canvassing.Step(new AppendEntries(0, "n2", 0, 0, [], LeaderCommit: 0));
        canvassing.ElectionTimeoutElapsed();
        canvassing.ElectionTimeoutElapsed();
        Assert.True(canvassing.IsPreCandidate);
        Assert.False(canvassing.RequestRead(1));
    }

    [Fact]
    public void AnUnansweredRequestGoesAgain_AndItsReadsFailAfterAnElectionTimeout()
    {
        var follower = FollowerOfN2();
        Assert.True(follower.RequestRead(1));
        var effects = follower.DrainEffects();
        Assert.Single(effects.OfType<StartHeartbeatTimer>());
        var request = Sent<ReadIndexRequest>(effects).Single();

        var sentAt = new List<int>();
        var failedAt = 0;
        for (var tick = 1; failedAt == 0 && tick <= 100; tick++)
        {
            follower.HeartbeatTimeoutElapsed();
            effects = follower.DrainEffects();
            foreach (var again in Sent<ReadIndexRequest>(effects))
            {
                Assert.Equal(request, again);
                sentAt.Add(tick);
            }

            if (effects.OfType<FailReads>().SingleOrDefault() is { } failed)
            {
                Assert.Equal([1L], failed.ReadIds);
                failedAt = tick;
            }
        }

        Assert.Equal(FollowerReads.ResendTicks, sentAt[0]);
        Assert.All(sentAt.Zip(sentAt.Skip(1)), pair => Assert.Equal(FollowerReads.ResendTicks, pair.Second - pair.First));
        var electionTimeoutTicks = (int)Math.Ceiling(TimeoutMax / Heartbeat);
        Assert.Equal(electionTimeoutTicks + 1, failedAt);

        // Nothing left to time: the timer stops at the next tick.
        follower.HeartbeatTimeoutElapsed();
        Assert.Equal([new StopHeartbeatTimer()], follower.DrainEffects());
        follower.Step(new ReadIndexResult(1, "n2", request.RequestId, ReadIndex: 1));
        Assert.Empty(Served(follower.DrainEffects()));
    }

    public enum LeaderChange
    {
        AnotherLeaderOfANewerTerm,
        ElectionTimeout,
    }

    [Theory]
    [InlineData(LeaderChange.AnotherLeaderOfANewerTerm)]
    [InlineData(LeaderChange.ElectionTimeout)]
    public void AFollowersReadsFail_WhenItFollowsAnotherLeaderOrNone(LeaderChange change)
    {
        var follower = FollowerOfN2(entries: 2, committed: 1);
        var first = Request(follower, 1);
        Assert.True(follower.RequestRead(2));
        follower.Step(new ReadIndexResult(1, "n2", first.RequestId, ReadIndex: 2)); // read 1 confirmed, waits for the commit
        follower.DrainEffects();

        if (change == LeaderChange.AnotherLeaderOfANewerTerm)
            follower.Step(new AppendEntries(2, "n3", 2, 1, [], LeaderCommit: 0));
        else
            follower.ElectionTimeoutElapsed();

        var effects = follower.DrainEffects();
        Assert.Equal([1L, 2], effects.OfType<FailReads>().Single().ReadIds.Order());
        Assert.Single(effects.OfType<StopHeartbeatTimer>());
        Assert.Empty(Served(effects));
    }

    [Fact]
    public void ALeaderAnswersAReadIndexRequest_OnlyAfterAMajorityAnsweredARoundSentAfterIt()
    {
        var leader = LeaderWithCommittedNoop(term: 2);
        leader.HeartbeatTimeoutElapsed();
        var before = Sends(leader.DrainEffects());

        leader.Step(new ReadIndexRequest(2, "n3", RequestId: 9));
        var round = Sends(leader.DrainEffects());
        Assert.Equal(["n2", "n3"], round.Select(s => s.To).Order());
        Assert.Empty(Sent<ReadIndexResult>(round));

        // Answers to messages sent before the request prove nothing about now.
        foreach (var send in before)
            leader.Step(AcceptAndReply(send));
        Assert.Empty(Sent<ReadIndexResult>(leader.DrainEffects()));

        leader.Step(AcceptAndReply(round.Single(s => s.To == "n2")));
        var answer = Sends(leader.DrainEffects()).Single(s => s.Message is ReadIndexResult);
        Assert.Equal("n3", answer.To);
        Assert.Equal(new ReadIndexResult(2, "n1", 9, ReadIndex: leader.CommitIndex), answer.Message);
    }

    [Fact]
    public void ANewLeaderAnswersNoReadIndexRequest_BeforeTheNoopOfItsTermCommits()
    {
        var (leader, election) = ElectedLeader(term: 3);
        leader.Step(new ReadIndexRequest(3, "n2", RequestId: 1));
        leader.Step(AcceptAndReply(Sends(election).First(s => s.To == "n2"))); // n2 holds the no-op; the leader's own copy is not durable
        Assert.Equal(0, leader.CommitIndex);
        Assert.Empty(Sent<ReadIndexResult>(leader.DrainEffects()));

        leader.Persisted(leader.LastLog);
        var round = Sends(leader.DrainEffects());
        Assert.Empty(Sent<ReadIndexResult>(round));
        leader.Step(AcceptAndReply(round.First(s => s.Message is AppendEntries)));
        Assert.Equal([new ReadIndexResult(3, "n1", 1, ReadIndex: 1)], Sent<ReadIndexResult>(leader.DrainEffects()));
    }

    [Fact]
    public void ALeaderIgnoresAReadIndexRequest_OfAnOlderTermOrFromANodeItDoesNotReplicateTo()
    {
        var leader = LeaderWithCommittedNoop(term: 2);

        leader.Step(new ReadIndexRequest(1, "n2", RequestId: 1));
        leader.Step(new ReadIndexRequest(2, "n9", RequestId: 1));
        leader.HeartbeatTimeoutElapsed();
        foreach (var send in Sends(leader.DrainEffects()))
            leader.Step(AcceptAndReply(send));

        Assert.Empty(Sent<ReadIndexResult>(leader.DrainEffects()));
    }

    [Fact]
    public void ALeaderThatStepsDown_FailsItsOwnReadsOnly()
    {
        var leader = LeaderWithCommittedNoop(term: 2);
        Assert.True(leader.RequestRead(4));
        leader.Step(new ReadIndexRequest(2, "n2", RequestId: 4)); // the same number, a follower's request

        leader.Step(new AppendEntries(3, "n3", 0, 0, [], LeaderCommit: 0));

        var effects = leader.DrainEffects();
        Assert.Equal([4L], effects.OfType<FailReads>().Single().ReadIds);
        Assert.Empty(Sent<ReadIndexResult>(effects));
    }

    [Fact]
    public void InACluster_AFollowersReadSeesTheCommandCommittedBeforeIt()
    {
        var (network, nodes) = NewCluster(3, preVote: false, checkQuorum: false);
        Hup(network, nodes["n1"]);
        Assert.Equal(RaftRole.Leader, nodes["n1"].Role);
        var index = ProposeAndReplicate(network, "n1", "a");
        Assert.Equal(index, nodes["n1"].CommitIndex);

        network.Do("n2", p => Assert.True(p.RequestRead(1)));
        network.RunUntilQuiet();

        var served = Served(network.EffectsOf("n2")).Single();
        Assert.Equal(new ServeRead(1, index!.Value), served);
        Assert.True(nodes["n2"].CommitIndex >= index);
    }
}
