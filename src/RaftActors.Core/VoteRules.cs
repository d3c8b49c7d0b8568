using RaftActors.Messages;

namespace RaftActors.Core;

/// <summary>Why a vote was granted or refused; logged and tested, never sent.</summary>
internal enum VoteDecision
{
    Granted,
    StaleTerm,
    AlreadyVotedForAnother,
    CandidateLogBehind,

    /// <summary>
    /// The voter heard from a current leader less than the minimum election timeout ago (or is the
    /// leader): it refuses a pre-vote, and with CheckQuorum ignores a vote (thesis §4.2.3, §9.6).
    /// </summary>
    LeaderIsAlive,
}

/// <summary>The RequestVote receiver rules of Figure 2 (§5.2, §5.4.1).</summary>
internal static class VoteRules
{
    /// <summary>
    /// Decides a vote. <paramref name="state"/> is the voter's state after it adopted any higher
    /// term carried by <paramref name="request"/>, so the request's term is at most the voter's.
    /// </summary>
    public static VoteDecision Decide(HardState state, LogPosition voterLastLog, RequestVote request)
    {
        if (request.Term < state.Term)
            return VoteDecision.StaleTerm;
        if (state.VotedFor is not null && state.VotedFor != request.CandidateId)
            return VoteDecision.AlreadyVotedForAnother;
        return ByLog(voterLastLog, request);
    }

    /// <summary>
    /// Decides a pre-vote (thesis §9.6, as etcd-io/raft does it). The request's term is the one the
    /// pre-candidate would campaign in; nothing in <paramref name="state"/> changes either way. It is
    /// granted when an election in that term could get this vote: the term is not behind the voter's,
    /// the voter believes in no current leader (<paramref name="leaderIsAlive"/>: it heard from one
    /// within the minimum election timeout, or it leads), the voter has not voted for another in that
    /// very term, and the candidate's log is at least as up to date as the voter's.
    /// </summary>
    public static VoteDecision DecidePreVote(HardState state, LogPosition voterLastLog, RequestVote request, bool leaderIsAlive)
    {
        if (request.Term < state.Term)
            return VoteDecision.StaleTerm;
        if (leaderIsAlive)
            return VoteDecision.LeaderIsAlive;
        if (request.Term == state.Term && state.VotedFor is not null && state.VotedFor != request.CandidateId)
            return VoteDecision.AlreadyVotedForAnother;
        return ByLog(voterLastLog, request);
    }

    /// <summary>
    /// Whether a refused vote shows a split vote that this node should resolve by campaigning again
    /// soon: it is a candidate that voted for itself in the request's term, and it is the one of
    /// the two that the other would vote for next — its log more up to date than the other's, or as
    /// up to date and its id ordering first (ordinal). So of two candidates exactly one hurries, and
    /// never one whose log is behind: it could not win, and hurrying every term it would keep the
    /// other from winning too.
    /// </summary>
    public static bool HurriesAfterSplitVote(string nodeId, RaftRole role, HardState state, LogPosition lastLog, RequestVote request)
    {
        if (role != RaftRole.Candidate || request.Term != state.Term || state.VotedFor != nodeId)
            return false;
        var theirs = new LogPosition(request.LastLogIndex, request.LastLogTerm);
        if (!lastLog.IsAtLeastAsUpToDateAs(theirs))
            return false;
        return !theirs.IsAtLeastAsUpToDateAs(lastLog) || string.CompareOrdinal(nodeId, request.CandidateId) < 0;
    }

    /// <summary>§5.4.1, for votes and pre-votes alike: granted only to a candidate whose log is at least as up to date as the voter's.</summary>
    private static VoteDecision ByLog(LogPosition voterLastLog, RequestVote request) =>
        new LogPosition(request.LastLogIndex, request.LastLogTerm).IsAtLeastAsUpToDateAs(voterLastLog)
            ? VoteDecision.Granted
            : VoteDecision.CandidateLogBehind;
}
