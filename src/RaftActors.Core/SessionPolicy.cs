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
    /// <param name="expiry">A session idle longer than this, by the cluster time stamped on the log, is forgotten.</param>
    /// <param name="maxSessions">
    /// Beyond this many sessions, the least recently used are forgotten — only those idle at least
    /// <paramref name="minIdle"/>; while none is, a command that would open a new session is refused.
    /// </param>
    /// <param name="minIdle">
    /// How long a session stays safe from eviction by the cap: longer than any client retries a
    /// command, so that a retry never finds its session evicted and applies again. Zero: the cap
    /// evicts any session (the policy of logs written before this field existed).
    /// </param>
    /// <exception cref="ArgumentOutOfRangeException">
    /// The expiry is not a positive whole number of milliseconds, the minimum idle age not a whole
    /// number of milliseconds from 0 to the expiry, or the maximum is below 1.
    /// </exception>
    public SessionPolicy(TimeSpan expiry, int maxSessions, TimeSpan minIdle = default)
    {
        if (expiry < TimeSpan.FromMilliseconds(1) || expiry.Ticks % TimeSpan.TicksPerMillisecond != 0)
            throw new ArgumentOutOfRangeException(nameof(expiry), expiry, "the session expiry must be a positive whole number of milliseconds");
        ArgumentOutOfRangeException.ThrowIfLessThan(maxSessions, 1);
        if (minIdle < TimeSpan.Zero || minIdle.Ticks % TimeSpan.TicksPerMillisecond != 0)
            throw new ArgumentOutOfRangeException(nameof(minIdle), minIdle, "the sessions' minimum idle age must be a whole number of milliseconds, 0 or more");
        if (minIdle > expiry)
            throw new ArgumentOutOfRangeException(nameof(minIdle), minIdle, $"the sessions' minimum idle age must not exceed their expiry ({expiry})");
        Expiry = expiry;
        MaxSessions = maxSessions;
        MinIdle = minIdle;
    }

    public TimeSpan Expiry { get; }

    public int MaxSessions { get; }

    /// <summary>How long after its last command a session may be evicted by the cap (never before).</summary>
    public TimeSpan MinIdle { get; }

    internal long ExpiryMilliseconds => Expiry.Ticks / TimeSpan.TicksPerMillisecond;

    internal long MinIdleMilliseconds => MinIdle.Ticks / TimeSpan.TicksPerMillisecond;

    /// <summary>This policy as a node that cannot write the minimum idle age into the log states it (a cap that evicts any session).</summary>
    internal SessionPolicy WithoutMinIdle() => MinIdle == TimeSpan.Zero ? this : new SessionPolicy(Expiry, MaxSessions);

    /// <summary>The built-in settings (reference.conf's <c>raft.sessions</c>).</summary>
    public static SessionPolicy Default { get; } = new(TimeSpan.FromMinutes(10), 200_000, TimeSpan.FromSeconds(15));

    /// <summary>
    /// The policy that governs every log until an entry carries one: the built-in policy of the
    /// releases before the minimum idle age, so that nodes of every release apply such a log alike.
    /// </summary>
    public static SessionPolicy Initial { get; } = new(TimeSpan.FromMinutes(10), 100_000);

    public override string ToString() =>
        $"sessions expire after {Expiry.TotalMilliseconds} ms idle, at most {MaxSessions}, none evicted before {MinIdle.TotalMilliseconds} ms idle";
}
