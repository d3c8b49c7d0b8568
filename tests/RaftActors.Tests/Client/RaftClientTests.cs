using Akka.Actor;
using Akka.TestKit;
using RaftActors.Client;
using RaftActors.Messages;

namespace RaftActors.Tests.Client;

/// <summary>The client's leader finding, retries and session (thesis §6.2-6.3), against stand-in nodes in virtual time.</summary>
public sealed class RaftClientTests : RaftClientTestKit
{
    [Fact]
    public void Goes_to_the_leader_a_NotLeader_hint_names_by_path_and_keeps_going_there()
    {
        var client = StartClient();
        var requester = CreateTestProbe();
        client.Tell(new SendCommand("set x"), requester.Ref);

        var (first, firstNode, command) = ExpectAtSomeNode<ClientCommand>();
        Assert.Equal(new ClientCommand("set x", ClientId, 1), command);
        var leaderId = Nodes.Keys.First(id => id != first);
        firstNode.Reply(new NotLeader(leaderId, Nodes[leaderId].Ref.Path));

        // Straight to the hinted leader, without a backoff, with the same session sequence.
        Assert.Equal(new ClientCommand("set x", ClientId, 1), Nodes[leaderId].ExpectMsg<ClientCommand>());
        Nodes[leaderId].Reply(new CommandApplied(7, "done"));
        Assert.Equal(new CommandApplied(7, "done"), requester.ExpectMsg<CommandApplied>());

        // The next command goes to the leader the client now knows.
        client.Tell(new SendCommand("set y"), requester.Ref);
        Assert.Equal(new ClientCommand("set y", ClientId, 2), Nodes[leaderId].ExpectMsg<ClientCommand>());
        AssertNoNodeReceivedAnything();
        Assert.Equal(Nodes[leaderId].Ref.Path, Settle(client).Leader);
    }

    [Fact]
    public void A_hint_with_only_the_leader_id_goes_to_that_member()
    {
        var client = StartClient();
        var requester = CreateTestProbe();
        client.Tell(new SendQuery("get x"), requester.Ref);

        var (first, firstNode, query) = ExpectAtSomeNode<ClientQuery>();
        Assert.Equal(new ClientQuery("get x"), query);
        var leaderId = Nodes.Keys.First(id => id != first);
        firstNode.Reply(new NotLeader(leaderId, null));

        Assert.Equal(new ClientQuery("get x"), Nodes[leaderId].ExpectMsg<ClientQuery>());
        Nodes[leaderId].Reply(new QueryResult(42));
        Assert.Equal(new QueryResult(42), requester.ExpectMsg<QueryResult>());
    }

    [Fact]
    public void Retries_on_another_node_after_the_request_timeout_and_a_backoff()
    {
        var client = StartClient();
        var requester = CreateTestProbe();
        client.Tell(new SendCommand("set x"), requester.Ref);
        var (first, _, _) = ExpectAtSomeNode<ClientCommand>();

        // Nothing happens before the request timeout.
        Advance(client, RequestTimeout - TimeSpan.FromMilliseconds(1));
        AssertNoNodeReceivedAnything();

        // Then, after at most the longest backoff, another node gets the same command with the same sequence.
        Advance(client, TimeSpan.FromMilliseconds(1));
        Assert.Equal(1, Settle(client).BackingOff);
        Advance(client, BackoffMax);
        var (second, secondNode, retry) = ExpectAtSomeNode<ClientCommand>(except: first);
        Assert.Equal(new ClientCommand("set x", ClientId, 1), retry);

        secondNode.Reply(new CommandApplied(3, null));
        Assert.Equal(new CommandApplied(3, null), requester.ExpectMsg<CommandApplied>());
        Assert.NotEqual(first, second);
    }

