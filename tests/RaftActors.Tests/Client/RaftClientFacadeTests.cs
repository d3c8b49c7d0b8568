using RaftActors.Client;
using RaftActors.Messages;

namespace RaftActors.Tests.Client;

/// <summary>The Task facade: answers become results, failures become the client's exceptions.</summary>
public sealed class RaftClientFacadeTests : RaftClientTestKit
{
    [Fact]
    public async Task SendAsync_and_QueryAsync_return_the_leaders_answers()
    {
        var client = RaftClientFacade.Start(Sys, Members, Options());
        Assert.Equal(ClientId, client.ClientId);

        var sent = client.SendAsync("set x");
        var (_, node, command) = ExpectAtSomeNode<ClientCommand>();
        Assert.Equal(new ClientCommand("set x", ClientId, 1), command);
        node.Reply(new CommandApplied(12, "ok"));
        Assert.Equal(new CommandApplied(12, "ok"), await sent);

        var queried = client.QueryAsync("get x");
        Assert.Equal(new ClientQuery("get x"), node.ExpectMsg<ClientQuery>());
        node.Reply(new QueryResult("x = 1"));
        Assert.Equal("x = 1", await queried);
    }

    [Fact]
    public async Task SendIdempotentAsync_sends_the_command_as_the_first_of_the_keys_session()
    {
        var client = RaftClientFacade.Start(Sys, Members, Options());

        var sent = client.SendIdempotentAsync("set x", "order-17");
        var (_, node, command) = ExpectAtSomeNode<ClientCommand>();
        Assert.Equal(new ClientCommand("set x", "order-17", 1), command);
        node.Reply(new CommandApplied(5, "ok"));
        Assert.Equal(new CommandApplied(5, "ok"), await sent);
        await Assert.ThrowsAsync<ArgumentException>(() => client.SendIdempotentAsync("set x", " "));
    }

    [Fact]
    public async Task Final_answers_become_exceptions_that_say_what_happened()
    {
        var client = RaftClientFacade.Start(Sys, Members, Options());

        var rejected = client.SendAsync("set x");
        var (_, node, _) = ExpectAtSomeNode<ClientCommand>();
        node.Reply(new RequestRejected("too large"));
        var rejection = await Assert.ThrowsAsync<RaftRequestRejectedException>(() => rejected);
        Assert.Equal("The Raft cluster rejected command 1 (String): too large. It had no effect.", rejection.Message);

        var failed = client.SendAsync("set y");
        node.ExpectMsg<ClientCommand>();
        node.Reply(new CommandFailed(3, "no such key"));
        var failure = await Assert.ThrowsAsync<RaftCommandFailedException>(() => failed);
        Assert.Equal("command 2 (String) was committed at log index 3, but the state machine failed on it: no such key", failure.Message);

        var query = client.QueryAsync("get x");
        node.ExpectMsg<ClientQuery>();
        node.Reply(new RequestRejected("the query failed: boom"));
        await Assert.ThrowsAsync<RaftRequestRejectedException>(() => query);
    }

    [Fact]
    public async Task Giving_up_surfaces_as_outcome_unknown_for_commands_and_unavailable_for_queries()
    {
        var client = RaftClientFacade.Start(Sys, Members, Options() with { MaxAttempts = 1 });

        var command = client.SendAsync("set x");
        ExpectAtSomeNode<ClientCommand>();
        Advance(client.Actor, RequestTimeout);
        var unknown = await Assert.ThrowsAsync<RaftCommandOutcomeUnknownException>(() => command);
        Assert.Equal(1, unknown.Sequence);

        var query = client.QueryAsync("get x");
        ExpectAtSomeNode<ClientQuery>();
        Advance(client.Actor, RequestTimeout);
        await Assert.ThrowsAsync<RaftUnavailableException>(() => query);
    }

    [Fact]
    public async Task Cancelling_stops_the_wait_and_the_retries()
    {
        var client = RaftClientFacade.Start(Sys, Members, Options());
        using var cancellation = new CancellationTokenSource();
        var command = client.SendAsync("set x", cancellation.Token);
        ExpectAtSomeNode<ClientCommand>();

        await cancellation.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => command);
        AwaitStatus(client.Actor, s => s.InFlight == 0, "the client to drop the cancelled command");
        Advance(client.Actor, RequestTimeout);
        Advance(client.Actor, BackoffMax);
        AssertNoNodeReceivedAnything();
        var status = Settle(client.Actor);
        Assert.Equal((0, 0), (status.InFlight, status.BackingOff));
    }

    [Fact]
    public void Invalid_options_are_refused_naming_the_option()
    {
        var error = Assert.Throws<ArgumentException>(() => RaftClientFacade.Start(Sys, Members, Options() with { RetryBackoffMax = TimeSpan.FromMilliseconds(1) }));
        Assert.Equal("RetryBackoffMax", error.ParamName);
        Assert.Throws<ArgumentException>(() => RaftClientFacade.Start(Sys, Members, Options() with { Deadline = Timeout.InfiniteTimeSpan }));
        Assert.Throws<ArgumentException>(() => RaftClientFacade.Start(Sys, Members, Options() with { MaxCommandsInFlight = 65 }));
        Assert.Throws<ArgumentException>(() => RaftClientFacade.Start(Sys, Members, Options() with { ClientId = " " }));
        Assert.Throws<ArgumentException>(() => RaftClientFacade.Start(Sys, [], Options()));
        Assert.Throws<ArgumentException>(() => RaftClient.Props([Members[0], Members[0]], Options()));
    }
}
