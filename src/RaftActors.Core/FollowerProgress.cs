namespace RaftActors.Core;

/// <summary>A leader's view of one follower (Figure 2's nextIndex and matchIndex, plus pipelining).</summary>
internal sealed class FollowerProgress
{
    private readonly HashSet<long> _inFlight = new();

    // Lease reads: when the messages not answered yet were sent (the leader's monotonic clock, ms).
    private readonly Queue<(long Sequence, long SentAt)> _sentAt = new();

    public FollowerProgress(long nextIndex)
    {
        NextIndex = nextIndex;
        PipelineStartIndex = nextIndex;
    }

    /// <summary>The next entry to send: optimistic, it moves past entries sent but not yet acknowledged.</summary>
    public long NextIndex { get; set; }

    /// <summary>
    /// The highest entry known replicated on the follower; it never moves back within a term,
    /// unless the follower lost what it had acknowledged (<see cref="ForgetMatch"/>).
    /// </summary>
    public long MatchIndex { get; private set; }

    /// <summary>The sequence of the latest message whose acknowledgement vouched for <see cref="MatchIndex"/>.</summary>
    public long MatchedSequence { get; private set; }

    /// <summary>The highest message sequence the follower has answered in this term (ReadIndex's check).</summary>
    public long AcknowledgedSequence { get; private set; }

    /// <summary>The sequence of the last message sent.</summary>
    public long LastSentSequence { get; private set; }

    /// <summary>The sequence of the last heartbeat sent to confirm pending reads (ReadIndex).</summary>
    public long ReadRoundSequence { get; private set; }

    /// <summary>Whether the last heartbeat sent for reads is still unanswered.</summary>
    public bool ReadRoundOutstanding => ReadRoundSequence > AcknowledgedSequence;

    /// <summary>Refusals of messages sent before this sequence belong to an abandoned pipeline.</summary>
    public long PipelineStart { get; private set; }

    /// <summary>The index the current pipeline started sending from.</summary>
    public long PipelineStartIndex { get; private set; }

    public int InFlight => _inFlight.Count;

    /// <summary>The leader's heartbeat tick at which the follower last answered it (CheckQuorum's evidence that it follows).</summary>
    public long HeardAtTick { get; set; }

    /// <summary>
    /// The follower needs entries this leader's log no longer holds, and is being sent the
    /// snapshot instead (§7): until the host reports the outcome, it gets heartbeats, no entries.
    /// </summary>
    public bool SendingSnapshot { get; private set; }

    /// <summary>
    /// For lease reads: when the latest message the follower answered was sent (or an earlier one's
    /// time, never a later one's). The follower handled it after that, and from then on refuses
    /// votes for the minimum election timeout (CheckQuorum). <see cref="long.MinValue"/>: none.
    /// </summary>
    public long AnsweredSentAt { get; private set; } = long.MinValue;

    /// <summary>
    /// Message <paramref name="sequence"/> leaves. With <paramref name="sentAt"/> (lease reads) its
    /// time is kept until it is answered; times older than <paramref name="forgetBefore"/> can no
    /// longer hold a lease and are let go, so a silent follower costs nothing.
    /// </summary>
    public void Sent(long sequence, bool carriesEntries, long? sentAt, long forgetBefore)
    {
        LastSentSequence = sequence;
        if (carriesEntries)
            _inFlight.Add(sequence);
        if (sentAt is { } at)
        {
            while (_sentAt.TryPeek(out var oldest) && oldest.SentAt < forgetBefore)
                _sentAt.Dequeue();
            _sentAt.Enqueue((sequence, at));
        }
    }

    /// <summary>The message just sent (<see cref="LastSentSequence"/>) is a heartbeat for pending reads.</summary>
    public void SentReadRound() => ReadRoundSequence = LastSentSequence;

    /// <summary>
    /// The follower answered message <paramref name="sequence"/>. It handles a leader's messages
    /// in the order they were sent, so the messages before it are done with too: an earlier
    /// message whose answer was lost must not hold its slot of the window forever (a full window
    /// would leave the follower with heartbeats and no more entries for the rest of the term).
    /// Were messages reordered, this frees a slot early, which only loosens flow control.
    /// </summary>
    public void Answered(long sequence)
    {
        _inFlight.RemoveWhere(s => s <= sequence);
        AcknowledgedSequence = Math.Max(AcknowledgedSequence, sequence);
        while (_sentAt.TryPeek(out var sent) && sent.Sequence <= sequence)
        {
            _sentAt.Dequeue();
            AnsweredSentAt = Math.Max(AnsweredSentAt, sent.SentAt);
        }
    }

    /// <summary>The follower holds everything through <paramref name="matchIndex"/>, as the answer to message <paramref name="sequence"/> says.</summary>
    public void Matched(long matchIndex, long sequence)
    {
        if (matchIndex >= MatchIndex)
            MatchedSequence = Math.Max(MatchedSequence, sequence);
        MatchIndex = Math.Max(MatchIndex, matchIndex);
        NextIndex = Math.Max(NextIndex, MatchIndex + 1);
    }

    /// <summary>
    /// The follower no longer holds entries it acknowledged: it restarted without its disk. What
    /// it matched counts no more (toward commits, or as a floor for where to resume).
    /// </summary>
    public void ForgetMatch()
    {
        MatchIndex = 0;
        MatchedSequence = 0;
    }

    /// <summary>Stops sending entries: the follower gets the snapshot; what is in flight is moot.</summary>
    public void BeginSnapshot()
    {
        SendingSnapshot = true;
        _inFlight.Clear();
    }

    /// <summary>The snapshot transfer ended (installed, or failed and to be retried); entries may flow again.</summary>
    public void EndSnapshot() => SendingSnapshot = false;

    /// <summary>Starts over from <paramref name="nextIndex"/>: what is in flight will be refused or is lost.</summary>
    public void Restart(long nextIndex, long pipelineStart)
    {
        NextIndex = nextIndex;
        PipelineStart = pipelineStart;
        PipelineStartIndex = nextIndex;
        _inFlight.Clear();
    }
}