    [Fact]
    public void NotLeader_without_a_hint_moves_to_another_node_after_a_backoff()
    {
        var client = StartClient();
        var requester = CreateTestProbe();
        client.Tell(new SendCommand("set x"), requester.Ref);
        var (first, firstNode, _) = ExpectAtSomeNode<ClientCommand>();
        firstNode.Reply(new NotLeader(null, null));

        AwaitStatus(client, s => s.BackingOff == 1, "the client to back off after NotLeader without a hint");
        AssertNoNodeReceivedAnything();
        Advance(client, BackoffMax);
        var (_, secondNode, retry) = ExpectAtSomeNode<ClientCommand>(except: first);
        Assert.Equal(1, retry.Sequence);
        secondNode.Reply(new CommandApplied(1, null));
        requester.ExpectMsg<CommandApplied>();
    }

    [Fact]
    public void Retries_after_CommandOutcomeUnknown_with_the_same_session_sequence()
    {
        var client = StartClient();
        var requester = CreateTestProbe();

        // Command 1 goes through, so the command under test is the session's second.
        client.Tell(new SendCommand("first"), requester.Ref);
        var (_, node, _) = ExpectAtSomeNode<ClientCommand>();
        node.Reply(new CommandApplied(1, null));
        requester.ExpectMsg<CommandApplied>();

        client.Tell(new SendCommand("second"), requester.Ref);
        Assert.Equal(new ClientCommand("second", ClientId, 2), node.ExpectMsg<ClientCommand>());
        node.Reply(new CommandOutcomeUnknown("leadership lost before the command was committed"));

        AwaitStatus(client, s => s.BackingOff == 1, "the client to back off after CommandOutcomeUnknown");
        Advance(client, BackoffMax);
        var (_, retryNode, retry) = ExpectAtSomeNode<ClientCommand>();
        Assert.Equal(new ClientCommand("second", ClientId, 2), retry);

        retryNode.Reply(new CommandApplied(2, "once"));
        Assert.Equal(new CommandApplied(2, "once"), requester.ExpectMsg<CommandApplied>());
        Assert.Equal(2, Settle(client).LastSequence);
    }

    [Fact]
    public void Each_command_gets_the_next_sequence_and_concurrent_commands_get_their_own_answers()
    {
        var client = StartClient();
        var requesters = Enumerable.Range(1, 3).Select(i => CreateTestProbe($"requester{i}")).ToList();
        foreach (var (requester, i) in requesters.Select((r, i) => (r, i)))
            client.Tell(new SendCommand($"command {i + 1}"), requester.Ref);

        // All three go to the member the client believes leads, each with its own sequence; the
        // session's first command goes alone, for the cluster opens the session with it.
        var (leader, leaderNode, first) = ExpectAtSomeNode<ClientCommand>();
        var received = new List<(ClientCommand Command, IActorRef Attempt)> { (first, leaderNode.LastSender) };
        AssertNoNodeReceivedAnything();
        leaderNode.Reply(new CommandApplied(10, first.Command));
        requesters[0].ExpectMsg<CommandApplied>();
        for (var i = 0; i < 2; i++)
            received.Add((leaderNode.ExpectMsg<ClientCommand>(), leaderNode.LastSender));
        Assert.Equal([1L, 2L, 3L], received.Select(r => r.Command.Sequence).Order());
        Assert.All(received, r => Assert.Equal(ClientId, r.Command.ClientId));
        Assert.All(received, r => Assert.Equal($"command {r.Command.Sequence}", r.Command.Command));
        AssertNoNodeReceivedAnything();

        // Answered out of order, each answer reaches the one who asked.
        foreach (var (command, attempt) in received.Skip(1).OrderByDescending(r => r.Command.Sequence))
            attempt.Tell(new CommandApplied(command.Sequence * 10, command.Command), leaderNode.Ref);
        for (var i = 1; i < 3; i++)
            Assert.Equal(new CommandApplied((i + 1) * 10, $"command {i + 1}"), requesters[i].ExpectMsg<CommandApplied>());
        Assert.Equal(3, Settle(client).LastSequence);
        Assert.Equal(Nodes[leader].Ref.Path, Settle(client).Leader);
    }

