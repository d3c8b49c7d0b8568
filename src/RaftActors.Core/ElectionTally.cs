namespace RaftActors.Core;

/// <summary>
/// The votes a candidate has received in one term, or a pre-candidate's pre-votes in one canvass.
/// Each voter counts once however often its reply arrives; a majority is of the voters of the
/// candidate's configuration, the candidate included when it is one of them, and only their answers
/// count (a learner's or an outsider's answer counts for nothing, thesis §4.2.1). A candidate that is
/// no voter of its configuration — a server whose removal is not committed yet — does not count its
/// own vote.
/// </summary>
internal sealed class ElectionTally
{
    private readonly HashSet<string> _voters;
    private readonly HashSet<string> _granted = new(StringComparer.Ordinal);
    private readonly HashSet<string> _refused = new(StringComparer.Ordinal);
    private readonly int _majority;

    /// <param name="voters">The voting members of the candidate's configuration.</param>
    /// <param name="self">The candidate, which votes for itself (a vote that counts only when it is a voter).</param>
    public ElectionTally(IEnumerable<string> voters, string self)
    {
        _voters = new HashSet<string>(voters, StringComparer.Ordinal);
        if (_voters.Count == 0)
            throw new ArgumentException("a configuration without voters elects no one", nameof(voters));
        _majority = Quorum.Majority(_voters.Count);
        if (_voters.Contains(self))
            _granted.Add(self);
    }

    public int Granted => _granted.Count;

    public bool HasMajority => _granted.Count >= _majority;

    /// <summary>So many voters refused that a majority can no longer be reached.</summary>
    public bool IsLost => _voters.Count - _refused.Count < _majority;

    /// <summary>Records a voter's answer; a voter that answered before keeps its first answer, and a non-voter's answer is ignored.</summary>
    public void Record(string voter, bool granted)
    {
        if (!_voters.Contains(voter) || _granted.Contains(voter) || _refused.Contains(voter))
            return;
        (granted ? _granted : _refused).Add(voter);
    }
}
