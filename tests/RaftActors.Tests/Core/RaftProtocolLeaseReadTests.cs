using RaftActors.Core;
using RaftActors.Messages;
using static RaftActors.Tests.Core.ProtocolTestKit;

namespace RaftActors.Tests.Core;

/// <summary>
/// Lease reads (thesis §6.4.1, etcd's ReadOnlyLeaseBased): with CheckQuorum, a leader serves a
/// read without a heartbeat round while a majority answered messages it sent less than the lease
/// duration (nine tenths of the minimum election timeout) ago. Past it, after handing over its
/// leadership, or with the feature off, reads wait for their round. A node that starts withholds
/// its vote until its first election timeout: it may have answered a leader just before it stopped.
/// </summary>
public class RaftProtocolLeaseReadTests
{
    private static readonly long LeaseMs = (long)(TimeoutMin * 0.9).TotalMilliseconds;

    private long _now = 1_000_000;

    private RaftProtocol NewLeaseNode(bool leaseReads = true, bool checkQuorum = true, HardState? persisted = null) =>
        new("n1", ["n2", "n3"], persisted ?? HardState.Initial, Timeouts(), Heartbeat)
        {
            CheckQuorum = checkQuorum,
            LeaseReads = leaseReads,
            MonotonicClock = () => _now,
        };

    /// <summary>n1 leads term 1 with its no-op committed, answered by n2 and n3 at <see cref="_now"/>.</summary>
    private RaftProtocol Leader(bool leaseReads = true, bool checkQuorum = true)
    {
        var node = NewLeaseNode(leaseReads, checkQuorum);
        node.Start();
        node.ElectionTimeoutElapsed();
        node.Step(new RequestVoteResult(1, "n2", VoteGranted: true));
        var noOps = Sends(node.DrainEffects());
        node.Persisted(node.LastLog);
        foreach (var send in noOps.Where(s => s.Message is AppendEntries))
            node.Step(AcceptAndReply(send));
        Assert.Equal(1, node.CommitIndex);
        node.DrainEffects();
        return node;
    }

    [Fact]
    public void WithinTheLease_ALeaderServesAtOnce_WithoutARound()
    {
        var leader = Leader();
        _now += LeaseMs - 1;

        Assert.True(leader.RequestRead(1));
        leader.Replicate();
        var effects = leader.DrainEffects();

        Assert.Equal([new ServeRead(1, ReadIndex: 1)], Served(effects));
        Assert.Empty(Sends(effects));
    }

    [Fact]
    public void WithinTheLease_AFollowersReadIndexIsAnsweredAtOnce()
    {
        var leader = Leader();

        leader.Step(new ReadIndexRequest(1, "n3", RequestId: 5));

        Assert.Equal([new SendMessage("n3", new ReadIndexResult(1, "n1", 5, ReadIndex: 1))], Sends(leader.DrainEffects()));
    }

    [Fact]
    public void PastTheLease_AReadWaitsForARound_WhoseAnswersRenewIt()
    {
        var leader = Leader();
        _now += LeaseMs + 1;

        Assert.True(leader.RequestRead(1));
        leader.Replicate();
        var round = Sends(leader.DrainEffects());
        Assert.Equal(2, round.Count);

        leader.Step(AcceptAndReply(round[0]));
        Assert.Equal([new ServeRead(1, ReadIndex: 1)], Served(leader.DrainEffects()));

        // The answer renewed the lease: the next read needs no round.
        Assert.True(leader.RequestRead(2));
        Assert.Equal([new ServeRead(2, ReadIndex: 1)], Served(leader.DrainEffects()));
    }