    [Fact]
    public void Gives_up_at_the_deadline_with_outcome_unknown_when_no_node_answers()
    {
        var client = StartClient();
        var requester = CreateTestProbe();
        client.Tell(new SendCommand("set x"), requester.Ref);
        ExpectAtSomeNode<ClientCommand>();

        var elapsed = AdvanceUntilAnswered(client, requester, Deadline + TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(100));
        Assert.Equal(Deadline, elapsed);
        var failure = ExpectFailure<RaftCommandOutcomeUnknownException>(requester);
        Assert.Equal(ClientId, failure.ClientId);
        Assert.Equal(1, failure.Sequence);
        Assert.True(failure.Attempts >= 3, $"expected several attempts within the deadline, got {failure.Attempts}");
        Assert.Contains("may or may not have been applied", failure.Message);
        Assert.Contains("deadline of 5 s passed", failure.Message);

        // Every attempt carried the same session sequence, and more than one node was tried.
        var attempts = Nodes.SelectMany(n => DrainCommands(n.Value).Select(c => (n.Key, c))).ToList();
        Assert.Equal(failure.Attempts - 1, attempts.Count); // the first was taken above
        Assert.All(attempts, a => Assert.Equal(1, a.c.Sequence));
        Assert.True(attempts.Select(a => a.Key).Distinct().Count() >= 2, "the client kept asking one node");

        // And nothing more is sent once the client gave up.
        Advance(client, Deadline);
        AssertNoNodeReceivedAnything();
        Assert.Equal(0, Settle(client).InFlight + Settle(client).BackingOff);
    }

    [Fact]
    public void Gives_up_after_the_last_attempt_with_outcome_unknown()
    {
        var client = StartClient(Options() with { MaxAttempts = 2, Deadline = TimeSpan.FromMinutes(1) });
        var requester = CreateTestProbe();
        client.Tell(new SendCommand("set x"), requester.Ref);
        var (first, _, _) = ExpectAtSomeNode<ClientCommand>();
        Advance(client, RequestTimeout);
        Advance(client, BackoffMax);
        ExpectAtSomeNode<ClientCommand>(except: first);
        Advance(client, RequestTimeout);

        var failure = ExpectFailure<RaftCommandOutcomeUnknownException>(requester);
        Assert.Equal(2, failure.Attempts);
        Assert.Contains("no attempts left (2)", failure.Message);
        Advance(client, TimeSpan.FromMinutes(1));
        AssertNoNodeReceivedAnything();
    }

    [Fact]
    public void A_command_every_node_refused_as_not_leader_fails_as_unavailable_not_as_unknown()
    {
        var client = StartClient(Options() with { MaxAttempts = 3 });
        var requester = CreateTestProbe();
        client.Tell(new SendCommand("set x"), requester.Ref);
        for (var attempt = 1; attempt <= 3; attempt++)
        {
            var (_, node, _) = ExpectAtSomeNode<ClientCommand>();
            node.Reply(new NotLeader(null, null));
            if (attempt < 3)
            {
                AwaitStatus(client, s => s.BackingOff == 1, "a backoff");
                Advance(client, BackoffMax);
            }
        }

        var failure = ExpectFailure<RaftUnavailableException>(requester);
        Assert.Equal(3, failure.Attempts);
        Assert.Contains("it had no effect", failure.Message);
    }

    [Fact]
    public void A_query_without_an_answer_by_the_deadline_fails_as_unavailable()
    {
        var client = StartClient();
        var requester = CreateTestProbe();
        client.Tell(new SendQuery("get x"), requester.Ref);
        ExpectAtSomeNode<ClientQuery>();

        Assert.Equal(Deadline, AdvanceUntilAnswered(client, requester, Deadline + TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(100)));
        var failure = ExpectFailure<RaftUnavailableException>(requester);
        Assert.Contains("query (String)", failure.Message);
        Assert.Contains("retrying is safe", failure.Message);
    }

