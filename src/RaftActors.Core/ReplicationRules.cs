using RaftActors.Messages;

namespace RaftActors.Core;

/// <summary>What a follower does with an AppendEntries whose term is current (§5.3).</summary>
internal sealed record AppendDecision(
    bool Success,
    long TruncateFrom,
    IReadOnlyList<LogEntry> NewEntries,
    long MatchIndex,
    long ConflictIndex,
    long ConflictTerm)
{
    /// <summary>No truncation.</summary>
    public const long NoTruncation = 0;
}

/// <summary>The AppendEntries rules of Figure 2 and §5.3, and the leader's commit rule (§5.4.2).</summary>
internal static class ReplicationRules
{
    /// <summary>
    /// The receiver's rules 2-4: refuse when the log does not contain prevLogIndex with
    /// prevLogTerm (with a hint to skip a whole conflicting term, §5.3 end); otherwise delete a
    /// conflicting entry and all that follow it — only on a real conflict, never because a
    /// request is old — and append what is new. Entries before this log's base are covered by a
    /// snapshot: committed, so the same in the current leader's log (Leader Completeness), they
    /// match; the check starts at the base.
    /// </summary>
    public static AppendDecision DecideAppend(RaftLog log, AppendEntries request)
    {
        var matchIndex = request.PrevLogIndex + request.Entries.Count;
        var compacted = (int)Math.Clamp(log.Base.Index - request.PrevLogIndex, 0, request.Entries.Count);
        var prevIndex = request.PrevLogIndex + compacted;
        if (prevIndex < log.Base.Index)
            return new AppendDecision(true, AppendDecision.NoTruncation, [], matchIndex, 0, 0);
        var prevTerm = compacted == 0 ? request.PrevLogTerm : request.Entries[compacted - 1].Term;

        if (!log.Matches(prevIndex, prevTerm))
        {
            if (prevIndex > log.LastIndex)
                return Refuse(conflictIndex: log.LastIndex + 1, conflictTerm: 0);
            var conflictTerm = log.TermAt(prevIndex)!.Value;
            return Refuse(log.FirstIndexOfTermAtOrBefore(prevIndex, conflictTerm), conflictTerm);
        }

        var truncateFrom = AppendDecision.NoTruncation;
        var firstNew = request.Entries.Count;
        for (var i = compacted; i < request.Entries.Count; i++)
        {
            var entry = request.Entries[i];
            var existing = log.TermAt(entry.Index);
            if (existing == entry.Term)
                continue;
            if (existing is not null)
                truncateFrom = entry.Index;
            firstNew = i;
            break;
        }

        var newEntries = request.Entries.Skip(firstNew).ToList();
        return new AppendDecision(true, truncateFrom, newEntries, matchIndex, 0, 0);
    }

    /// <summary>
    /// The follower's new commit index: min(leaderCommit, index of the last new entry), where the
    /// last new entry is the last one this request vouched for; never lower than before.
    /// </summary>
    public static long FollowerCommitIndex(long currentCommit, AppendEntries request) =>
        Math.Max(currentCommit, Math.Min(request.LeaderCommit, request.PrevLogIndex + request.Entries.Count));

    /// <summary>
    /// Where a leader resumes after a refusal: past the leader's last entry of the conflicting
    /// term when it has one, else at the follower's conflict index; never at or below what the
    /// follower has acknowledged, never past the leader's log.
    /// </summary>
    public static long NextIndexAfterRefusal(RaftLog leaderLog, long matchIndex, AppendEntriesResult refusal)
    {
        var next = refusal.ConflictTerm != 0 && leaderLog.LastIndexOfTerm(refusal.ConflictTerm) is { } last
            ? last + 1
            : refusal.ConflictIndex;
        return Math.Clamp(next, matchIndex + 1, leaderLog.LastIndex + 1);
    }

    /// <summary>
    /// The leader's commit index: the highest index stored by a majority (the leader counting its
    /// own durable entries), provided its entry is of the current term — entries of earlier terms
    /// commit only beneath one of the current term (§5.4.2, Figure 8).
    /// </summary>
    public static long LeaderCommitIndex(RaftLog log, long currentTerm, long currentCommit, IEnumerable<long> matchIndexes, int clusterSize)
    {
        var candidate = StoredByMajority(matchIndexes, clusterSize);
        return candidate > currentCommit && log.TermAt(candidate) == currentTerm ? candidate : currentCommit;
    }

    /// <summary>The highest index that a majority of a cluster of <paramref name="clusterSize"/> stores, by their match indexes (0 when fewer answer).</summary>
    public static long StoredByMajority(IEnumerable<long> matchIndexes, int clusterSize)
    {
        var sorted = matchIndexes.OrderByDescending(i => i).ToList();
        var majority = Quorum.Majority(clusterSize);
        return sorted.Count < majority ? 0 : sorted[majority - 1];
    }

    private static AppendDecision Refuse(long conflictIndex, long conflictTerm) =>
        new(false, AppendDecision.NoTruncation, [], 0, conflictIndex, conflictTerm);
}
