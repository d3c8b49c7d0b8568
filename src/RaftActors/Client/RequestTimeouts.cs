using Akka.Actor;

namespace RaftActors.Client;

/// <summary>
/// The attempt timeouts and deadlines of a <see cref="RaftClient"/>'s requests under one actor
/// timer, armed for the earliest. Every attempt waits the same <see cref="RaftClientOptions.RequestTimeout"/>
/// and every request the same <see cref="RaftClientOptions.Deadline"/>, so each kind falls due in
/// the order it was set and a queue per kind keeps them sorted. Nothing is cancelled: a request
/// answered leaves its entries to fall due, and the client ignores those of requests and attempts
/// that ended — cheaper, at a command's rate, than starting and cancelling two timers per command.
/// </summary>
internal sealed class RequestTimeouts(ITimerScheduler timers, IScheduler clock, TimeSpan attemptTimeout, TimeSpan deadline)
{
    private static readonly object TimerKey = new();

    private readonly Queue<(DateTimeOffset Due, long RequestId, int Attempt)> _attempts = new();
    private readonly Queue<(DateTimeOffset Due, long RequestId)> _deadlines = new();
    private DateTimeOffset? _armedFor;

    /// <summary>Attempt <paramref name="attempt"/> of request <paramref name="requestId"/> times out after the attempt timeout from now.</summary>
    public void AttemptStarted(long requestId, int attempt)
    {
        var due = clock.Now + attemptTimeout;
        _attempts.Enqueue((due, requestId, attempt));
        ArmFor(due);
    }

    /// <summary>Request <paramref name="requestId"/> reaches its deadline after the deadline from now.</summary>
    public void RequestReceived(long requestId)
    {
        var due = clock.Now + deadline;
        _deadlines.Enqueue((due, requestId));
        ArmFor(due);
    }

    /// <summary>
    /// The timer fired (its message is <see cref="Due"/>): reports what fell due, earliest first,
    /// and arms the timer for what remains.
    /// </summary>
    public void Fired(Action<long, int> attemptTimedOut, Action<long> deadlinePassed)
    {
        _armedFor = null;
        var now = clock.Now;
        while (true)
        {
            var attemptDue = _attempts.TryPeek(out var attempt) && attempt.Due <= now;
            var deadlineDue = _deadlines.TryPeek(out var passed) && passed.Due <= now;
            if (attemptDue && (!deadlineDue || attempt.Due <= passed.Due))
            {
                _attempts.Dequeue();
                attemptTimedOut(attempt.RequestId, attempt.Attempt);
            }
            else if (deadlineDue)
            {
                _deadlines.Dequeue();
                deadlinePassed(passed.RequestId);
            }
            else
                break;
        }

        if (_attempts.TryPeek(out var nextAttempt))
            ArmFor(nextAttempt.Due);
        if (_deadlines.TryPeek(out var nextDeadline))
            ArmFor(nextDeadline.Due);
    }

    private void ArmFor(DateTimeOffset due)
    {
        if (_armedFor is { } armed && armed <= due)
            return;
        _armedFor = due;
        var delay = due - clock.Now;
        timers.StartSingleTimer(TimerKey, Due.Instance, delay > TimeSpan.Zero ? delay : TimeSpan.Zero);
    }

    /// <summary>The timer's message.</summary>
    public sealed class Due
    {
        public static readonly Due Instance = new();

        private Due()
        {
        }
    }
}
