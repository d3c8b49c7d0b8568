using Akka.Actor;
using RaftActors.Client;
using RaftActors.Messages;

namespace RaftActors.Tests.Client;

/// <summary>
/// Where nodes answer a client's attempts. A node's reply runs <see cref="AttemptReply"/> on the
/// replier's thread, inside its Tell, so each test sees everything the reply did once Tell returns.
/// </summary>
public sealed class ReplyRefsTests : Akka.TestKit.Xunit2.TestKit
{
    private IActorRefProvider Provider => ((ExtendedActorSystem)Sys).Provider;

    /// <summary>An attempt's reply address, with a probe for the client actor and a facade's promise as the caller.</summary>
    private (Akka.TestKit.TestProbe Client, ReplyPromise Promise, AttemptReply Attempt) Attempt(long requestId, int attempt, Type settles)
    {
        var client = CreateTestProbe();
        var promise = new ReplyPromise(Provider);
        return (client, promise, new AttemptReply(Provider, client.Ref, requestId, attempt, client.Ref.Path, promise, settles));
    }

    [Fact]
    public async Task A_commands_applied_answer_reaches_the_facades_promise_without_the_client_actor()
    {
        var (client, promise, attempt) = Attempt(7, 2, typeof(CommandApplied));

        attempt.Tell(new CommandApplied(12, "ok"));

        Assert.True(promise.Reply.IsCompletedSuccessfully);
        Assert.Equal(new CommandApplied(12, "ok"), await promise.Reply);
        var answered = client.ExpectMsg<AttemptAnswered>();
        Assert.Equal((7L, 2, new CommandApplied(12, "ok")), (answered.RequestId, answered.Attempt, (CommandApplied)answered.Reply));
    }

    [Fact]
    public async Task A_querys_result_reaches_the_facades_promise_without_the_client_actor()
    {
        var (client, promise, attempt) = Attempt(8, 1, typeof(QueryResult));

        attempt.Tell(new QueryResult("x = 1"));

        Assert.True(promise.Reply.IsCompletedSuccessfully);
        Assert.Equal(new QueryResult("x = 1"), await promise.Reply);
        client.ExpectMsg<AttemptAnswered>();
    }

    [Theory]
    [InlineData("not-leader")]
    [InlineData("outcome-unknown")]
    [InlineData("failed")]
    [InlineData("query-result")] // not a command's answer
    public void Any_other_answer_goes_to_the_client_actor_alone(string kind)
    {
        object answer = kind switch
        {
            "not-leader" => new NotLeader("n2", null),
            "outcome-unknown" => new CommandOutcomeUnknown("the leader stepped down"),
            "failed" => new CommandFailed(4, "no such key"),
            _ => new QueryResult("x = 1"),
        };
        var (client, promise, attempt) = Attempt(9, 1, typeof(CommandApplied));

        attempt.Tell(answer);

        Assert.False(promise.Reply.IsCompleted);
        Assert.Same(answer, client.ExpectMsg<AttemptAnswered>().Reply);
    }

    [Fact]
    public async Task The_promise_keeps_the_first_answer_when_the_client_actor_answers_again()
    {
        var (client, promise, attempt) = Attempt(10, 1, typeof(CommandApplied));

        attempt.Tell(new CommandApplied(12, "ok"));
        promise.Tell(new Status.Failure(new InvalidOperationException("the client actor's own answer, later")));

        Assert.Equal(new CommandApplied(12, "ok"), await promise.Reply);
    }

    [Fact]
    public void A_released_promise_takes_no_answer()
    {
        var (client, promise, attempt) = Attempt(11, 1, typeof(CommandApplied));
        promise.Release(); // the caller stopped waiting

        attempt.Tell(new CommandApplied(12, "ok"));

        Assert.False(promise.Reply.IsCompleted);
        client.ExpectMsg<AttemptAnswered>();
    }
}
