namespace RaftActors.Core;

/// <summary>
/// The configurations a server's log holds, by index, and the one it started from (the latest
/// snapshot's, or the configuration a cluster is bootstrapped with, at index 0). The server uses the
/// latest (thesis §4.1); when a conflicting leader truncates the log, the configuration falls back
/// to the latest one left. What a snapshot covers folds into one configuration: the one at its index,
/// which the snapshot carries.
/// </summary>
internal sealed class ConfigurationHistory
{
    // Ascending by index; the first is the configuration at or before the log's base.
    private readonly List<(long Index, ClusterConfiguration Configuration)> _entries = new();

    public ConfigurationHistory(long baseIndex, ClusterConfiguration baseConfiguration) =>
        _entries.Add((baseIndex, baseConfiguration));

    public ClusterConfiguration Latest => _entries[^1].Configuration;

    /// <summary>The index of the entry that holds <see cref="Latest"/> (the base's index when no entry does).</summary>
    public long LatestIndex => _entries[^1].Index;

    /// <summary>The configuration in force at <paramref name="index"/>: the latest at or before it.</summary>
    public ClusterConfiguration At(long index)
    {
        for (var i = _entries.Count - 1; i > 0; i--)
        {
            if (_entries[i].Index <= index)
                return _entries[i].Configuration;
        }

        return _entries[0].Configuration;
    }

    /// <summary>A configuration entry joined the log (appended by the leader, or received by a follower).</summary>
    public void Appended(long index, ClusterConfiguration configuration)
    {
        if (index <= _entries[^1].Index)
            throw new InvalidOperationException($"a configuration at entry {index} cannot follow the one at entry {_entries[^1].Index}");
        _entries.Add((index, configuration));
    }

    /// <summary>The log lost its entries from <paramref name="index"/> on: their configurations are gone.</summary>
    /// <returns>Whether the latest configuration changed.</returns>
    public bool TruncatedFrom(long index)
    {
        var before = _entries.Count;
        while (_entries.Count > 1 && _entries[^1].Index >= index)
            _entries.RemoveAt(_entries.Count - 1);
        return _entries.Count != before;
    }

    /// <summary>
    /// A snapshot covers the log through <paramref name="index"/>: configurations before the one in
    /// force there are no longer needed (that one stays, as the snapshot's).
    /// </summary>
    public void CoveredThrough(long index)
    {
        while (_entries.Count > 1 && _entries[1].Index <= index)
            _entries.RemoveAt(0);
    }

    /// <summary>The log was discarded for a snapshot through <paramref name="index"/> whose configuration is <paramref name="configuration"/>.</summary>
    public void ResetTo(long index, ClusterConfiguration configuration)
    {
        _entries.Clear();
        _entries.Add((index, configuration));
    }
}
