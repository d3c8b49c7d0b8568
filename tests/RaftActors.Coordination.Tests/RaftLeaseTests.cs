using Akka.Actor;
using Akka.Configuration;
using Akka.Coordination;
using Akka.TestKit;
using RaftActors.Client;
using RaftActors.Messages;

namespace RaftActors.Coordination.Tests;

/// <summary>
/// <see cref="RaftLease"/>'s contract in virtual time, with a probe in place of the Raft client
/// actor: it answers each lease command as the cluster would, or not at all.
/// </summary>
public sealed class RaftLeaseTests : Akka.TestKit.Xunit2.TestKit
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private static readonly DateTimeOffset ClusterTime = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000);

    private readonly TestProbe _cluster;
    private readonly TestScheduler _scheduler;
    private readonly RaftLease _lease;
    private readonly TestProbe _lost;

    public RaftLeaseTests()
        : base(ConfigurationFactory.ParseString("akka.scheduler.implementation = \"Akka.TestKit.TestScheduler, Akka.TestKit\""))
    {
        _scheduler = (TestScheduler)Sys.Scheduler;
        _cluster = CreateTestProbe();
        _lost = CreateTestProbe();
        var start = _scheduler.Now;
        var settings = new LeaseSettings("singleton", "owner-a", new TimeoutSettings(Interval, Timeout, TimeSpan.FromSeconds(3)), ConfigurationFactory.Empty);
        _lease = new RaftLease(settings, new RaftClientFacade(_cluster.Ref, new RaftClientOptions()), _scheduler, () => _scheduler.Now - start, Sys.Log);
    }

    [Fact]
    public async Task Acquire_asks_for_heartbeat_timeout_and_holds_the_lease_once_granted()
    {
        var acquired = _lease.Acquire(OnLost);
        Assert.Equal(new AcquireLease("singleton", "owner-a", Timeout), ExpectCommand());
        Assert.False(_lease.CheckLease());

        Grant(token: 7);

        Assert.True(await acquired);
        Assert.True(_lease.CheckLease());
        Assert.Equal(7, _lease.FencingToken);
    }

    [Fact]
    public async Task Renewals_every_heartbeat_interval_keep_the_lease_past_the_first_timeout()
    {
        await AcquireGranted(token: 7);

        for (var i = 1; i <= 8; i++)
        {
            _scheduler.Advance(Interval);
            Assert.Equal(new AcquireLease("singleton", "owner-a", Timeout), ExpectCommand());
            Grant(token: 7);
            var renewedUntil = Interval * i + Timeout - Interval; // counted from the renewal's sending, an interval short
            AwaitCondition(() => _lease.HeldUntil == renewedUntil, TimeSpan.FromSeconds(3));
        }

        Assert.True(_lease.CheckLease());
        _lost.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public async Task Without_a_successful_renewal_the_lease_is_lost_an_interval_before_heartbeat_timeout_after_the_last_grant_was_sent()
    {
        var acquired = _lease.Acquire(OnLost);
        ExpectCommand();
        _scheduler.Advance(TimeSpan.FromSeconds(3)); // the grant is slow to come back
        Grant(token: 7);
        Assert.True(await acquired);

        // Renewals go out and get no answer (the cluster is cut off).
        _scheduler.Advance(Timeout - Interval - TimeSpan.FromSeconds(3) - TimeSpan.FromMilliseconds(1));
        Assert.True(_lease.CheckLease());
        _lost.ExpectNoMsg(TimeSpan.FromMilliseconds(100));

        _scheduler.Advance(TimeSpan.FromMilliseconds(1));
        Assert.False(_lease.CheckLease());
        Assert.Null(_lease.FencingToken);
        Assert.Contains("heartbeat-timeout", _lost.ExpectMsg<LeaseException>().Message);
        _scheduler.Advance(Timeout);
        _cluster.ExpectMsg<object>(); // the renewal that was due; none after the loss
        _cluster.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public async Task A_grant_that_comes_back_after_the_local_term_has_passed_is_released_and_not_claimed()
    {
        var acquired = _lease.Acquire(OnLost);
        ExpectCommand();
        _scheduler.Advance(Timeout - Interval);
        Grant(token: 7);

        await Assert.ThrowsAsync<LeaseTimeoutException>(() => acquired);
        Assert.False(_lease.CheckLease());
        Assert.Equal(new ReleaseLease("singleton", "owner-a"), ExpectCommand());
    }

    [Fact]
    public async Task A_holders_acquire_answered_after_its_term_throws_and_the_lease_is_not_claimed()
    {
        await AcquireGranted(token: 7);

        var again = _lease.Acquire(OnLost);
        ExpectCommand();
        _scheduler.Advance(Timeout - Interval); // the renewal timer's own command goes out meanwhile, unanswered
        Grant(token: 7);

        await Assert.ThrowsAsync<LeaseTimeoutException>(() => again);
        Assert.False(_lease.CheckLease());
        _lost.ExpectMsg<LeaseException>();
    }

    [Fact]
    public async Task A_renewal_the_cluster_refuses_loses_the_lease_at_once()
    {
        await AcquireGranted(token: 7);
        _scheduler.Advance(Interval);
        ExpectCommand();

        _cluster.Reply(new CommandApplied(12, new LeaseResult(false, new LeaseRecord("singleton", "owner-b", 11, ClusterTime + Timeout))));

        Assert.Contains("owner-b", _lost.ExpectMsg<LeaseException>().Message);
        Assert.False(_lease.CheckLease());
    }

    [Fact]
    public async Task A_holder_refused_when_it_acquires_again_stops_claiming_the_lease_and_is_told()
    {
        await AcquireGranted(token: 7);

        var again = _lease.Acquire(OnLost);
        ExpectCommand();
        _cluster.Reply(new CommandApplied(12, new LeaseResult(false, new LeaseRecord("singleton", "owner-b", 11, ClusterTime + Timeout))));

        Assert.False(await again);
        Assert.False(_lease.CheckLease());
        Assert.Contains("owner-b", _lost.ExpectMsg<LeaseException>().Message);
    }

    [Fact]
    public async Task Acquire_is_false_when_another_owner_holds_it()
    {
        var acquired = _lease.Acquire(OnLost);
        ExpectCommand();
        _cluster.Reply(new CommandApplied(3, new LeaseResult(false, new LeaseRecord("singleton", "owner-b", 2, ClusterTime + Timeout))));

        Assert.False(await acquired);
        Assert.False(_lease.CheckLease());
    }

    [Fact]
    public async Task Acquire_fails_with_LeaseTimeoutException_when_the_outcome_is_unknown_and_is_false_when_no_leader_took_it()
    {
        var unknown = _lease.Acquire(OnLost);
        ExpectCommand();
        _cluster.Reply(new Status.Failure(new RaftCommandOutcomeUnknownException("c", 1, 3, TimeSpan.FromSeconds(3), "no answer")));
        await Assert.ThrowsAsync<LeaseTimeoutException>(() => unknown);
        Assert.False(_lease.CheckLease());

        var unavailable = _lease.Acquire(OnLost);
        ExpectCommand();
        _cluster.Reply(new Status.Failure(new RaftUnavailableException("the command", 3, TimeSpan.FromSeconds(3), "not the leader")));
        Assert.False(await unavailable);
    }

    [Fact]
    public async Task Release_stops_claiming_the_lease_at_once_and_reports_the_clusters_answer()
    {
        await AcquireGranted(token: 7);

        var released = _lease.Release();
        Assert.False(_lease.CheckLease());
        Assert.Equal(new ReleaseLease("singleton", "owner-a"), ExpectCommand());
        _cluster.Reply(new CommandApplied(9, new LeaseResult(true, null)));

        Assert.True(await released);
        _scheduler.Advance(Timeout * 2);
        _cluster.ExpectNoMsg(TimeSpan.FromMilliseconds(100)); // no renewal after a release
        _lost.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
    }

    private void OnLost(Exception reason) => _lost.Ref.Tell(reason);

    private async Task AcquireGranted(long token)
    {
        var acquired = _lease.Acquire(OnLost);
        ExpectCommand();
        Grant(token);
        Assert.True(await acquired);
    }

    private void Grant(long token) =>
        _cluster.Reply(new CommandApplied(token, new LeaseResult(true, new LeaseRecord("singleton", "owner-a", token, ClusterTime + Timeout))));

    /// <summary>The lease command the client actor was asked to send (its request type is the library's own).</summary>
    private object ExpectCommand()
    {
        var request = _cluster.ExpectMsg<object>(TimeSpan.FromSeconds(3));
        return request.GetType().GetProperty("Command")!.GetValue(request)!;
    }
}
