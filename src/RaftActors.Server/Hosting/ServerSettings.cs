using System.Globalization;
using System.Net;
using Akka.Configuration;
using RaftActors.Configuration;

namespace RaftActors.Server.Hosting;

/// <summary>
/// A server's configuration: the keys that its .NET configuration sets (<see cref="AppConfiguration"/>:
/// environment variables, appsettings.json) over the node's HOCON file over the server's defaults
/// (its embedded reference.conf) over RaftActors' reference.conf, checked before anything starts.
/// Every problem is a <see cref="RaftConfigurationException"/> whose message starts with the key.
/// </summary>
public sealed record ServerSettings(
    string ConfigFile,
    AppConfiguration App,
    Config Config,
    RaftMembership Membership,
    RaftSettings Raft,
    string DataDirectory,
    HttpEndpoint Http,
    TimeSpan RequestTimeout,
    int MaxValueBytes,
    string AkkaAddress)
{
    /// <summary>The server's defaults (src/RaftActors.Server/reference.conf), beneath the node's file.</summary>
    public static Config Defaults { get; } = ConfigurationFactory.FromResource<ServerSettings>("RaftActors.Server.reference.conf");

    public string NodeId => Membership.SelfId;

    /// <summary>The node actor's name under /user.</summary>
    public string ActorName => Membership.ActorName;

    /// <summary>
    /// Reads and checks the node's configuration (and whatever else <paramref name="check"/> reads of
    /// it), or prints why not — naming the key and where it was set (the file, or the environment
    /// variable or appsettings.json that overrides it) — and returns null: the caller exits 2.
    /// </summary>
    public static ServerSettings? LoadOrReport(string configFile, Action<ServerSettings>? check = null)
    {
        AppConfiguration? app = null;
        try
        {
            app = AppConfiguration.Read(configFile);
            var settings = Load(configFile, app);
            check?.Invoke(settings);
            return settings;
        }
        catch (RaftConfigurationException e)
        {
            Console.Error.WriteLine($"{app?.OriginOf(e.Key) ?? Path.GetFullPath(configFile)}: {e.Message}");
            return null;
        }
        catch (ServerStartException e)
        {
            Console.Error.WriteLine(e.Message);
            return null;
        }
    }

    /// <summary>Reads and checks the node's configuration: its file, and the .NET configuration over it.</summary>
    public static ServerSettings Load(string configFile) => Load(configFile, AppConfiguration.Read(configFile));

    private static ServerSettings Load(string configFile, AppConfiguration app)
    {
        var path = Path.GetFullPath(configFile);
        if (!File.Exists(path))
            throw new ServerStartException($"config file {path} does not exist");
        Config fileConfig;
        try
        {
            fileConfig = ConfigurationFactory.ParseString(File.ReadAllText(path));
        }
        catch (Exception e) when (e is ConfigurationException or FormatException or ArgumentException)
        {
            throw new ServerStartException($"{path}: not valid HOCON: {e.Message}");
        }

        return FromConfig(path, app, fileConfig);
    }

    private static ServerSettings FromConfig(string configFile, AppConfiguration app, Config fileConfig)
    {
        var config = app.Overrides.WithFallback(fileConfig).WithFallback(Defaults).WithFallback(RaftSettings.DefaultConfig);
        var membership = RaftMembership.FromConfig(config);
        var raft = RaftSettings.FromConfig(config);

        var dataDirectory = HoconReader.OptionalString(config, "raft.data-dir");
        if (string.IsNullOrWhiteSpace(dataDirectory))
            throw new RaftConfigurationException("raft.data-dir", "is missing: the directory of this node's write-ahead log (relative to the working directory, or absolute)");
        try
        {
            dataDirectory = Path.GetFullPath(dataDirectory);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw new RaftConfigurationException("raft.data-dir", $"is not a usable path: {e.Message}");
        }

        var httpText = HoconReader.OptionalString(config, "raft.server.http");
        if (string.IsNullOrWhiteSpace(httpText))
            throw new RaftConfigurationException("raft.server.http", "is missing: the HTTP API's \"host:port\", e.g. \"127.0.0.1:8081\"");
        if (!HttpEndpoint.TryParse(httpText, out var http, out var problem))
            throw new RaftConfigurationException("raft.server.http", $"{problem}, got \"{httpText}\" (expected \"host:port\", e.g. \"127.0.0.1:8081\")");

        var requestTimeout = HoconReader.Duration(config, "raft.server.request-timeout");
        if (requestTimeout <= TimeSpan.Zero)
            throw new RaftConfigurationException("raft.server.request-timeout", $"must be positive, got {requestTimeout}");
        var maxValue = HoconReader.Read(config, "raft.server.max-value-size", c => c.GetByteSize("raft.server.max-value-size") ?? 0);
        if (maxValue is < 1 or > 64 * 1024 * 1024)
            throw new RaftConfigurationException("raft.server.max-value-size", $"must be between 1 byte and 64 MiB, got {maxValue} bytes");

        var akkaAddress = OwnAddress(config);
        if (membership.Discovery == RaftDiscovery.Static)
            CheckOwnAddress(config, membership, akkaAddress);
        return new ServerSettings(configFile, app, config, membership, raft, dataDirectory, http, requestTimeout, (int)maxValue, akkaAddress);
    }

    /// <summary>
    /// Where this node's ActorSystem "raft" listens, as its peers address it:
    /// akka.tcp://raft@host:port, or akka.ssl.tcp://... with TLS on.
    /// </summary>
    private static string OwnAddress(Config config)
    {
        var host = HoconReader.Read(config, "akka.remote.dot-netty.tcp.hostname", c => c.GetString("akka.remote.dot-netty.tcp.hostname"));
        var publicHost = HoconReader.Read(config, "akka.remote.dot-netty.tcp.public-hostname", c => c.GetString("akka.remote.dot-netty.tcp.public-hostname"));
        var port = HoconReader.Read(config, "akka.remote.dot-netty.tcp.port", c => c.GetInt("akka.remote.dot-netty.tcp.port"));
        if (port is < 1 or > 65535)
            throw new RaftConfigurationException("akka.remote.dot-netty.tcp.port", $"must be a fixed port between 1 and 65535 (the members find this node there), got {port}");
        var tls = HoconReader.Read(config, "akka.remote.dot-netty.tcp.enable-ssl", c => c.GetBoolean("akka.remote.dot-netty.tcp.enable-ssl"));
        return $"akka.{(tls ? "ssl." : "")}tcp://{RaftServer.ActorSystemName}@{(string.IsNullOrEmpty(publicHost) ? host : publicHost)}:{port.ToString(CultureInfo.InvariantCulture)}";
    }

    /// <summary>This node's own entry in raft.members must be where its ActorSystem listens, or no peer could reach it.</summary>
    private static void CheckOwnAddress(Config config, RaftMembership membership, string expected)
    {
        var self = config.GetValue("raft.members").GetArray()
            .Select(v => v.GetObject())
            .FirstOrDefault(o => o.GetKey("id")?.GetString() == membership.SelfId);
        var address = self?.GetKey("address")?.GetString();
        if (address is null)
            return; // given as a full actor path: the node lives where its owner put it
        if (!string.Equals(address.TrimEnd('/'), expected, StringComparison.OrdinalIgnoreCase))
            throw new RaftConfigurationException(
                "raft.members",
                $"this node ({membership.SelfId}) is listed at {address}, but its ActorSystem \"raft\" listens at {expected} (akka.remote.dot-netty.tcp)");
    }
}

