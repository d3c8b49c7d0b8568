namespace RaftActors.Core;

/// <summary>
/// The votes a candidate has received in one term, or a pre-candidate's pre-votes in one canvass.
/// Each voter counts once however often its reply arrives; a majority is of the whole configured
/// cluster, the candidate included.
/// </summary>
public sealed class ElectionTally
{
    private readonly HashSet<string> _granted = new(StringComparer.Ordinal);
    private readonly HashSet<string> _refused = new(StringComparer.Ordinal);
    private readonly int _clusterSize;

    public ElectionTally(int clusterSize, string self)
    {
        _clusterSize = clusterSize;
        _granted.Add(self);
    }

    public int Granted => _granted.Count;

    public bool HasMajority => _granted.Count >= Quorum.Majority(_clusterSize);

    /// <summary>So many voters refused that a majority can no longer be reached.</summary>
    public bool IsLost => _clusterSize - _refused.Count < Quorum.Majority(_clusterSize);

    /// <summary>Records a voter's answer; a voter that answered before keeps its first answer.</summary>
    public void Record(string voter, bool granted)
    {
        if (_granted.Contains(voter) || _refused.Contains(voter))
            return;
        (granted ? _granted : _refused).Add(voter);
    }
}
