using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Akka.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.EnvironmentVariables;
using Microsoft.Extensions.FileProviders;

namespace RaftActors.Server.Hosting;

/// <summary>
/// A server's .NET configuration, over its HOCON file: the logging defaults, then appsettings.json
/// in the working directory, then appsettings.json beside the node's HOCON file, then environment
/// variables (a later source wins). The sections <c>Raft</c> and <c>Akka</c> override the HOCON
/// keys under <c>raft</c> and <c>akka</c>: each name is the HOCON key's, or the same in PascalCase or
/// with underscores (<c>Raft:ElectionTimeoutMin</c>, <c>RAFT__ELECTION_TIMEOUT_MIN</c> and
/// <c>raft:election-timeout-min</c> all set <c>raft.election-timeout-min</c>); values are read as the
/// same text in the HOCON file ("150ms", "on", "1MiB", "127.0.0.1:8081"); numbered children make a list. The sections
/// <c>Logging</c> and <c>Kestrel</c> are read by .NET as usual.
/// </summary>
public sealed partial class AppConfiguration
{
    public const string SettingsFile = "appsettings.json";

    /// <summary>The HOCON roots that the configuration can override, and their section names.</summary>
    private static readonly string[] OverridableRoots = ["raft", "akka"];

    /// <summary>
    /// Today's output without any configuration: the server's own lines, warnings and errors from
    /// everything else. A failed start is reported once by the server, so the host's and
    /// Akka.Hosting's own reports of it are off.
    /// </summary>
    private static readonly Dictionary<string, string?> LoggingDefaults = new()
    {
        ["Logging:LogLevel:Default"] = "Warning",
        [$"Logging:LogLevel:{ServerOutput.Category}"] = "Information",
        ["Logging:LogLevel:Microsoft.Extensions.Hosting.Internal.Host"] = "None",
        ["Logging:LogLevel:Akka.Hosting.AkkaHostedService"] = "None",
    };

    private readonly Dictionary<string, string> _originOf;

    private AppConfiguration(IConfigurationRoot root, Config overrides, Dictionary<string, string> originOf)
    {
        Root = root;
        Overrides = overrides;
        _originOf = originOf;
    }

    /// <summary>Every source, for the host (logging, Kestrel) to read.</summary>
    public IConfigurationRoot Root { get; }

    /// <summary>The HOCON keys that the configuration sets, to go over the node's file.</summary>
    public Config Overrides { get; }

    /// <summary>
    /// Reads the sources of a server run with <paramref name="configFile"/>; fails with a
    /// <see cref="ServerStartException"/> when an appsettings.json is not valid JSON.
    /// </summary>
    public static AppConfiguration Read(string configFile)
    {
        var builder = new ConfigurationBuilder().AddInMemoryCollection(LoggingDefaults);
        var directories = new[] { Directory.GetCurrentDirectory(), Path.GetDirectoryName(Path.GetFullPath(configFile))! }
            .Distinct(StringComparer.Ordinal);
        foreach (var directory in directories)
            builder.AddJsonFile(new PhysicalFileProvider(directory), SettingsFile, optional: true, reloadOnChange: false);
        builder.AddEnvironmentVariables();
        IConfigurationRoot root;
        try
        {
            root = builder.Build();
        }
        catch (InvalidDataException e)
        {
            throw new ServerStartException($"{e.Message} {e.InnerException?.Message}", e);
        }

        var hocon = new StringBuilder();
        var originOf = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var name in OverridableRoots)
        {
            // The section's own spelling (RAFT, Raft) names the environment variables in messages.
            var section = root.GetChildren().FirstOrDefault(c => string.Equals(c.Key, name, StringComparison.OrdinalIgnoreCase));
            if (section is not null && section.GetChildren().Any())
                hocon.Append(Quote(name)).Append(" = ").Append(Hocon(root, section, name, originOf)).Append('\n');
        }

        return new AppConfiguration(root, ConfigurationFactory.ParseString(hocon.ToString()), originOf);
    }

    /// <summary>
    /// Where <paramref name="hoconKey"/> (or a key beneath it) was set, when the configuration set
    /// it: "environment variable RAFT__DATA_DIR", or the appsettings.json file and its key; else null.
    /// </summary>
    public string? OriginOf(string hoconKey) =>
        _originOf.Where(o => o.Key == hoconKey || o.Key.StartsWith(hoconKey + ".", StringComparison.Ordinal) || o.Key.StartsWith(hoconKey + "[", StringComparison.Ordinal))
            .Select(o => o.Value)
            .FirstOrDefault();

    /// <summary>
    /// The HOCON name of a configuration key: lower case, words joined by hyphens, so that
    /// <c>ElectionTimeoutMin</c>, <c>ELECTION_TIMEOUT_MIN</c> and <c>election-timeout-min</c> are one key.
    /// </summary>
    public static string HoconName(string key)
    {
        var name = new StringBuilder(key.Length + 4);
        for (var i = 0; i < key.Length; i++)
        {
            var c = key[i];
            if (c == '_')
            {
                name.Append('-');
                continue;
            }

            if (char.IsUpper(c) && i > 0 && (char.IsLower(key[i - 1]) || char.IsDigit(key[i - 1])))
                name.Append('-');
            name.Append(char.ToLowerInvariant(c));
        }

        return name.ToString();
    }

    /// <summary>A section as a HOCON value: an object, a list (children numbered 0, 1, ...), or a string.</summary>
    private static string Hocon(IConfigurationRoot root, IConfigurationSection section, string hoconKey, Dictionary<string, string> originOf)
    {
        var children = section.GetChildren().ToList();
        if (children.Count == 0)
        {
            originOf.TryAdd(hoconKey, Origin(root, section.Path));
            return Literal(section.Value ?? "");
        }

        if (children.All(c => int.TryParse(c.Key, out _)))
        {
            var items = children.OrderBy(c => int.Parse(c.Key))
                .Select((c, i) => Hocon(root, c, $"{hoconKey}[{i}]", originOf));
            return "[" + string.Join(", ", items) + "]";
        }

        var fields = children.Select(c =>
        {
            var name = HoconName(c.Key);
            return $"{Quote(name)} = {Hocon(root, c, $"{hoconKey}.{name}", originOf)}";
        });
        return "{ " + string.Join(", ", fields) + " }";
    }

    private static string Origin(IConfigurationRoot root, string path)
    {
        var provider = root.Providers.Reverse().First(p => p.TryGet(path, out _));
        return provider switch
        {
            EnvironmentVariablesConfigurationProvider => $"environment variable {path.Replace(":", "__", StringComparison.Ordinal)}",
            FileConfigurationProvider { Source: { FileProvider: PhysicalFileProvider files, Path: { } file } } => $"{Path.Combine(files.Root, file)} ({path})",
            _ => path,
        };
    }

    /// <summary>
    /// A value as the same text would read in a HOCON file: a number with its unit or a plain word
    /// (150ms, -1s, 1.5s, on, 3) as it is, for HOCON reads those unquoted; anything else quoted.
    /// </summary>
    private static string Literal(string value) => PlainWord().IsMatch(value) && value != "null" ? value : Quote(value);

    /// <summary>A JSON string is a HOCON quoted string: every character survives, none is read as syntax.</summary>
    private static string Quote(string value) => JsonSerializer.Serialize(value);

    [GeneratedRegex(@"^(-?\d+(\.\d+)?[A-Za-z]*|[A-Za-z0-9_-]+)$")]
    private static partial Regex PlainWord();
}
