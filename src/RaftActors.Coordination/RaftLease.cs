using Akka.Actor;
using Akka.Coordination;
using Akka.Event;
using RaftActors.Client;
using RaftActors.Serialization;

namespace RaftActors.Coordination;

/// <summary>
/// An Akka.Coordination <see cref="Lease"/> kept by a RaftActors cluster that runs
/// <see cref="LeaseStateMachine"/>. Name it as the <c>lease-class</c> of
/// <c>akka.coordination.lease.raft</c>, which also lists the Raft cluster's members
/// (<c>raft.members</c>, as the nodes list them); Akka's <see cref="LeaseProvider"/> creates it.
/// </summary>
/// <remarks>
/// <para>The Raft cluster grants the lease for <c>heartbeat-timeout</c> by its cluster time (which
/// runs no faster than real time);
/// this lease renews it every <c>heartbeat-interval</c>. Locally it counts itself the holder until
/// <c>heartbeat-timeout</c> minus one <c>heartbeat-interval</c> after it SENT the last renewal that
/// succeeded: the cluster stamped that renewal after it was sent, so the local view ends before
/// the cluster's, and the interval held back leaves the lost callback time to run before anyone
/// else can be granted the lease, however late a timer fires or a clock drifts within it. When
/// that moment passes without a newer renewal, <see cref="CheckLease"/> turns false and the
/// lease-lost callback runs: an owner cut off from the Raft majority says so within
/// <c>heartbeat-timeout</c>. (Akka requires the interval to be below half the timeout, so a
/// renewal is always due well before the local view ends.)</para>
/// <para>Answers: <see cref="Acquire()"/> is true when granted or renewed, false when another
/// owner holds the lease or no Raft leader took the command (certainly not granted). It fails
/// with <see cref="LeaseTimeoutException"/> when the outcome is unknown (it may have been granted:
/// acquire again, which renews it if so, or let it expire), and when the grant came back after
/// the time this owner could count on it had passed (it is released again). <see cref="Release"/>
/// stops claiming the lease at once and is true when the cluster freed it.</para>
/// </remarks>
public sealed class RaftLease : Lease
{
    private readonly RaftClientFacade _client;
    private readonly IScheduler _scheduler;
    private readonly Func<TimeSpan> _clock;
    private readonly ILoggingAdapter _log;
    private readonly object _gate = new();
    private Held? _held;
    private ICancelable? _timers;
    private bool _renewing;

    /// <summary>What Akka's <see cref="LeaseProvider"/> calls: reads the Raft cluster's members from the lease's configuration and starts a Raft client.</summary>
    public RaftLease(LeaseSettings settings, ExtendedActorSystem system)
        : this(settings, StartClient(settings, system), system.Scheduler, () => system.Scheduler.MonotonicClock, Logging.GetLogger(system, typeof(RaftLease)))
    {
    }

    /// <summary>A lease over <paramref name="client"/>, timed by <paramref name="scheduler"/> and the monotonic <paramref name="clock"/> (virtual in tests).</summary>
    internal RaftLease(LeaseSettings settings, RaftClientFacade client, IScheduler scheduler, Func<TimeSpan> clock, ILoggingAdapter log)
        : base(settings)
    {
        _client = client;
        _scheduler = scheduler;
        _clock = clock;
        _log = log;
    }

    private TimeoutSettings Timeouts => Settings.TimeoutSettings;

    /// <summary>Acquires or renews: the cluster grants the lease for heartbeat-timeout by its clock.</summary>
    private AcquireLease AcquireCommand => new(Settings.LeaseName, Settings.OwnerName, Timeouts.HeartbeatTimeout);

    /// <summary>How long after sending a command that succeeds this owner counts itself the holder.</summary>
    private TimeSpan LocalTerm => Timeouts.HeartbeatTimeout - Timeouts.HeartbeatInterval;

    private static RaftClientFacade StartClient(LeaseSettings settings, ExtendedActorSystem system)
    {
        RaftExtension.Get(system); // the client's messages to the nodes
        LeaseMessageSerializer.Register(system);
        var members = RaftClient.MembersFromConfig(settings.LeaseConfig);
        var timeout = settings.TimeoutSettings.OperationTimeout;
        var options = new RaftClientOptions
        {
            ClientId = $"lease/{settings.LeaseName}/{settings.OwnerName}/{Guid.NewGuid():N}",
            Deadline = timeout,
            // A few attempts fit in the operation's time, so a dead member costs one of them.
            RequestTimeout = timeout / 3,
        };
        return RaftClientFacade.Start(system, members, options);
    }