    [Fact]
    public void RequestRejected_is_final_and_not_retried()
    {
        var client = StartClient();
        var requester = CreateTestProbe();
        client.Tell(new SendCommand("set x"), requester.Ref);
        var (_, node, _) = ExpectAtSomeNode<ClientCommand>();
        node.Reply(new RequestRejected("the command cannot be serialized"));

        var failure = ExpectFailure<RaftRequestRejectedException>(requester);
        Assert.Equal("the command cannot be serialized", failure.Reason);
        Assert.Contains("rejected command 1 (String): the command cannot be serialized", failure.Message);
        Advance(client, Deadline + Deadline);
        AssertNoNodeReceivedAnything();
        requester.ExpectNoMsg(TimeSpan.FromMilliseconds(50));
    }

    [Fact]
    public void CommandFailed_is_final_and_not_retried()
    {
        var client = StartClient();
        var requester = CreateTestProbe();
        client.Tell(new SendCommand("divide by zero"), requester.Ref);
        var (_, node, _) = ExpectAtSomeNode<ClientCommand>();
        node.Reply(new CommandFailed(9, "Attempted to divide by zero."));

        var failure = ExpectFailure<RaftCommandFailedException>(requester);
        Assert.Equal(9, failure.Index);
        Assert.Contains("committed at log index 9", failure.Message);
        Advance(client, Deadline + Deadline);
        AssertNoNodeReceivedAnything();
    }

    [Fact]
    public void A_late_answer_to_an_earlier_attempt_completes_the_command()
    {
        var client = StartClient();
        var requester = CreateTestProbe();
        client.Tell(new SendCommand("set x"), requester.Ref);
        var (first, firstNode, _) = ExpectAtSomeNode<ClientCommand>();
        Advance(client, RequestTimeout);
        Advance(client, BackoffMax);
        ExpectAtSomeNode<ClientCommand>(except: first);

        // The first node committed it after all; same session sequence, so it is the command's answer.
        firstNode.Reply(new CommandApplied(4, "applied once"));
        Assert.Equal(new CommandApplied(4, "applied once"), requester.ExpectMsg<CommandApplied>());
        AwaitStatus(client, s => s.InFlight == 0, "the retry to be dropped");
        Advance(client, Deadline);
        AssertNoNodeReceivedAnything();
    }

    [Fact]
    public void A_stale_NotLeader_from_an_earlier_attempt_is_ignored()
    {
        var client = StartClient();
        var requester = CreateTestProbe();
        client.Tell(new SendCommand("set x"), requester.Ref);
        var (first, firstNode, _) = ExpectAtSomeNode<ClientCommand>();
        Advance(client, RequestTimeout);
        Advance(client, BackoffMax);
        var (_, secondNode, _) = ExpectAtSomeNode<ClientCommand>(except: first);

        firstNode.Reply(new NotLeader(null, null));
        secondNode.Reply(new CommandApplied(2, null));
        requester.ExpectMsg<CommandApplied>();
        Assert.Equal(2, Settle(client).AttemptsMade);
    }

