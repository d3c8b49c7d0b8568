using RaftActors.Core;
using RaftActors.Messages;

namespace RaftActors.Tests.Core;

/// <summary>The RequestVote receiver rules of Figure 2, decided without an actor.</summary>
public class VoteRulesTests
{
    // Raft §5.1 / Figure 2 RequestVote rule 1: "Reply false if term < currentTerm".
    [Theory]
    [InlineData(3, null, 2)]
    [InlineData(3, "n2", 2)] // even the candidate it voted for, if the request is from an older term
    [InlineData(3, "n3", 1)]
    [InlineData(10, null, 0)]
    public void StaleTermRequest_IsRejected_5_1(long voterTerm, string? votedFor, long requestTerm)
    {
        var decision = VoteRules.Decide(
            new HardState(voterTerm, votedFor), LogPosition.Empty, new RequestVote(requestTerm, "n2", 0, 0));

        Assert.Equal(VoteDecision.StaleTerm, decision);
    }

    // Raft §5.2: "each server will vote for at most one candidate in a given term, on a
    // first-come-first-served basis". Port of etcd TestFollowerVote; re-granting to the candidate
    // already voted for is allowed (its first reply may have been lost).
    [Theory]
    [InlineData(null, "n2", nameof(VoteDecision.Granted))]
    [InlineData(null, "n3", nameof(VoteDecision.Granted))]
    [InlineData("n2", "n2", nameof(VoteDecision.Granted))]
    [InlineData("n3", "n3", nameof(VoteDecision.Granted))]
    [InlineData("n2", "n3", nameof(VoteDecision.AlreadyVotedForAnother))]
    [InlineData("n3", "n2", nameof(VoteDecision.AlreadyVotedForAnother))]
    [InlineData("n1", "n2", nameof(VoteDecision.AlreadyVotedForAnother))] // a candidate voted for itself
    public void OneVotePerTerm_FirstComeFirstServed_5_2(string? votedFor, string candidate, string expected)
    {
        var decision = VoteRules.Decide(
            new HardState(1, votedFor), LogPosition.Empty, new RequestVote(1, candidate, 0, 0));

        Assert.Equal(Enum.Parse<VoteDecision>(expected), decision);
    }

    // Raft §5.4.1: the voter denies its vote if its own log is more up-to-date than the
    // candidate's. Port of etcd TestVoter: the voter's log is given by the terms of its entries
    // (index 1 first), the candidate by its last log term and index; the request's term is 3.
    [Theory]
    // same last term
    [InlineData("1", 1, 1, nameof(VoteDecision.Granted))]
    [InlineData("1", 1, 2, nameof(VoteDecision.Granted))]
    [InlineData("1 1", 1, 1, nameof(VoteDecision.CandidateLogBehind))]
    // candidate has the higher last term
    [InlineData("1", 2, 1, nameof(VoteDecision.Granted))]
    [InlineData("1", 2, 2, nameof(VoteDecision.Granted))]
    [InlineData("1 1", 2, 1, nameof(VoteDecision.Granted))]
    // voter has the higher last term
    [InlineData("2", 1, 1, nameof(VoteDecision.CandidateLogBehind))]
    [InlineData("2", 1, 2, nameof(VoteDecision.CandidateLogBehind))]
    [InlineData("2 2", 1, 1, nameof(VoteDecision.CandidateLogBehind))]
    // (etcd's last row, voter "1 1" vs candidate (1, 1), repeats the third row above)
    // empty logs on either side
    [InlineData("", 0, 0, nameof(VoteDecision.Granted))]
    [InlineData("", 1, 1, nameof(VoteDecision.Granted))]
    [InlineData("1", 0, 0, nameof(VoteDecision.CandidateLogBehind))]
    public void CandidateLogBehind_IsRefused_5_4_1(string voterLogTerms, long candidateLastTerm, long candidateLastIndex, string expected)
    {
        var terms = voterLogTerms.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(long.Parse).ToList();
        var voterLast = terms.Count == 0 ? LogPosition.Empty : new LogPosition(terms.Count, terms[^1]);

        var decision = VoteRules.Decide(
            new HardState(3, null), voterLast, new RequestVote(3, "n2", candidateLastIndex, candidateLastTerm));

        Assert.Equal(Enum.Parse<VoteDecision>(expected), decision);
    }

