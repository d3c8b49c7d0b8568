using Akka.Actor;
using RaftActors.Core;
using RaftActors.Messages;

namespace RaftActors.Tests.Node;

/// <summary>
/// The node's FSM state is the protocol's role, never a copy that can disagree: after every
/// message, the state a transition subscriber last saw is the role the node reports.
/// </summary>
public sealed class FsmStateTests : RaftNodeTestKit
{
    private const int Steps = 400;

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public void After_every_message_the_FSM_state_is_the_role_the_node_reports(int seed)
    {
        var random = new Random(seed);
        var storage = new GatedStorage();
        var (node, peers) = StartNode(storage, Settings(seed: seed, preVote: random.Next(2) == 0, checkQuorum: random.Next(2) == 0));
        var peerIds = peers.Keys.Order().ToArray();
        var watcher = CreateTestProbe();
        watcher.Send(node, new FSMBase.SubscribeTransitionCallBack(watcher.Ref));
        var fsmState = watcher.ExpectMsg<FSMBase.CurrentState<RaftRole>>().State;
        var status = Settle(node);
        var seen = new HashSet<RaftRole> { status.Role };

        for (var step = 0; step < Steps; step++)
        {
            // A failed write ends the node's part (a follower from then on): not before the other roles had their turn.
            var input = Feed(node, storage, random, status, random.GetItems(peerIds, 1)[0], writesMayFail: step >= Steps * 3 / 4);

            watcher.Send(node, GetRaftStatus.Instance);
            object? received;
            while ((received = watcher.ReceiveOne(TimeSpan.FromSeconds(5))) is FSMBase.Transition<RaftRole> transition)
                fsmState = transition.To;
            status = received as RaftStatus ?? throw new InvalidOperationException($"seed {seed}, step {step}: no status within 5 s, got {received}");
            Assert.True(fsmState == status.Role, $"seed {seed}, step {step} ({input}): the FSM is in {fsmState}, the node reports {status.Role}");
            seen.Add(status.Role);
        }

        // The run went through every role, so the FSM had transitions to get wrong.
        Assert.True(seen.Count == 3, $"seed {seed}: only {string.Join(", ", seen)} in {Steps} steps");
    }

    /// <summary>Gives the node one random input of the kinds that move its role; returns what it was.</summary>
    private string Feed(IActorRef node, GatedStorage storage, Random random, RaftStatus status, string peer, bool writesMayFail)
    {
        // A later term now and then: often enough to depose a leader, rarely enough that one is elected.
        var term = status.Term + (random.Next(4) == 0 ? 1 : 0);
        switch (random.Next(10))
        {
            case 0 or 1:
                var by = TimeSpan.FromMilliseconds(random.Next((int)ElectionMax.TotalMilliseconds));
                Advance(node, by);
                return $"{by.TotalMilliseconds} ms pass";
            case 2 or 3:
                var vote = random.Next(2) == 0
                    ? new RequestVoteResult(status.Term + 1, peer, VoteGranted: true, PreVote: true)
                    : new RequestVoteResult(status.Term, peer, VoteGranted: random.Next(3) > 0);
                node.Tell(vote);
                return vote.ToString();
            case 4:
                var heartbeat = new AppendEntries(term, peer, 0, 0, [], 0);
                node.Tell(heartbeat);
                return heartbeat.ToString();
            case 5:
                var request = new RequestVote(term, peer, status.LastLogIndex + 1, status.Term + 1);
                node.Tell(request);
                return request.ToString();
            case 6:
                var answer = new AppendEntriesResult(status.Term, peer, Success: true, MatchIndex: status.LastLogIndex);
                node.Tell(answer);
                return answer.ToString();
            case 7:
                node.Tell(new ClientCommand("set x"));
                return "a client's command";
            case 8 when writesMayFail && random.Next(10) == 0 && storage.PendingCount > 0:
                storage.FailNext();
                return "a write fails";
            default:
                CompleteAllWrites(node, storage);
                return "the writes complete";
        }
    }
}
