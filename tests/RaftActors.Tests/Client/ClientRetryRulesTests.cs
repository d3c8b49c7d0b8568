using RaftActors.Client;

namespace RaftActors.Tests.Client;

/// <summary>The client's retry decisions on their own, without actors or time: node names are strings, randomness seeded.</summary>
public sealed class ClientRetryRulesTests
{
    private static readonly string[] Members = ["n1", "n2", "n3"];

    private static readonly RaftClientOptions Options = new()
    {
        RetryBackoffMin = TimeSpan.FromMilliseconds(20),
        RetryBackoffMax = TimeSpan.FromMilliseconds(160),
    };

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void A_hint_is_followed_at_once_as_many_times_in_a_row_as_there_are_members_then_the_client_backs_off(int seed)
    {
        var rules = new ClientRetryRules<string>(() => Members, Options, new Random(seed));
        var command = new RetryState(changesState: true, sentAgainAfterUnknown: true);
        for (var i = 0; i < Members.Length; i++)
        {
            var from = rules.StartAttempt(command);
            var hint = Members.First(m => m != from);
            Assert.Equal(RetryAction.SendNow, rules.AfterAttempt(command, from, AttemptEnd.NotLeader, hint).Action);
            Assert.Equal(hint, rules.Target());
        }

        var bouncing = rules.StartAttempt(command);
        var decision = rules.AfterAttempt(command, bouncing, AttemptEnd.NotLeader, Members.First(m => m != bouncing));
        Assert.Equal(RetryAction.SendAfterBackoff, decision.Action);
        Assert.NotEqual(bouncing, rules.Target());
        Assert.False(command.MayHaveTakenEffect, "NotLeader: nothing was done");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void After_a_failed_attempt_the_next_goes_to_another_member_after_a_growing_jittered_backoff(int seed)
    {
        var rules = new ClientRetryRules<string>(() => Members, Options, new Random(seed));
        var query = new RetryState(changesState: false, sentAgainAfterUnknown: true);
        var ceilings = new[] { 20, 40, 80, 160, 160 };
        foreach (var ceiling in ceilings)
        {
            var node = rules.StartAttempt(query);
            var decision = rules.AfterAttempt(query, node, AttemptEnd.TimedOut);
            Assert.Equal(RetryAction.SendAfterBackoff, decision.Action);
            Assert.InRange(decision.Delay, TimeSpan.FromMilliseconds(Math.Max(20, ceiling / 2)), TimeSpan.FromMilliseconds(ceiling));
            Assert.NotEqual(node, rules.Target());
        }

        Assert.False(query.MayHaveTakenEffect, "a query changes nothing");
        Assert.Equal(GivenUpOutcome.Unavailable, ClientRetryRules<string>.GiveUp(query, attemptInFlight: true));
    }

    [Fact]
    public void A_command_without_a_definite_answer_may_have_been_applied_and_is_sent_again_in_its_session()
    {
        var rules = new ClientRetryRules<string>(() => Members, Options, new Random(1));
        var command = new RetryState(changesState: true, sentAgainAfterUnknown: true);
        var node = rules.StartAttempt(command);
        Assert.Equal(GivenUpOutcome.Unavailable, ClientRetryRules<string>.GiveUp(new RetryState(true, true), attemptInFlight: false));

        Assert.Equal(RetryAction.SendAfterBackoff, rules.AfterAttempt(command, node, AttemptEnd.OutcomeUnknown).Action);
        Assert.True(command.MayHaveTakenEffect);
        Assert.Equal(GivenUpOutcome.Unknown, ClientRetryRules<string>.GiveUp(command, attemptInFlight: false));

        // A command given up while an attempt is still out may yet land in a log.
        var sentOnce = new RetryState(changesState: true, sentAgainAfterUnknown: true);
        rules.StartAttempt(sentOnce);
        Assert.Equal(GivenUpOutcome.Unknown, ClientRetryRules<string>.GiveUp(sentOnce, attemptInFlight: true));
    }

    [Theory]
    [InlineData(nameof(AttemptEnd.OutcomeUnknown))]
    [InlineData(nameof(AttemptEnd.TimedOut))]
    [InlineData(nameof(AttemptEnd.UnexpectedAnswer))]
    public void A_membership_change_that_may_have_taken_effect_is_not_sent_again(string ending)
    {
        var end = Enum.Parse<AttemptEnd>(ending);
        var rules = new ClientRetryRules<string>(() => Members, Options, new Random(1));
        var change = new RetryState(changesState: true, sentAgainAfterUnknown: false);
        var node = rules.StartAttempt(change);
        Assert.Equal(RetryAction.GiveUp, rules.AfterAttempt(change, node, end).Action);
        Assert.Equal(GivenUpOutcome.Unknown, ClientRetryRules<string>.GiveUp(change, attemptInFlight: false));

        // Refused as not the leader, or by a leader not ready yet, it did nothing: it goes again.
        var refused = new RetryState(changesState: true, sentAgainAfterUnknown: false);
        Assert.Equal(RetryAction.SendAfterBackoff, rules.AfterAttempt(refused, rules.StartAttempt(refused), AttemptEnd.LeaderNotReady).Action);
    }

    [Fact]
    public void A_backoff_that_would_leave_no_time_for_an_answer_before_the_deadline_ends_the_request_now()
    {
        var rules = new ClientRetryRules<string>(() => Members, Options, new Random(1));
        var command = new RetryState(changesState: true, sentAgainAfterUnknown: true);
        var decision = rules.AfterAttempt(command, rules.StartAttempt(command), AttemptEnd.NotLeader, timeLeft: TimeSpan.FromMilliseconds(40));
        Assert.Equal(RetryAction.GiveUp, decision.Action);
        Assert.Equal(GivenUpOutcome.Unavailable, ClientRetryRules<string>.GiveUp(command, attemptInFlight: false));

        var later = new RetryState(changesState: true, sentAgainAfterUnknown: true);
        Assert.Equal(RetryAction.SendAfterBackoff,
            rules.AfterAttempt(later, rules.StartAttempt(later), AttemptEnd.NotLeader, timeLeft: TimeSpan.FromMilliseconds(41)).Action);
    }

    [Fact]
    public void The_last_attempt_ends_the_request()
    {
        var rules = new ClientRetryRules<string>(() => Members, Options with { MaxAttempts = 2 }, new Random(1));
        var query = new RetryState(changesState: false, sentAgainAfterUnknown: true);
        Assert.Equal(RetryAction.SendAfterBackoff, rules.AfterAttempt(query, rules.StartAttempt(query), AttemptEnd.NotLeader).Action);
        var decision = rules.AfterAttempt(query, rules.StartAttempt(query), AttemptEnd.NotLeader);
        Assert.Equal((RetryAction.GiveUp, "no attempts left (2)"), (decision.Action, decision.Reason));
        Assert.True(rules.OutOfAttempts(query));
    }
}
