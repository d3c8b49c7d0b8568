using Akka.Actor;
using Akka.Dispatch;
using Akka.Event;

namespace RaftActors.Server.Hosting;

/// <summary>
/// Akka's log on standard output, one line an event, with repeats held back: the same message
/// from the same source is printed at most once per <see cref="RepeatInterval"/>. While a peer
/// is down, Akka.Remote warns on every attempt to reach it (every retry-gate-closed-for, 200 ms
/// in the server), which would bury every other line. Remoting's own failures are printed
/// without their stack traces; anything else keeps its cause in full.
/// </summary>
public sealed class ServerLogger : ActorBase, IRequiresMessageQueue<ILoggerMessageQueueSemantics>
{
    public static readonly TimeSpan RepeatInterval = TimeSpan.FromSeconds(10);
    private const int MaxRemembered = 1000;

    private readonly Dictionary<(LogLevel, string, string), DateTime> _lastPrinted = new();

    protected override bool Receive(object message)
    {
        switch (message)
        {
            case InitializeLogger:
                Sender.Tell(new LoggerInitialized());
                return true;
            case LogEvent logEvent:
                Print(logEvent);
                return true;
            default:
                return false;
        }
    }

    private void Print(LogEvent e)
    {
        var text = e.Message?.ToString() ?? "";
        var source = e.LogSource ?? "";
        if (IsRemoting(source) && text.IndexOf('\n') is var newline and > 0)
            text = text[..newline].TrimEnd() + " ...]"; // remoting puts the reason's stack trace into the message
        var key = (e.LogLevel(), source, text);
        var now = DateTime.UtcNow;
        if (_lastPrinted.TryGetValue(key, out var last) && now - last < RepeatInterval)
            return;
        if (_lastPrinted.Count >= MaxRemembered)
        {
            foreach (var old in _lastPrinted.Where(p => now - p.Value >= RepeatInterval).Select(p => p.Key).ToList())
                _lastPrinted.Remove(old);
            if (_lastPrinted.Count >= MaxRemembered)
                _lastPrinted.Clear();
        }

        var repeated = last != default;
        _lastPrinted[key] = now;
        var level = e.LogLevel() switch
        {
            LogLevel.ErrorLevel => "ERROR",
            LogLevel.WarningLevel => "WARNING",
            LogLevel.InfoLevel => "INFO",
            _ => "DEBUG",
        };
        var line = $"[{level}][{e.Timestamp.ToLocalTime():HH:mm:ss.fff}][{source}] {text}";
        if (repeated)
            line += $" (repeated; shown at most every {RepeatInterval.TotalSeconds:F0} s)";
        if (e is Error { Cause: { } cause })
        {
            line += cause.GetType().Namespace?.StartsWith("Akka.Remote", StringComparison.Ordinal) == true
                ? $" (cause: {cause.GetType().Name}: {cause.Message})"
                : $"{Environment.NewLine}Cause: {cause}";
        }

        Console.Out.WriteLine(line);
    }

    private static bool IsRemoting(string source) =>
        source.Contains("/system/endpointManager", StringComparison.Ordinal) || source.StartsWith("remoting", StringComparison.Ordinal) ||
        source.Contains("/system/transports", StringComparison.Ordinal);
}
