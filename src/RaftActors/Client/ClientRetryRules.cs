namespace RaftActors.Client;

/// <summary>How an attempt ended without a definite answer.</summary>
internal enum AttemptEnd
{
    /// <summary>The node does not lead (it may name the leader): certainly nothing was done.</summary>
    NotLeader,

    /// <summary>A new leader has not committed an entry of its term yet: nothing was done; it will in a round trip.</summary>
    LeaderNotReady,

    /// <summary>The node took the request but lost its leadership before it was committed: it may still be.</summary>
    OutcomeUnknown,

    /// <summary>No answer in time: the request may sit in a leader's log.</summary>
    TimedOut,

    /// <summary>An answer the client does not know: treated as no answer.</summary>
    UnexpectedAnswer,

    /// <summary>
    /// The leader's session table has no room for the command's new session yet: certainly not
    /// applied; sent again to the same leader after a backoff, when an older session may have made room.
    /// </summary>
    TooManySessions,
}

/// <summary>What a client does next with a request whose attempt ended without a definite answer.</summary>
internal enum RetryAction
{
    /// <summary>Send it again at once, to the leader a node named.</summary>
    SendNow,

    /// <summary>Send it again after <see cref="RetryDecision.Delay"/>, to <see cref="ClientRetryRules{TNode}.Target"/>.</summary>
    SendAfterBackoff,

    /// <summary>Stop: <see cref="ClientRetryRules{TNode}.GiveUp"/> says with what outcome.</summary>
    GiveUp,
}

/// <summary>The retry rules' answer after an attempt without a definite answer.</summary>
/// <param name="Action">What the client does next.</param>
/// <param name="Delay">How long it waits first (for <see cref="RetryAction.SendAfterBackoff"/>).</param>
/// <param name="Reason">Why the client gives up, beyond the attempt's own problem (for <see cref="RetryAction.GiveUp"/>).</param>
internal readonly record struct RetryDecision(RetryAction Action, TimeSpan Delay = default, string? Reason = null);

/// <summary>How a request the client gave up on ended.</summary>
internal enum GivenUpOutcome
{
    /// <summary>Certainly not done: a query, or a request no attempt of which can have reached a log. Safe to send again.</summary>
    Unavailable,

    /// <summary>An attempt may have reached a leader's log: it may take effect, now or later.</summary>
    Unknown,
}

/// <summary>
/// A request's attempts as the retry rules see them. <paramref name="changesState"/>: a command or a
/// membership change, which takes effect once it reaches a log; <paramref name="sentAgainAfterUnknown"/>:
/// whether it may be sent again once it may have taken effect (a command in its session may; a
/// membership change may not, for a second change could be refused or do what the first did).
/// </summary>
internal class RetryState(bool changesState, bool sentAgainAfterUnknown)
{
    public bool ChangesState { get; } = changesState;

    public bool SentAgainAfterUnknown { get; } = sentAgainAfterUnknown;

    /// <summary>Attempts made (messages sent to nodes).</summary>
    public int Attempts { get; set; }

    /// <summary>Consecutive failed attempts, for the backoff.</summary>
    public int Failures { get; set; }

    /// <summary>Leader hints followed in a row, without a backoff.</summary>
    public int HintsFollowed { get; set; }

    /// <summary>Whether some attempt may have put the request in a leader's log.</summary>
    public bool MayHaveTakenEffect { get; set; }
}

