using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;

namespace RaftActors.Server.Hosting;

/// <summary>
/// The server's one line format, for its own lines, Akka's and ASP.NET Core's alike:
/// "[time  ]nodeId  [LEVEL  ][[category] ]message". The level is left out at Information, the
/// category for the server's own lines (<see cref="ServerOutput.Category"/>), so that a state
/// line reads "n1  Leader     term 2  leader n2", as the cluster launcher and the tests parse it.
/// Without a <see cref="ConsoleFormatterOptions.TimestampFormat"/> (under the launcher, which
/// stamps lines itself) the lines start with the node id.
/// </summary>
public sealed class ServerLogFormatter(IOptionsMonitor<ServerLogFormatterOptions> options) : ConsoleFormatter(FormatterName)
{
    public const string FormatterName = "raft-server";

    public override void Write<TState>(in LogEntry<TState> logEntry, IExternalScopeProvider? scopeProvider, TextWriter textWriter)
    {
        var message = logEntry.Formatter(logEntry.State, logEntry.Exception);
        if (string.IsNullOrEmpty(message) && logEntry.Exception is null)
            return;
        var current = options.CurrentValue;
        if (current.TimestampFormat is { } timestamp)
            textWriter.Write((current.UseUtcTimestamp ? DateTimeOffset.UtcNow : DateTimeOffset.Now).ToString(timestamp));
        textWriter.Write(current.NodeId);
        textWriter.Write("  ");
        if (logEntry.LogLevel != LogLevel.Information)
            textWriter.Write(Label(logEntry.LogLevel) + "  ");
        if (logEntry.Category != ServerOutput.Category)
            textWriter.Write($"[{logEntry.Category}] ");
        textWriter.Write(message);
        if (logEntry.Exception is { } exception)
        {
            textWriter.WriteLine();
            textWriter.Write(exception.ToString());
        }

        textWriter.WriteLine();
    }

    private static string Label(LogLevel level) => level switch
    {
        LogLevel.Trace => "TRACE",
        LogLevel.Debug => "DEBUG",
        LogLevel.Warning => "WARNING",
        LogLevel.Error => "ERROR",
        _ => "CRITICAL",
    };
}

public sealed class ServerLogFormatterOptions : ConsoleFormatterOptions
{
    /// <summary>Starts every line, so that the lines of several servers can be told apart.</summary>
    public string NodeId { get; set; } = "";
}
