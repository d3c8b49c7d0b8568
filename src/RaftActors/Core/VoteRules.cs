using RaftActors.Messages;

namespace RaftActors.Core;

/// <summary>Why a vote was granted or refused; logged and tested, never sent.</summary>
public enum VoteDecision
{
    Granted,
    StaleTerm,
    AlreadyVotedForAnother,
    CandidateLogBehind,
}

/// <summary>The RequestVote receiver rules of Figure 2 (§5.2, §5.4.1).</summary>
public static class VoteRules
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
        var candidateLastLog = new LogPosition(request.LastLogIndex, request.LastLogTerm);
        return candidateLastLog.IsAtLeastAsUpToDateAs(voterLastLog)
            ? VoteDecision.Granted
            : VoteDecision.CandidateLogBehind;
    }
}
