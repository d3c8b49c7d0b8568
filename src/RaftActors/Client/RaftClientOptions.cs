namespace RaftActors.Client;

/// <summary>
/// How a <see cref="RaftClient"/> finds the leader and retries. Every request ends, with an answer
/// or a failure, at its <see cref="Deadline"/> (counted from when the client received it) or after
/// <see cref="MaxAttempts"/> attempts, whichever comes first.
/// </summary>
public sealed record RaftClientOptions
{
    /// <summary>
    /// The session id the cluster knows this client's commands by (thesis §6.3): with it and a
    /// per-command sequence number, a retried command is applied at most once. Defaults to a new
    /// GUID, so each client is a new session. Never give two clients the same id, nor a client
    /// started again the id of one that sent commands before: its sequence numbers start again at
    /// 1, so the cluster takes its commands for retries of its predecessor's and answers them with
    /// the earlier results, or, for those older than the results it keeps, with an unknown outcome.
    /// </summary>
    public string ClientId { get; init; } = Guid.NewGuid().ToString();

    /// <summary>How long one attempt waits for a node's answer before trying another node. Default 1 s.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>The shortest pause before a retry that follows no leader hint. Default 20 ms.</summary>
    public TimeSpan RetryBackoffMin { get; init; } = TimeSpan.FromMilliseconds(20);

    /// <summary>
    /// The longest pause before a retry. The n-th consecutive failed attempt of a request waits a
    /// time drawn uniformly from [c/2, c] with c = min(max, min * 2^(n-1)), never below min.
    /// Default 500 ms.
    /// </summary>
    public TimeSpan RetryBackoffMax { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// The time a request may take in all, from when the client received it to its answer.
    /// <see cref="Timeout.InfiniteTimeSpan"/> leaves only <see cref="MaxAttempts"/> as the bound.
    /// Default 10 s.
    /// </summary>
    public TimeSpan Deadline { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How many attempts (messages to nodes) a request may make; null for no limit but the <see cref="Deadline"/>.</summary>
    public int? MaxAttempts { get; init; }

    /// <summary>
    /// At most this many consecutive sequence numbers are in flight at once: a new command waits
    /// while it would be this many or more ahead of the oldest unanswered one. It must stay below
    /// the number of results a node remembers per session (64), or the retry of an old command
    /// could find its session entry gone. Default 32.
    /// </summary>
    public int MaxCommandsInFlight { get; init; } = 32;

    /// <summary>
    /// Seed of the client's random choices (the first member tried, the next member after a
    /// failure, backoff jitter); null draws one, which the client logs so a run can be replayed.
    /// </summary>
    public int? RandomSeed { get; init; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid option.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(ClientId))
            throw new ArgumentException("ClientId must not be empty", nameof(ClientId));
        if (RequestTimeout <= TimeSpan.Zero)
            throw new ArgumentException($"RequestTimeout must be positive, got {RequestTimeout}", nameof(RequestTimeout));
        if (RetryBackoffMin < TimeSpan.Zero)
            throw new ArgumentException($"RetryBackoffMin must not be negative, got {RetryBackoffMin}", nameof(RetryBackoffMin));
        if (RetryBackoffMax < RetryBackoffMin)
            throw new ArgumentException(
                $"RetryBackoffMax ({RetryBackoffMax}) must not be below RetryBackoffMin ({RetryBackoffMin})", nameof(RetryBackoffMax));
        if (Deadline != Timeout.InfiniteTimeSpan && Deadline <= TimeSpan.Zero)
            throw new ArgumentException($"Deadline must be positive or Timeout.InfiniteTimeSpan, got {Deadline}", nameof(Deadline));
        if (MaxAttempts is < 1)
            throw new ArgumentException($"MaxAttempts must be at least 1, got {MaxAttempts}", nameof(MaxAttempts));
        if (Deadline == Timeout.InfiniteTimeSpan && MaxAttempts is null)
            throw new ArgumentException("Without a Deadline a request needs MaxAttempts, or it could retry forever", nameof(Deadline));
        if (MaxCommandsInFlight is < 1 or > 64)
            throw new ArgumentException(
                $"MaxCommandsInFlight must be between 1 and 64 (a node remembers 64 results per session), got {MaxCommandsInFlight}",
                nameof(MaxCommandsInFlight));
    }

    /// <summary>The delay before the <paramref name="failures"/>-th consecutive retry, jittered by <paramref name="random"/>.</summary>
    internal TimeSpan Backoff(int failures, Random random)
    {
        var min = RetryBackoffMin.Ticks;
        var max = RetryBackoffMax.Ticks;
        var ceiling = (double)max;
        if (failures - 1 < 62)
            ceiling = Math.Min(max, Math.Max(min, 1) * Math.Pow(2, Math.Max(0, failures - 1)));
        var drawn = ceiling / 2 + random.NextDouble() * ceiling / 2;
        return TimeSpan.FromTicks(Math.Clamp((long)drawn, min, max));
    }
}
