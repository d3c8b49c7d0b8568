namespace RaftActors.Configuration;

/// <summary>A configuration value is missing or invalid; the message names the HOCON key.</summary>
public sealed class RaftConfigurationException : Exception
{
    public RaftConfigurationException(string key, string problem, Exception? inner = null)
        : base($"{key}: {problem}", inner)
    {
        Key = key;
    }

    /// <summary>The full HOCON path of the offending setting, e.g. <c>raft.heartbeat-interval</c>.</summary>
    public string Key { get; }
}
