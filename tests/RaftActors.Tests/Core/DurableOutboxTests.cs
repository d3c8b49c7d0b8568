using RaftActors.Core;
using RaftActors.Messages;

namespace RaftActors.Tests.Core;

/// <summary>
/// Figure 2: persistent state is "updated on stable storage before responding to RPCs". The
/// outbox holds back what a node says until what it decided before saying it is durable.
/// </summary>
public class DurableOutboxTests
{
    private readonly List<(string To, IRaftProtocolMessage Message)> _delivered = new();

    private void Deliver(string to, IRaftProtocolMessage message) => _delivered.Add((to, message));

    private static IRaftProtocolMessage Msg(int n) => new AppendEntriesResult(n, "n1", Success: true);

    private static HardState State(long term, string? vote = null) => new(term, vote);

    [Fact]
    public void Send_WithNothingPending_IsDeliveredAtOnce()
    {
        var outbox = new DurableOutbox();

        outbox.Send("n2", Msg(1), Deliver);
        outbox.Send("n3", Msg(2), Deliver);

        Assert.Equal([("n2", Msg(1)), ("n3", Msg(2))], _delivered);
        Assert.Equal(0, outbox.WaitingCount);
        Assert.Null(outbox.TakeNextWrite());
    }

    // Figure 2: a message sent after a state change waits until that state is durable.
    [Fact]
    public void Send_AfterPersist_WaitsUntilThatVersionIsDurable_5_1()
    {
        var outbox = new DurableOutbox();

        outbox.Persist(State(1, "n2"));
        outbox.Send("n2", Msg(1), Deliver);

        Assert.Empty(_delivered);
        Assert.Equal(1, outbox.WaitingCount);

        var write = outbox.TakeNextWrite();
        Assert.Equal((State(1, "n2"), 1L), (write!.HardState, write.Version));
        Assert.Empty(_delivered); // writing is not durable yet

        outbox.Durable(write.Version, Deliver);

        Assert.Equal([("n2", Msg(1))], _delivered);
        Assert.Equal(0, outbox.WaitingCount);
    }

    // A write that completes releases only what depended on it, not messages that depend on a
    // newer state still unwritten.
    [Fact]
    public void Durable_OfAnOlderVersion_ReleasesOnlyMessagesThatDependOnIt()
    {
        var outbox = new DurableOutbox();
        outbox.Persist(State(1));
        outbox.Send("n2", Msg(1), Deliver);
        var first = outbox.TakeNextWrite()!;
        outbox.Persist(State(2));
        outbox.Send("n2", Msg(2), Deliver);

        outbox.Durable(first.Version, Deliver);

        Assert.Equal([("n2", Msg(1))], _delivered);
        Assert.Equal(1, outbox.WaitingCount);

        var second = outbox.TakeNextWrite()!;
        Assert.Equal(State(2), second.HardState);
        outbox.Durable(second.Version, Deliver);

        Assert.Equal([("n2", Msg(1)), ("n2", Msg(2))], _delivered);
    }

    // Group commit: one write in flight at a time; states decided meanwhile coalesce into one write
    // of the latest state, which supersedes all older ones.
    [Fact]
    public void Writes_Coalesce_TheNextWriteCarriesOnlyTheLatestState()
    {
        var outbox = new DurableOutbox();
        outbox.Persist(State(1, "n1"));
        var first = outbox.TakeNextWrite()!;

        outbox.Persist(State(2, null));
        outbox.Persist(State(2, "n3"));
        outbox.Send("n3", Msg(7), Deliver);

        Assert.Null(outbox.TakeNextWrite()); // one write in flight at a time
        outbox.Durable(first.Version, Deliver);
        Assert.Empty(_delivered);

        var next = outbox.TakeNextWrite();
        Assert.NotNull(next);
        Assert.Equal(State(2, "n3"), next!.HardState);
        Assert.True(next!.Version > first.Version);
        Assert.Null(outbox.TakeNextWrite()); // nothing else to write; the intermediate state is skipped

        outbox.Durable(next!.Version, Deliver);
        Assert.Equal([("n3", Msg(7))], _delivered);
        Assert.Null(outbox.TakeNextWrite());
    }

    // Messages leave in the order they were sent, whatever versions they waited for; a send made
    // once everything is durable goes out after them, not before.
    [Fact]
    public void Order_OfMessages_IsPreserved()
    {
        var outbox = new DurableOutbox();
        outbox.Persist(State(1));
        outbox.Send("n2", Msg(1), Deliver);
        outbox.Send("n3", Msg(2), Deliver);
        var v1 = outbox.TakeNextWrite()!.Version;
        outbox.Persist(State(2));
        outbox.Send("n2", Msg(3), Deliver);
        outbox.Persist(State(3));
        outbox.Send("n3", Msg(4), Deliver);
        outbox.Send("n2", Msg(5), Deliver);

        outbox.Durable(v1, Deliver);
        var v3 = outbox.TakeNextWrite()!.Version;
        outbox.Durable(v3, Deliver);
        outbox.Send("n3", Msg(6), Deliver);

        Assert.Equal(
            [("n2", Msg(1)), ("n3", Msg(2)), ("n2", Msg(3)), ("n3", Msg(4)), ("n2", Msg(5)), ("n3", Msg(6))],
            _delivered);
        Assert.Equal(0, outbox.WaitingCount);
    }

    // While a write is in flight, even a send that follows no new Persist must wait: the state it
    // may reflect is not durable yet.
    [Fact]
    public void Send_WhileAWriteIsInFlight_Waits()
    {
        var outbox = new DurableOutbox();
        outbox.Persist(State(4));
        var write = outbox.TakeNextWrite()!;

        outbox.Send("n2", Msg(1), Deliver);

        Assert.Empty(_delivered);
        outbox.Durable(write.Version, Deliver);
        Assert.Single(_delivered);
    }

    [Fact]
    public void TakeNextWrite_WithNothingPersisted_IsNull()
    {
        var outbox = new DurableOutbox();

        Assert.Null(outbox.TakeNextWrite());
        outbox.Persist(State(1));
        Assert.NotNull(outbox.TakeNextWrite());
        Assert.Null(outbox.TakeNextWrite());
    }

    // The protocol and the outbox together, as the node actor uses them: a vote granted by a
    // follower reaches the candidate only once the vote is durable (Figure 2, §5.2).
    [Fact]
    public void ProtocolEffectsThroughTheOutbox_VoteReplyLeavesOnlyAfterTheVoteIsDurable_5_2()
    {
        var node = ProtocolTestKit.InRole(RaftRole.Follower, term: 1);
        var outbox = new DurableOutbox();

        node.Step(new RequestVote(2, "n2", 0, 0));
        foreach (var effect in node.DrainEffects())
        {
            switch (effect)
            {
                case PersistHardState persist:
                    outbox.Persist(persist.State);
                    break;
                case SendMessage send:
                    outbox.Send(send.To, send.Message, Deliver);
                    break;
            }
        }

        Assert.Empty(_delivered);
        var write = outbox.TakeNextWrite()!;
        Assert.Equal(new HardState(2, "n2"), write.HardState); // the two persists coalesced into one write
        Assert.Null(outbox.TakeNextWrite());

        outbox.Durable(write.Version, Deliver);

        Assert.Equal([("n2", (IRaftProtocolMessage)new RequestVoteResult(2, "n1", true))], _delivered);
    }
}
