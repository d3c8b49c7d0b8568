using Akka.Actor;

namespace RaftActors.Client;

/// <summary>
/// The attempt timeouts and deadlines of a <see cref="RaftClient"/>'s requests under one actor
/// timer, armed for the earliest. Every attempt waits the same <see cref="RaftClientOptions.RequestTimeout"/>,
/// so attempts fall due in the order they started and a queue keeps them sorted; deadlines differ
/// per request (most take the client's, some their own), so a priority queue orders them. Nothing is cancelled: a request
/// answered leaves its entries to fall due, and the client ignores those of requests and attempts
/// that ended — cheaper, at a command's rate, than starting and cancelling two timers per command.
/// </summary>
internal sealed class RequestTimeouts(ITimerScheduler timers, IScheduler clock, TimeSpan attemptTimeout)
{
    private static readonly object TimerKey = new();

    private readonly Queue<(DateTimeOffset Due, long RequestId, int Attempt)> _attempts = new();
    private readonly PriorityQueue<long, DateTimeOffset> _deadlines = new();
    private DateTimeOffset? _armedFor;

    /// <summary>Attempt <paramref name="attempt"/> of request <paramref name="requestId"/> times out after the attempt timeout from now.</summary>
    public void AttemptStarted(long requestId, int attempt)
    {
        var due = clock.Now + attemptTimeout;
        _attempts.Enqueue((due, requestId, attempt));
        ArmFor(due);
    }

    /// <summary>Request <paramref name="requestId"/> reaches its deadline <paramref name="deadline"/> from now.</summary>
    public void RequestReceived(long requestId, TimeSpan deadline)
    {
        var due = clock.Now + deadline;
        _deadlines.Enqueue(requestId, due);
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
            var deadlineDue = _deadlines.TryPeek(out var passedId, out var passedDue) && passedDue <= now;
            if (attemptDue && (!deadlineDue || attempt.Due <= passedDue))
            {
                _attempts.Dequeue();
                attemptTimedOut(attempt.RequestId, attempt.Attempt);
            }
            else if (deadlineDue)
            {
                _deadlines.Dequeue();
                deadlinePassed(passedId);
            }
            else
                break;
        }

        if (_attempts.TryPeek(out var nextAttempt))
            ArmFor(nextAttempt.Due);
        if (_deadlines.TryPeek(out _, out var nextDeadline))
            ArmFor(nextDeadline);
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
