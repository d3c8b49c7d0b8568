namespace RaftActors.Core;

/// <summary>
/// How long the replicated client sessions live and how many are kept (thesis §6.3). It is part
/// of the replicated state, not of each node's settings: a leader writes its policy into the
/// no-op that starts its term, and every state machine applies it from that entry on, so that all
/// replicas expire and evict the same sessions at the same index even while their settings differ
/// (during a rolling change of <c>raft.sessions.*</c>).
/// </summary>
public sealed record SessionPolicy
{
    /// <param name="expiry">A session idle longer than this, by the leaders' clocks stamped on the log, is forgotten.</param>
    /// <param name="maxSessions">Beyond this many sessions, the least recently used are forgotten.</param>
    /// <exception cref="ArgumentOutOfRangeException">The expiry is not a positive whole number of milliseconds, or the maximum is below 1.</exception>
    public SessionPolicy(TimeSpan expiry, int maxSessions)
    {
        if (expiry < TimeSpan.FromMilliseconds(1) || expiry.Ticks % TimeSpan.TicksPerMillisecond != 0)
            throw new ArgumentOutOfRangeException(nameof(expiry), expiry, "the session expiry must be a positive whole number of milliseconds");
        ArgumentOutOfRangeException.ThrowIfLessThan(maxSessions, 1);
        Expiry = expiry;
        MaxSessions = maxSessions;
    }

    public TimeSpan Expiry { get; }

    public int MaxSessions { get; }

    internal long ExpiryMilliseconds => Expiry.Ticks / TimeSpan.TicksPerMillisecond;

    /// <summary>
    /// The built-in policy (reference.conf's values): it also governs every log until an entry
    /// carries a policy, which keeps replicas equal whatever their settings say.
    /// </summary>
    public static SessionPolicy Default { get; } = new(TimeSpan.FromMinutes(10), 100_000);

    public override string ToString() => $"sessions expire after {Expiry.TotalMilliseconds} ms idle, at most {MaxSessions}";
}