    [Fact]
    public void Commands_beyond_the_in_flight_window_wait_for_older_ones()
    {
        var client = StartClient(Options() with { MaxCommandsInFlight = 2 });
        var requester = CreateTestProbe();
        var node = OpenSession(client, requester);
        for (var i = 2; i <= 4; i++)
            client.Tell(new SendCommand($"c{i}"), requester.Ref);

        var first = node.ExpectMsg<ClientCommand>();
        var firstAttempt = node.LastSender;
        var second = node.ExpectMsg<ClientCommand>();
        var secondAttempt = node.LastSender;
        Assert.Equal((2L, 3L), (first.Sequence, second.Sequence));
        var status = Settle(client);
        Assert.Equal((2, 1, 3L), (status.InFlight, status.Queued, status.LastSequence));
        AssertNoNodeReceivedAnything();

        // Sequence 3 finishing does not open the window (2 is still unanswered); 2 finishing does.
        secondAttempt.Tell(new CommandApplied(3, null), node.Ref);
        requester.ExpectMsg<CommandApplied>();
        Assert.Equal(1, Settle(client).Queued);
        firstAttempt.Tell(new CommandApplied(2, null), node.Ref);
        requester.ExpectMsg<CommandApplied>();
        Assert.Equal(new ClientCommand("c4", ClientId, 4), node.ExpectMsg<ClientCommand>());
    }

    [Fact]
    public void SessionExpired_opens_a_new_session_and_sends_the_command_there_as_its_first()
    {
        var client = StartClient();
        var requester = CreateTestProbe();
        var node = OpenSession(client, requester);

        // The cluster forgot the session: command 2 was refused, certainly not applied.
        client.Tell(new SendCommand("c2"), requester.Ref);
        Assert.Equal(new ClientCommand("c2", ClientId, 2), node.ExpectMsg<ClientCommand>());
        node.Reply(new SessionExpired(9, "client session unknown"));

        // Sent again, at once, as command 1 of a new session; it goes alone until answered.
        var session = $"{ClientId}/1";
        Assert.Equal(new ClientCommand("c2", session, 1), node.ExpectMsg<ClientCommand>());
        client.Tell(new SendCommand("c3"), requester.Ref);
        AssertNoNodeReceivedAnything();
        node.Reply(new CommandApplied(10, "ok"));
        Assert.Equal(new CommandApplied(10, "ok"), requester.ExpectMsg<CommandApplied>());
        Assert.Equal(new ClientCommand("c3", session, 2), node.ExpectMsg<ClientCommand>());
        Assert.Equal(session, Settle(client).ClientId);
    }

    [Fact]
    public void SessionExpired_after_an_attempt_that_may_have_been_applied_fails_as_outcome_unknown()
    {
        var client = StartClient();
        var requester = CreateTestProbe();
        var first = OpenSession(client, requester);
        client.Tell(new SendCommand("c2"), requester.Ref);
        first.ExpectMsg<ClientCommand>();

        // The first attempt goes unanswered: it may sit in a log and be applied before the session
        // expires. A refusal of the retry then says nothing about the first attempt.
        Advance(client, RequestTimeout);
        Advance(client, BackoffMax);
        var (_, second, retry) = ExpectAtSomeNode<ClientCommand>();
        Assert.Equal(new ClientCommand("c2", ClientId, 2), retry);
        second.Reply(new SessionExpired(12, "client session unknown"));

        var failure = requester.ExpectMsg<Status.Failure>();
        var unknown = Assert.IsType<RaftCommandOutcomeUnknownException>(failure.Cause);
        Assert.Equal((ClientId, 2L), (unknown.ClientId, unknown.Sequence));
        AssertNoNodeReceivedAnything();
    }

    [Fact]
    public void TooManySessions_is_retried_in_the_same_session_to_the_same_leader_after_a_backoff()
    {
        var client = StartClient();
        var requester = CreateTestProbe();
        client.Tell(new SendCommand("c1"), requester.Ref);
        var (leader, node, first) = ExpectAtSomeNode<ClientCommand>();
        Assert.Equal(new ClientCommand("c1", ClientId, 1), first);

        // The table is full of young sessions: certainly not applied; no new session would help.
        node.Reply(new TooManySessions(3, "no room"));
        AssertNoNodeReceivedAnything();
        Advance(client, BackoffMax);

        var (again, retryNode, retry) = ExpectAtSomeNode<ClientCommand>();
        Assert.Equal((leader, new ClientCommand("c1", ClientId, 1)), (again, retry));
        retryNode.Reply(new CommandApplied(4, "ok"));
        Assert.Equal(new CommandApplied(4, "ok"), requester.ExpectMsg<CommandApplied>());
        Assert.Equal(ClientId, Settle(client).ClientId);
    }