    [Fact]
    public void ALeaseIsHeldByAMajority_NotByOneFollower()
    {
        var leader = Leader();
        _now += LeaseMs + 1;
        leader.HeartbeatTimeoutElapsed();
        var heartbeats = Sends(leader.DrainEffects());
        _now += 10;

        // n2 answers a heartbeat sent 10 ms ago: with the leader, a majority of three.
        leader.Step(AcceptAndReply(heartbeats.Single(s => s.To == "n2")));
        Assert.True(leader.RequestRead(1));
        Assert.Single(Served(leader.DrainEffects()));

        // Five nodes: the leader and one follower are not a majority.
        var five = new RaftProtocol("n1", ["n2", "n3", "n4", "n5"], HardState.Initial, Timeouts(), Heartbeat)
        {
            CheckQuorum = true,
            LeaseReads = true,
            MonotonicClock = () => _now,
        };
        five.Start();
        five.ElectionTimeoutElapsed();
        five.Step(new RequestVoteResult(1, "n2", VoteGranted: true));
        five.Step(new RequestVoteResult(1, "n3", VoteGranted: true));
        var noOps = Sends(five.DrainEffects());
        five.Persisted(five.LastLog);
        foreach (var send in noOps.Where(s => s.Message is AppendEntries && s.To is "n2" or "n3"))
            five.Step(AcceptAndReply(send));
        Assert.Equal(1, five.CommitIndex);
        five.DrainEffects();
        _now += LeaseMs + 1;
        five.HeartbeatTimeoutElapsed();
        var beats = Sends(five.DrainEffects());
        five.Step(AcceptAndReply(beats.Single(s => s.To == "n2")));

        Assert.True(five.RequestRead(1));
        Assert.Empty(Served(five.DrainEffects()));
    }

    [Theory]
    [InlineData(false, true)]
    [InlineData(true, false)]
    public void WithoutLeaseReadsOrCheckQuorum_EveryReadWaitsForARound(bool leaseReads, bool checkQuorum)
    {
        var leader = Leader(leaseReads, checkQuorum);

        Assert.True(leader.RequestRead(1));
        leader.Replicate();
        var effects = leader.DrainEffects();

        Assert.Empty(Served(effects));
        Assert.Equal(2, Sends(effects).Count);
    }

    [Fact]
    public void ALeaderThatSentTimeoutNow_ServesNoLeaseReadForTheRestOfItsTerm()
    {
        var leader = Leader();
        Assert.Null(leader.TransferLeadership(1, "n2")); // n2 holds everything: TimeoutNow leaves at once
        Assert.Contains(Sends(leader.DrainEffects()), s => s.Message is TimeoutNow);

        // The transfer is abandoned, but a voter may have granted n2 its vote all the same. The
        // followers keep answering, fresh within the lease.
        for (var tick = 0; tick < 10; tick++)
        {
            leader.HeartbeatTimeoutElapsed();
            foreach (var send in Sends(leader.DrainEffects()).Where(s => s.Message is AppendEntries))
                leader.Step(AcceptAndReply(send));
            leader.DrainEffects();
        }

        Assert.Null(leader.TransferTarget);
        Assert.Equal(RaftRole.Leader, leader.Role);

        Assert.True(leader.RequestRead(1));
        Assert.Empty(Served(leader.DrainEffects()));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void ANodeThatStarts_WithLeaseReads_WithholdsItsVoteUntilItsFirstElectionTimeout(bool leaseReads)
    {
        var node = NewLeaseNode(leaseReads, persisted: new HardState(3, null));
        node.Start();
        node.DrainEffects();

        node.Step(new RequestVote(4, "n2", LastLogIndex: 9, LastLogTerm: 3));
        var granted = Sends(node.DrainEffects()).Select(s => s.Message).OfType<RequestVoteResult>().SingleOrDefault()?.VoteGranted ?? false;
        Assert.Equal(!leaseReads, granted);

        if (leaseReads)
        {
            node.ElectionTimeoutElapsed(); // it campaigns in term 4 now; a vote of term 5 is answered
            node.DrainEffects();
            node.Step(new RequestVote(node.Term + 1, "n3", LastLogIndex: 9, LastLogTerm: 3));
            Assert.True(Sends(node.DrainEffects()).Select(s => s.Message).OfType<RequestVoteResult>().Single().VoteGranted);
        }
    }
}