    public override Task<bool> Acquire() => Acquire(leaseLostCallback: null!);

    public override async Task<bool> Acquire(Action<Exception> leaseLostCallback)
    {
        var sentAt = _clock();
        LeaseResult result;
        try
        {
            result = await SendAsync(AcquireCommand).ConfigureAwait(false);
        }
        catch (RaftUnavailableException e)
        {
            _log.Warning("Lease {0}: no Raft leader took the acquire of {1}, so it was not granted: {2}", Settings.LeaseName, Settings.OwnerName, e.Message);
            return false;
        }

        if (!result.Succeeded)
        {
            _log.Info("Lease {0}: {1} is refused; {2} holds it until {3:O}", Settings.LeaseName, Settings.OwnerName, result.Holder?.Owner, result.Holder?.ExpiresAt);
            Held? lost;
            lock (_gate)
                lost = _held is null ? null : TakeLost();
            if (lost is not null)
                NotifyLost(lost, $"the Raft cluster refused to renew it: {result.Holder?.Owner ?? "nobody"} holds it");
            return false;
        }

        var until = sentAt + LocalTerm;
        if (_clock() >= until)
        {
            // Granted, but so late that the time this owner may count on has already passed.
            Held? lost;
            lock (_gate)
                lost = _held is null ? null : TakeLost();
            if (lost is not null)
                NotifyLost(lost, "a renewal was granted only after the time it could be counted on had passed");
            ReleaseUnclaimed();
            throw new LeaseTimeoutException(
                $"lease {Settings.LeaseName} was granted to {Settings.OwnerName} only after its local term ({LocalTerm}) had passed; it is released again");
        }

        lock (_gate)
        {
            var onLost = leaseLostCallback ?? _held?.OnLost;
            _held = new Held(result.Holder!.FencingToken, until, onLost);
            ScheduleTimers();
        }

        _log.Debug("Lease {0} acquired by {1} (fencing token {2})", Settings.LeaseName, Settings.OwnerName, result.Holder.FencingToken);
        return true;
    }

    public override async Task<bool> Release()
    {
        // Never claimed again once a release is under way, whatever its outcome.
        lock (_gate)
        {
            _held = null;
            CancelTimers();
        }

        try
        {
            var result = await SendAsync(new ReleaseLease(Settings.LeaseName, Settings.OwnerName)).ConfigureAwait(false);
            return result.Succeeded;
        }
        catch (RaftUnavailableException e)
        {
            _log.Warning("Lease {0}: no Raft leader took the release by {1}; it expires by itself: {2}", Settings.LeaseName, Settings.OwnerName, e.Message);
            return false;
        }
    }

    public override bool CheckLease()
    {
        lock (_gate)
            return _held is { } held && _clock() < held.Until;
    }

    /// <summary>
    /// The fencing token of the grant this owner holds: the log index at which the cluster granted
    /// it, higher for every later grant, so a resource that remembers the highest token it has seen
    /// can turn away a holder that lost the lease. Null whenever <see cref="CheckLease"/> is false.
    /// </summary>
    public long? FencingToken
    {
        get
        {
            lock (_gate)
                return _held is { } held && _clock() < held.Until ? held.Token : null;
        }
    }

    /// <summary>Until when, by the local clock, this owner counts itself the holder; null when it does not.</summary>
    internal TimeSpan? HeldUntil
    {
        get
        {
            lock (_gate)
                return _held?.Until;
        }
    }

    /// <summary>
    /// Sends a lease command and returns the state machine's answer. An unknown outcome becomes a
    /// <see cref="LeaseTimeoutException"/>, a refusal or a failure in the state machine a
    /// <see cref="LeaseException"/>; an unavailable cluster (certainly no effect) is left to the caller.
    /// </summary>
    private async Task<LeaseResult> SendAsync(ILeaseMessage command)
    {
        try
        {
            var applied = await _client.SendAsync(command).ConfigureAwait(false);
            return applied.Result as LeaseResult
                ?? throw new LeaseException($"the Raft cluster answered {command} with {applied.Result?.GetType().Name ?? "null"}: does it run {nameof(LeaseStateMachine)}?");
        }
        catch (RaftCommandOutcomeUnknownException e)
        {
            throw new LeaseTimeoutException($"{command}: the outcome is unknown, the lease may or may not have changed ({e.Message})");
        }
        catch (Exception e) when (e is RaftRequestRejectedException or RaftCommandFailedException)
        {
            throw new LeaseException($"{command}: {e.Message}");
        }
    }