    // Figure 2 RequestVote rule 2 grants only "if votedFor is null or candidateId, AND the
    // candidate's log is at least as up-to-date": both conditions must hold.
    [Theory]
    [InlineData("n3", 5, 5, nameof(VoteDecision.AlreadyVotedForAnother))] // up-to-date log does not buy a second vote
    [InlineData("n2", 1, 1, nameof(VoteDecision.CandidateLogBehind))]     // nor does an earlier vote excuse a stale log
    [InlineData(null, 1, 1, nameof(VoteDecision.CandidateLogBehind))]
    public void GrantNeedsBothFreeVoteAndUpToDateLog_5_2_5_4_1(string? votedFor, long candidateLastTerm, long candidateLastIndex, string expected)
    {
        var decision = VoteRules.Decide(
            new HardState(4, votedFor), new LogPosition(3, 2), new RequestVote(4, "n2", candidateLastIndex, candidateLastTerm));

        Assert.Equal(Enum.Parse<VoteDecision>(expected), decision);
    }

    // A split vote: a candidate refusing another candidate of its own term hurries its next
    // campaign only when its id orders first, so that of the two exactly one does.
    [Theory]
    [InlineData("n1", RaftRole.Candidate, 4, "n1", 4, "n2", true)]
    [InlineData("n2", RaftRole.Candidate, 4, "n2", 4, "n1", false)] // the other candidate hurries
    [InlineData("n1", RaftRole.Candidate, 4, "n1", 5, "n2", false)] // not the same term
    [InlineData("n1", RaftRole.Follower, 4, "n3", 4, "n2", false)] // voted for another: no candidate of its own
    [InlineData("n1", RaftRole.Leader, 4, "n1", 4, "n2", false)]
    [InlineData("n10", RaftRole.Candidate, 4, "n10", 4, "n2", true)] // ordinal order, not numeric
    public void SplitVote_TheCandidateWhoseIdOrdersFirstHurries(string self, RaftRole role, long term, string votedFor, long requestTerm, string candidate, bool hurries)
    {
        var request = new RequestVote(requestTerm, candidate, 0, 0);

        Assert.Equal(hurries, VoteRules.HurriesAfterSplitVote(self, role, new HardState(term, votedFor), LogPosition.Empty, request));
    }

    // Of two candidates whose logs differ, the one the other would vote for hurries: the more up to
    // date, whatever the ids. The one behind never does — it could not win, and campaigning first in
    // every term it would keep the other from winning too (two voters left of three, one behind).
    [Theory]
    [InlineData("n1", 90, 18, 78, 9, true)]   // n1 ahead of n2: it hurries, as its id orders first anyway
    [InlineData("n1", 78, 9, 90, 18, false)]  // n1 behind n2: n2 hurries, though its id orders later
    [InlineData("n2", 90, 18, 78, 9, true)]
    [InlineData("n2", 78, 9, 90, 18, false)]
    [InlineData("n1", 80, 9, 78, 9, true)]    // same last term, longer log
    [InlineData("n2", 78, 9, 80, 9, false)]
    public void SplitVote_TheCandidateWithTheMoreUpToDateLogHurries(string self, long ownIndex, long ownTerm, long otherIndex, long otherTerm, bool hurries)
    {
        var other = self == "n1" ? "n2" : "n1";
        var request = new RequestVote(30, other, otherIndex, otherTerm);

        Assert.Equal(hurries, VoteRules.HurriesAfterSplitVote(self, RaftRole.Candidate, new HardState(30, self), new LogPosition(ownIndex, ownTerm), request));
    }
}
