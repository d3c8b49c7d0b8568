using RaftActors.Core;
using RaftActors.Messages;
using static RaftActors.Tests.Core.ProtocolTestKit;

namespace RaftActors.Tests.Core;

/// <summary>Terms as a logical clock (§5.1): adopt higher terms, reject stale ones, ignore strangers.</summary>
public class RaftProtocolTermTests
{
    public static TheoryData<RaftRole, MessageKind> EveryRoleAndMessageKind()
    {
        var data = new TheoryData<RaftRole, MessageKind>();
        foreach (var role in Enum.GetValues<RaftRole>())
        foreach (var kind in Enum.GetValues<MessageKind>())
            data.Add(role, kind);
        return data;
    }

    // Raft §5.1: "If one server's current term is smaller than the other's, then it updates its
    // current term to the larger value. If a candidate or leader discovers that its term is out of
    // date, it immediately reverts to follower state." Ports etcd TestFollowerUpdateTermFromMessage,
    // TestCandidateUpdateTermFromMessage and TestLeaderUpdateTermFromMessage, for every message
    // type. The new term, with the vote cleared, is persisted before any reply leaves (Figure 2:
    // persistent state is updated on stable storage before responding to RPCs).
    [Theory]
    [MemberData(nameof(EveryRoleAndMessageKind))]
    public void HigherTermInAnyMessage_MakesAFollowerOfThatTerm_5_1(RaftRole role, MessageKind kind)
    {
        var node = InRole(role, term: 2, clusterSize: 3);

        var handled = node.Step(Message(kind, term: 5));
        var effects = node.DrainEffects();
        var trace = Describe(effects);

        Assert.True(handled);
        Assert.Equal(RaftRole.Follower, node.Role);
        Assert.Equal(5, node.Term);
        // the first thing done is to persist the new term with no vote
        Assert.True(effects.Count > 0, trace);
        Assert.Equal(new PersistHardState(new HardState(5, null)), effects[0]);
        // every reply leaves after every write it depends on
        var sends = Sends(effects);
        if (sends.Count > 0)
            Assert.True(LastIndexOf<PersistHardState>(effects) < FirstIndexOf<SendMessage>(effects), trace);
        // what was persisted last is the node's hard state
        Assert.Equal(node.HardState, effects.OfType<PersistHardState>().Last().State);

        switch (kind)
        {
            case MessageKind.RequestVote:
                // vote cleared by the new term, then granted to the candidate that carried it
                Assert.Equal(new HardState(5, "n2"), node.HardState);
                Assert.Equal(new SendMessage("n2", new RequestVoteResult(5, Self, VoteGranted: true)), Assert.Single(sends));
                Assert.Null(node.LeaderId);
                break;
            case MessageKind.AppendEntries:
                Assert.Equal(new HardState(5, null), node.HardState);
                Assert.Equal(new SendMessage("n2", new AppendEntriesResult(5, Self, Success: true), AfterLogDurable: true), Assert.Single(sends));
                Assert.Equal("n2", node.LeaderId);
                break;
            default:
                Assert.Equal(new HardState(5, null), node.HardState);
                Assert.Empty(sends);
                Assert.Null(node.LeaderId);
                break;
        }

        if (role == RaftRole.Leader)
        {
            // a deposed leader stops heartbeating and needs an election timer again
            Assert.Contains(effects, e => e is StopHeartbeatTimer);
            Assert.Contains(effects, e => e is ResetElectionTimer);
        }

        Assert.DoesNotContain(effects, e => e is StartHeartbeatTimer || e is StopElectionTimer);
        AssertTimeoutsInRange(effects);
    }

    // Raft §5.1: "If a server receives a request with a stale term number, it rejects the
    // request." Port of etcd TestRejectStaleTermMessage, for every role and message type: requests
    // are refused with the current term (so the stale sender can update itself), stale replies
    // are dropped; nothing about the node changes and nothing is persisted.
    [Theory]
    [MemberData(nameof(EveryRoleAndMessageKind))]
    public void StaleTermMessage_IsRejectedWithTheCurrentTerm_5_1(RaftRole role, MessageKind kind)
    {
        var node = InRole(role, term: 3, clusterSize: 3);
        var before = (node.Role, node.HardState, node.LeaderId);

        var handled = node.Step(Message(kind, term: 2));
        var effects = node.DrainEffects();
        var trace = Describe(effects);

        Assert.True(handled);
        Assert.Equal(before, (node.Role, node.HardState, node.LeaderId));
        switch (kind)
        {
            case MessageKind.RequestVote:
                Assert.Equal(new SendMessage("n2", new RequestVoteResult(3, Self, VoteGranted: false)), Assert.Single(effects));
                break;
            case MessageKind.AppendEntries:
                Assert.Equal(new SendMessage("n2", new AppendEntriesResult(3, Self, Success: false)), Assert.Single(effects));
                break;
            default:
                Assert.True(effects.Count == 0, trace);
                break;
        }
    }