    [Fact]
    public void TooManySessions_until_the_deadline_fails_as_unavailable_saying_so()
    {
        var client = StartClient();
        var requester = CreateTestProbe();
        client.Tell(new SendCommand("c1"), requester.Ref);

        // Every attempt is refused; the backoffs add up to the deadline.
        var attempts = 0;
        while (!requester.HasMessages)
        {
            var (_, node, _) = ExpectAtSomeNode<ClientCommand>();
            node.Reply(new TooManySessions(3, "no room"));
            attempts++;
            AwaitStatus(client, s => s.InFlight == 0, "the refusal handled");
            Advance(client, BackoffMax);
        }

        Assert.InRange(attempts, 3, int.MaxValue);
        var unavailable = ExpectFailure<RaftUnavailableException>(requester);
        Assert.True(unavailable.TooManySessions);
        Assert.Contains("no room", unavailable.Message, StringComparison.Ordinal);
    }

    /// <summary>The client's first command, applied: the cluster knows its session from then on. Returns the node that answered.</summary>
    private TestProbe OpenSession(IActorRef client, TestProbe requester)
    {
        client.Tell(new SendCommand("c1"), requester.Ref);
        var (_, node, first) = ExpectAtSomeNode<ClientCommand>();
        Assert.Equal(new ClientCommand("c1", ClientId, 1), first);
        node.Reply(new CommandApplied(1, null));
        requester.ExpectMsg<CommandApplied>();
        return node;
    }

    [Fact]
    public void A_stopped_requester_gets_no_more_retries()
    {
        var client = StartClient();
        var requester = CreateTestProbe();
        client.Tell(new SendCommand("set x"), requester.Ref);
        ExpectAtSomeNode<ClientCommand>();
        Watch(requester.Ref);
        Sys.Stop(requester.Ref);
        ExpectTerminated(requester.Ref);

        AwaitStatus(client, s => s.InFlight == 0, "the client to drop the request");
        Advance(client, RequestTimeout);
        Advance(client, BackoffMax);
        AssertNoNodeReceivedAnything();
        Assert.Equal((0, 0), (Settle(client).InFlight, Settle(client).BackingOff));
    }

    [Fact]
    public void Stopping_the_client_fails_its_outstanding_requests()
    {
        var client = StartClient(Options() with { MaxCommandsInFlight = 1 });
        var requester = CreateTestProbe();
        client.Tell(new SendCommand("sent"), requester.Ref);
        client.Tell(new SendCommand("queued"), requester.Ref);
        client.Tell(new SendQuery("get x"), requester.Ref);
        var (_, node, _) = ExpectAtSomeNode<ClientCommand>();
        node.ExpectMsg<ClientQuery>();
        Assert.Equal(1, Settle(client).Queued);

        Sys.Stop(client);
        var failures = Enumerable.Range(0, 3).Select(_ => requester.ExpectMsg<Status.Failure>().Cause).ToList();
        Assert.Contains(failures, f => f is RaftCommandOutcomeUnknownException { Sequence: 1 });
        Assert.Contains(failures, f => f is RaftUnavailableException && f.Message.Contains("a command (never sent: it waited for older commands to be answered)"));
        Assert.Contains(failures, f => f is RaftUnavailableException && f.Message.Contains("query (String)"));
        Assert.All(failures, f => Assert.Contains("the client actor stopped", f.Message));
        AssertNoNodeReceivedAnything();
    }

    private static List<ClientCommand> DrainCommands(Akka.TestKit.TestProbe probe)
    {
        var commands = new List<ClientCommand>();
        while (probe.HasMessages)
            commands.Add(probe.ExpectMsg<ClientCommand>());
        return commands;
    }
}
