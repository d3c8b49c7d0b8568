using Akka.Configuration;

namespace RaftActors.Configuration;

/// <summary>
/// Reads HOCON values so that every failure names the key it came from: the library's settings
/// use it, and so can a host's own settings (the key-value server's do), so that every bad value
/// fails alike, as a <see cref="RaftConfigurationException"/> whose message starts with the key.
/// </summary>
internal static class HoconReader
{
    /// <summary>Runs <paramref name="read"/>; any failure becomes a <see cref="RaftConfigurationException"/> naming <paramref name="key"/>.</summary>
    public static T Read<T>(Config config, string key, Func<Config, T> read)
    {
        try
        {
            return read(config);
        }
        catch (Exception e) when (e is not RaftConfigurationException)
        {
            throw new RaftConfigurationException(key, $"cannot be read: {e.Message}", e);
        }
    }

    /// <summary>A finite duration that must be present.</summary>
    public static TimeSpan Duration(Config config, string key)
    {
        if (!config.HasPath(key))
            throw new RaftConfigurationException(key, "is missing");
        return Read(config, key, c => c.GetTimeSpan(key, allowInfinite: false));
    }

    /// <summary>A string, or null when the key is absent.</summary>
    public static string? OptionalString(Config config, string key) =>
        Read(config, key, c => c.HasPath(key) ? c.GetString(key) : null);
}
