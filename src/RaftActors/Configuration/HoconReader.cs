using Akka.Configuration;

namespace RaftActors.Configuration;

/// <summary>Reads HOCON values so that every failure names the key it came from.</summary>
internal static class HoconReader
{
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

    public static TimeSpan Duration(Config config, string key)
    {
        if (!config.HasPath(key))
            throw new RaftConfigurationException(key, "is missing");
        return Read(config, key, c => c.GetTimeSpan(key, allowInfinite: false));
    }
}