    /// <summary>The next renewal, and the moment the lease is lost unless a renewal succeeds first.</summary>
    private void ScheduleTimers()
    {
        CancelTimers();
        var timers = new Cancelable(_scheduler);
        _timers = timers;
        var now = _clock();
        if (!_renewing)
            _scheduler.Advanced.ScheduleOnce(Timeouts.HeartbeatInterval, () => _ = RenewAsync(), timers);
        _scheduler.Advanced.ScheduleOnce(Max(TimeSpan.Zero, _held!.Until - now), OnDeadline, timers);
    }

    private void CancelTimers()
    {
        _timers?.Cancel();
        _timers = null;
    }

    private async Task RenewAsync()
    {
        long token;
        lock (_gate)
        {
            if (_held is null || _renewing)
                return;
            token = _held.Token;
            _renewing = true;
        }

        var sentAt = _clock();
        LeaseResult? result = null;
        try
        {
            result = await SendAsync(AcquireCommand).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // The deadline stands; the next renewal tries again. Whatever failed, renewals go on.
            _log.Warning("Lease {0}: renewal by {1} failed: {2}", Settings.LeaseName, Settings.OwnerName, e.Message);
        }

        Held? lost = null;
        lock (_gate)
        {
            _renewing = false;
            if (_held is not { } held || held.Token != token)
            {
                // Released or lost meanwhile; or acquired anew, and then this renewal's successor is due.
                if (_held is not null)
                    ScheduleTimers();
                return;
            }

            if (result is null)
            {
                _scheduler.Advanced.ScheduleOnce(Timeouts.HeartbeatInterval, () => _ = RenewAsync(), _timers!);
            }
            else if (result.Succeeded && result.Holder!.FencingToken == token)
            {
                _held = held with { Until = Max(held.Until, sentAt + LocalTerm) };
                ScheduleTimers();
            }
            else
            {
                // Refused, or granted anew: the grant held expired in the cluster in between.
                lost = TakeLost();
            }
        }

        if (lost is not null)
        {
            if (result is { Succeeded: true })
                ReleaseUnclaimed();
            NotifyLost(lost, $"the Raft cluster no longer counts {Settings.OwnerName} as the holder of grant {token} (now: {result?.Holder?.Owner ?? "nobody"})");
        }
    }

    private void OnDeadline()
    {
        Held? lost;
        lock (_gate)
        {
            if (_held is not { } held)
                return;
            if (_clock() < held.Until)
            {
                ScheduleTimers(); // a renewal moved it meanwhile
                return;
            }

            lost = TakeLost();
        }

        NotifyLost(lost, $"no renewal succeeded in time: the Raft cluster may grant it to another owner {Timeouts.HeartbeatTimeout} (heartbeat-timeout) after the last one sent");
    }

    /// <summary>Gives back a grant this owner does not claim, which would only keep others waiting; if that fails, it expires.</summary>
    private void ReleaseUnclaimed() =>
        Release().ContinueWith(
            t => _log.Warning("Lease {0}: releasing a grant {1} does not claim failed; it expires by itself: {2}", Settings.LeaseName, Settings.OwnerName, t.Exception!.GetBaseException().Message),
            TaskContinuationOptions.OnlyOnFaulted);

    private Held TakeLost()
    {
        var held = _held!;
        _held = null;
        CancelTimers();
        return held;
    }

    private void NotifyLost(Held lost, string reason)
    {
        _log.Warning("Lease {0} lost by {1}: {2}", Settings.LeaseName, Settings.OwnerName, reason);
        try
        {
            lost.OnLost?.Invoke(new LeaseException($"lease {Settings.LeaseName} lost by {Settings.OwnerName}: {reason}"));
        }
        catch (Exception e)
        {
            _log.Error(e, "Lease {0}: the lease-lost callback failed", Settings.LeaseName);
        }
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    /// <summary>The grant this owner holds: its fencing token, until when locally, and who to tell when it is lost.</summary>
    private sealed record Held(long Token, TimeSpan Until, Action<Exception>? OnLost);
}