/// <summary>
/// A Raft client's retry decisions, free of actors and of any clock (Ongaro's thesis §6.2): which
/// member an attempt goes to; after an attempt without a definite answer, whether the request may
/// have taken effect, and whether the next attempt goes at once (to a leader a node named, a few
/// times in a row at most, so two nodes naming each other cannot keep a client bouncing) or after
/// a jittered, growing backoff to another member, or not at all; and, when the client gives up,
/// whether the outcome is unknown. <see cref="RaftClient"/> hosts these rules with actors and
/// timers; the deterministic simulator's client hosts the same rules on its virtual network and clock.
/// </summary>
/// <typeparam name="TNode">How the host names a node: an actor path, a node id.</typeparam>
internal sealed class ClientRetryRules<TNode>(Func<IReadOnlyList<TNode>> members, RaftClientOptions options, Random random)
    where TNode : class
{
    /// <summary>The node the client believes leads; null until an attempt needs one.</summary>
    public TNode? Leader { get; set; }

    /// <summary>Where the next attempt goes: the node believed to lead, else a member drawn at random.</summary>
    public TNode Target() => Leader ??= Pick(except: null);

    /// <summary>Whether the request has made all the attempts it may.</summary>
    public bool OutOfAttempts(RetryState request) => options.MaxAttempts is { } max && request.Attempts >= max;

    /// <summary>Counts an attempt and says where it goes.</summary>
    public TNode StartAttempt(RetryState request)
    {
        request.Attempts++;
        return Target();
    }

    /// <summary>
    /// The attempt sent to <paramref name="node"/> ended as <paramref name="end"/>, naming
    /// <paramref name="hint"/> as the leader (or none), with <paramref name="timeLeft"/> before the
    /// request's deadline (null: no deadline): what the client does next. A backoff that would
    /// leave less than the shortest backoff (<see cref="RaftClientOptions.RetryBackoffMin"/>) before
    /// the deadline ends the request now: an attempt sent then could hardly be answered in time, and
    /// would leave a command's outcome unknown for nothing.
    /// </summary>
    public RetryDecision AfterAttempt(RetryState request, TNode node, AttemptEnd end, TNode? hint = null, TimeSpan? timeLeft = null)
    {
        if (end is AttemptEnd.OutcomeUnknown or AttemptEnd.TimedOut or AttemptEnd.UnexpectedAnswer && request.ChangesState)
        {
            request.MayHaveTakenEffect = true;
            if (!request.SentAgainAfterUnknown)
                return new RetryDecision(RetryAction.GiveUp);
        }

        if (hint is not null && !hint.Equals(node) && request.HintsFollowed < members().Count)
        {
            request.HintsFollowed++;
            Leader = hint;
            return new RetryDecision(RetryAction.SendNow);
        }

        request.HintsFollowed = 0;
        if (end != AttemptEnd.TooManySessions && (Leader is null || Leader.Equals(node)))
            Leader = Pick(except: node);
        if (OutOfAttempts(request))
            return new RetryDecision(RetryAction.GiveUp, Reason: $"no attempts left ({options.MaxAttempts})");
        request.Failures++;
        var delay = options.Backoff(request.Failures, random);
        return timeLeft is null || delay + options.RetryBackoffMin < timeLeft
            ? new RetryDecision(RetryAction.SendAfterBackoff, delay)
            : new RetryDecision(RetryAction.GiveUp, Reason: "the deadline comes before the next attempt could be made");
    }

    /// <summary>
    /// The client gives up on the request (its deadline, its last attempt, or the client stopping),
    /// with an attempt still unanswered when <paramref name="attemptInFlight"/>: such an attempt may
    /// yet land in a log.
    /// </summary>
    public static GivenUpOutcome GiveUp(RetryState request, bool attemptInFlight)
    {
        request.MayHaveTakenEffect |= attemptInFlight && request.ChangesState;
        return request.MayHaveTakenEffect && request.ChangesState ? GivenUpOutcome.Unknown : GivenUpOutcome.Unavailable;
    }

    private TNode Pick(TNode? except)
    {
        var all = members();
        if (all.Count == 0)
            throw new InvalidOperationException("a Raft client needs at least one member to send to");
        var candidates = all.Where(m => except is null || !m.Equals(except)).ToList();
        if (candidates.Count == 0)
            candidates = all.ToList();
        return candidates[random.Next(candidates.Count)];
    }
}
