using RaftActors.Core;
using RaftActors.Messages;
using RaftActors.Storage;

namespace RaftActors.Tests.Node;

/// <summary>
/// PreVote and CheckQuorum seen from outside the node, in virtual time: what it answers and sends
/// as its timers run. The protocol's rules are tested in Core; here, that the node's timers give
/// them their clock.
/// </summary>
public sealed class PreVoteAndCheckQuorumTests : ReplicationNodeTestKit
{
    // A follower believes in its leader for the minimum election timeout after hearing from it:
    // it refuses pre-votes and ignores votes of higher terms; then it grants pre-votes; by the
    // maximum timeout it canvasses pre-votes itself, term and vote unchanged and nothing persisted;
    // a majority of grants starts the real election.
    [Fact]
    public void A_follower_believes_in_its_leader_for_the_minimum_timeout_then_canvasses_pre_votes_before_campaigning()
    {
        var storage = new InMemoryRaftStorage();
        var (node, peers) = StartNode(storage, Settings(preVote: true, checkQuorum: true));
        node.Tell(new AppendEntries(1, "n2", 0, 0, [], 0));
        peers["n2"].ExpectMsg<AppendEntriesResult>(r => r.Success);

        Advance(node, ElectionMin - TimeSpan.FromMilliseconds(1));
        node.Tell(new RequestVote(2, "n3", 0, 0, PreVote: true));
        peers["n3"].ExpectMsg(new RequestVoteResult(1, "n1", VoteGranted: false, PreVote: true));
        node.Tell(new RequestVote(5, "n3", 0, 0));
        Assert.Equal(1, Settle(node).Term);
        AssertSilent(peers["n3"]);

        Advance(node, TimeSpan.FromMilliseconds(2));
        node.Tell(new RequestVote(2, "n3", 0, 0, PreVote: true));
        peers["n3"].ExpectMsg(new RequestVoteResult(2, "n1", VoteGranted: true, PreVote: true));
        var believing = Settle(node);
        Assert.Equal((RaftRole.Follower, 1L, "n2"), (believing.Role, believing.Term, believing.LeaderId));

        Advance(node, ElectionMax - ElectionMin);
        foreach (var peer in peers.Values)
            peer.ExpectMsg(new RequestVote(2, "n1", 0, 0, PreVote: true));
        var canvassing = Settle(node);
        Assert.Equal((RaftRole.Follower, 1L, (string?)null, (string?)null), (canvassing.Role, canvassing.Term, canvassing.VotedFor, canvassing.LeaderId));
        Assert.Equal(new HardState(1, null), storage.HardState);

        node.Tell(new RequestVoteResult(2, "n3", VoteGranted: true, PreVote: true));
        foreach (var peer in peers.Values)
            peer.ExpectMsg(new RequestVote(2, "n1", 0, 0));
        var candidate = Settle(node);
        Assert.Equal((RaftRole.Candidate, 2L), (candidate.Role, candidate.Term));
    }

    // A leader whose followers do not answer steps down, in its term, within the minimum election
    // timeout and a couple of heartbeats — before the maximum election timeout — and says why.
    [Fact]
    public void A_leader_no_majority_answers_steps_down_before_the_maximum_election_timeout()
    {
        var (node, _) = StartLeader(new InMemoryRaftStorage(), settings: Settings(checkQuorum: true));

        var elapsed = TimeSpan.Zero;
        EventFilter.Warning(contains: "stepped down in term 1").ExpectOne(() =>
        {
            while (Settle(node).Role == RaftRole.Leader)
            {
                Advance(node, Heartbeat);
                elapsed += Heartbeat;
                Assert.True(elapsed <= ElectionMax, $"still leader after {elapsed}");
            }
        });

        Assert.True(elapsed >= ElectionMin, $"stepped down after {elapsed}");
        Assert.Equal(1, Settle(node).Term);
        Assert.False(node.IsTimerActive("heartbeat"));
        Assert.True(node.IsTimerActive("election"));
    }

    // A leader whose thread was held (a long pause of its process, a starved thread pool) sent
    // nothing meanwhile, so nobody could answer it. The heartbeat ticks that piled up in its mailbox
    // must not count as silence: it beats once when it runs again, and the answers keep it leader.
    [Fact]
    public async Task A_leader_held_up_longer_than_an_election_timeout_beats_once_and_leads_on_when_answered()
    {
        var storage = new BlockingStorage();
        var (node, peers) = StartLeader(storage, settings: Settings(checkQuorum: true));

        storage.BlockNextWrite();
        var held = Task.Run(() => node.Tell(Command("x"), TestActor));
        Assert.True(storage.WaitUntilBlocked(Bound), "the node never started the write of x");
        for (var elapsed = TimeSpan.Zero; elapsed < ElectionMax * 2; elapsed += Heartbeat)
            Scheduler.Advance(Heartbeat);
        storage.Release();
        await held.WaitAsync(Bound);

        Assert.Equal(RaftRole.Leader, Settle(node).Role);
        foreach (var (id, peer) in peers)
        {
            var append = peer.FishForMessage<AppendEntries>(a => a.Entries.Count > 0);
            Acknowledge(node, id, append);
        }

        Advance(node, Heartbeat);
        Assert.Equal(RaftRole.Leader, Settle(node).Role);
    }

    [Fact]
    public void A_leader_a_majority_answers_leads_on()
    {
        var (node, peers) = StartLeader(new InMemoryRaftStorage(), settings: Settings(checkQuorum: true));

        for (var beat = 0; beat < 20; beat++)
        {
            Advance(node, Heartbeat);
            var append = peers["n2"].ExpectMsg<AppendEntries>();
            node.Tell(new AppendEntriesResult(1, "n2", true, MatchIndex: append.PrevLogIndex + append.Entries.Count, Sequence: append.Sequence));
        }

        Assert.Equal(RaftRole.Leader, Settle(node).Role);
    }
}