/// <summary>Where the HTTP API listens: an IP address, "localhost" or "*" (every interface), and a port.</summary>
public sealed record HttpEndpoint(string Host, int Port)
{
    public static bool TryParse(string text, out HttpEndpoint endpoint, out string problem)
    {
        endpoint = new HttpEndpoint("", 0);
        problem = "";
        text = text.Trim();
        var colon = text.LastIndexOf(':');
        if (colon <= 0 || colon == text.Length - 1)
        {
            problem = "must be \"host:port\"";
            return false;
        }

        var host = text[..colon];
        var portText = text[(colon + 1)..];
        if (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port > 65535)
        {
            problem = $"the port '{portText}' is not a number from 0 to 65535";
            return false;
        }

        if (host.StartsWith('[') && host.EndsWith(']'))
            host = host[1..^1];
        if (host is not ("localhost" or "*") && !IPAddress.TryParse(host, out _))
        {
            problem = $"the host '{host}' is not an IP address, \"localhost\" or \"*\"";
            return false;
        }

        endpoint = new HttpEndpoint(host, port);
        return true;
    }

    /// <summary>The URL a client on this machine uses.</summary>
    public string Url(int? boundPort = null)
    {
        var host = Host switch
        {
            "*" or "0.0.0.0" => "127.0.0.1",
            "::" => "[::1]",
            var h when h.Contains(':') => $"[{h}]",
            var h => h,
        };
        return $"http://{host}:{(boundPort ?? Port).ToString(CultureInfo.InvariantCulture)}";
    }
}

/// <summary>The server cannot start; the message says why (naming the key for a config problem).</summary>
public sealed class ServerStartException(string message, Exception? inner = null) : Exception(message, inner);
