using Akka.Event;
using Akka.Hosting.Logging;
using Microsoft.Extensions.Logging;
using LogLevel = Microsoft.Extensions.Logging.LogLevel;

namespace RaftActors.Server.Hosting;

/// <summary>
/// Akka's log into the host's Microsoft.Extensions.Logging, as Akka.Hosting's
/// <see cref="LoggerFactoryLogger"/> does, but as the message alone (the host's formatter adds the
/// time, node and level) under the logging class's name as category (<c>Akka.Remote.EndpointWriter</c>,
/// filtered by <c>Logging:LogLevel</c>), and with repeats held back: the same message from the same
/// source goes out at most once per <see cref="RepeatInterval"/>. While a peer is down, Akka.Remote
/// warns on every attempt to reach it (every retry-gate-closed-for, 200 ms in the server), which
/// would bury every other line. Remoting's own failures go out without their stack traces.
/// </summary>
public sealed class AkkaLogBridge : LoggerFactoryLogger
{
    public static readonly TimeSpan RepeatInterval = TimeSpan.FromSeconds(10);
    private const int MaxRemembered = 1000;

    /// <summary>The category of what Akka logs with a string as its source rather than a class.</summary>
    private const string StringSourceCategory = "Akka";

    private readonly ILoggerFactory _loggerFactory;
    private readonly Dictionary<Type, ILogger> _loggers = new();
    private readonly Dictionary<(Akka.Event.LogLevel, string, string), DateTime> _lastLogged = new();

    public AkkaLogBridge()
    {
        // The base constructor has checked that the setup is there.
        _loggerFactory = Context.System.Settings.Setup.Get<LoggerFactorySetup>().Value.LoggerFactory;
    }

    protected override void Log(LogEvent log, Akka.Actor.ActorPath path)
    {
        var text = log.Message?.ToString() ?? "";
        var source = log.LogSource ?? "";
        if (IsRemoting(source) && text.IndexOf('\n') is var newline and > 0)
            text = text[..newline].TrimEnd() + " ...]"; // remoting puts the reason's stack trace into the message
        var key = (log.LogLevel(), source, text);
        var now = DateTime.UtcNow;
        if (_lastLogged.TryGetValue(key, out var last) && now - last < RepeatInterval)
            return;
        if (_lastLogged.Count >= MaxRemembered)
        {
            foreach (var old in _lastLogged.Where(p => now - p.Value >= RepeatInterval).Select(p => p.Key).ToList())
                _lastLogged.Remove(old);
            if (_lastLogged.Count >= MaxRemembered)
                _lastLogged.Clear();
        }

        var repeated = last != default;
        _lastLogged[key] = now;
        if (repeated)
            text += $" (repeated; shown at most every {RepeatInterval.TotalSeconds:F0} s)";
        var cause = log.Cause;
        if (cause?.GetType().Namespace?.StartsWith("Akka.Remote", StringComparison.Ordinal) == true)
        {
            text += $" (cause: {cause.GetType().Name}: {cause.Message})";
            cause = null;
        }

        var logger = LoggerFor(log.LogClass);
        logger.Log(Level(log.LogLevel()), default, text, cause, (message, _) => message);
    }

    private ILogger LoggerFor(Type? logClass)
    {
        var type = logClass ?? typeof(DummyClassForStringSources);
        if (!_loggers.TryGetValue(type, out var logger))
        {
            logger = _loggerFactory.CreateLogger(type == typeof(DummyClassForStringSources) ? StringSourceCategory : type.FullName ?? StringSourceCategory);
            _loggers[type] = logger;
        }

        return logger;
    }

    private static LogLevel Level(Akka.Event.LogLevel level) => level switch
    {
        Akka.Event.LogLevel.DebugLevel => LogLevel.Debug,
        Akka.Event.LogLevel.InfoLevel => LogLevel.Information,
        Akka.Event.LogLevel.WarningLevel => LogLevel.Warning,
        _ => LogLevel.Error,
    };

    private static bool IsRemoting(string source) =>
        source.Contains("/system/endpointManager", StringComparison.Ordinal) || source.StartsWith("remoting", StringComparison.Ordinal) ||
        source.Contains("/system/transports", StringComparison.Ordinal);
}