    // An answer whose sender is not a member is ignored entirely, even with a higher term: it
    // answers nothing this node asked. Nor is a node its own peer. Step reports it with false.
    [Theory]
    [InlineData(RaftRole.Follower, MessageKind.RequestVoteResult, "n9")]
    [InlineData(RaftRole.Follower, MessageKind.AppendEntriesResult, "n9")]
    [InlineData(RaftRole.Candidate, MessageKind.RequestVoteResult, "n9")]
    [InlineData(RaftRole.Leader, MessageKind.AppendEntriesResult, "n9")]
    [InlineData(RaftRole.Candidate, MessageKind.RequestVoteResult, "N2")] // ids are case-sensitive
    [InlineData(RaftRole.Candidate, MessageKind.RequestVoteResult, Self)]
    [InlineData(RaftRole.Follower, MessageKind.AppendEntries, Self)]
    [InlineData(RaftRole.Leader, MessageKind.RequestVote, Self)]
    public void AnswerFromUnknownNode_OrMessageFromItself_ReturnsFalseAndChangesNothing(RaftRole role, MessageKind kind, string from)
    {
        var node = InRole(role, term: 2, clusterSize: 3);
        var before = (node.Role, node.HardState, node.LeaderId);

        var handled = node.Step(Message(kind, term: 9, from));

        Assert.False(handled);
        Assert.Equal(before, (node.Role, node.HardState, node.LeaderId));
        Assert.Empty(node.DrainEffects());
    }

    // Thesis §4.1: a server that lags behind a membership change, or is still joining, must follow
    // a leader its configuration does not list yet; so requests are taken from any node, and the
    // term rule applies to them as to any. (Answers still count only from known members.)
    [Theory]
    [InlineData(RaftRole.Follower, MessageKind.AppendEntries)]
    [InlineData(RaftRole.Candidate, MessageKind.AppendEntries)]
    [InlineData(RaftRole.Follower, MessageKind.RequestVote)]
    [InlineData(RaftRole.Leader, MessageKind.RequestVote)]
    public void RequestFromANodeOutsideTheConfiguration_IsHandled_4_1(RaftRole role, MessageKind kind)
    {
        var node = InRole(role, term: 2, clusterSize: 3);

        var handled = node.Step(Message(kind, term: 9, from: "n9"));

        Assert.True(handled);
        Assert.Equal(9, node.Term);
        Assert.Equal(RaftRole.Follower, node.Role);
        Assert.Contains(node.DrainEffects(), e => e is SendMessage { To: "n9" });
    }

    // Raft §5.1: a message of the node's own term changes neither term nor vote.
    [Theory]
    [InlineData(MessageKind.AppendEntries)]
    [InlineData(MessageKind.AppendEntriesResult)]
    [InlineData(MessageKind.RequestVoteResult)]
    public void CurrentTermMessage_DoesNotPersistAnything_5_1(MessageKind kind)
    {
        var node = InRole(RaftRole.Follower, term: 4);

        node.Step(Message(kind, term: 4));

        Assert.DoesNotContain(node.DrainEffects(), e => e is PersistHardState);
        Assert.Equal(new HardState(4, null), node.HardState);
    }

    [Fact]
    public void Constructor_RefusesSelfAsPeerAndDuplicatePeers()
    {
        var timeouts = new ElectionTimeouts(TimeoutMin, TimeoutMax, new Random(1));

        Assert.Throws<ArgumentException>(() => new RaftProtocol("n1", ["n1", "n2"], HardState.Initial, timeouts, Heartbeat));
        Assert.Throws<ArgumentException>(() => new RaftProtocol("n1", ["n2", "n2"], HardState.Initial, timeouts, Heartbeat));
        Assert.ThrowsAny<ArgumentException>(() => new RaftProtocol(" ", ["n2"], HardState.Initial, timeouts, Heartbeat));
    }
}
