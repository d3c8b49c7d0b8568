using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using RaftActors.Hosting;
using RaftActors.Server.Http;
using RaftActors.Server.KeyValue;
using RaftActors.Storage;

namespace RaftActors.Server.Hosting;

/// <summary>
/// One server, on the .NET generic host: the ActorSystem "raft" with Akka.Remote (Akka.Hosting's
/// <c>AddAkka</c>), the Raft node with its write-ahead log in raft.data-dir and the key-value state
/// machine (<c>WithRaft</c>), and the HTTP API on Kestrel. The node's HOCON file is its
/// configuration, with environment variables and appsettings.json over it (<see cref="AppConfiguration"/>);
/// Kestrel listens where <c>Kestrel:Endpoints</c> says, else on raft.server.http. Akka's log and
/// the server's own lines go through the host's logging, in one format (<see cref="ServerLogFormatter"/>).
/// Runs until Ctrl+C or SIGTERM (or, supervised, until its standard input closes), then stops in
/// order: the node (a leader hands over first, while HTTP still serves), its log, the ActorSystem,
/// HTTP. Exit codes: 0 stopped, 1 failed while starting or running, 2 a bad configuration.
/// </summary>
public static class RaftServer
{
    public const string ActorSystemName = "raft";
    private const string KestrelEndpoints = "Kestrel:Endpoints";
    private static readonly TimeSpan TerminateTimeout = TimeSpan.FromSeconds(10);
    private const string InlineSocketCompletions = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    /// <param name="configFile">The node's HOCON file.</param>
    /// <param name="supervised">Run under a launcher: no timestamps, and stop when standard input closes (the launcher died).</param>
    public static async Task<int> RunAsync(string configFile, bool supervised)
    {
        RunSocketCompletionsInline();
        var faultInjection = false;
        if (ServerSettings.LoadOrReport(configFile, loaded => faultInjection = FaultInjectionEndpoints.Enabled(loaded.Config)) is not { } settings)
            return 2;

        var exitCode = 0;
        var shuttingDown = false;
        var nodeStarted = false;
        var ready = false;
        KeyValueStore? current = null;
        WebApplication? app = null;
        var builder = CreateBuilder(settings, supervised);
        builder.Services.AddAkka(ActorSystemName, (akka, services) => akka
            .AddHocon(settings.Config, HoconAddMode.Prepend)
            // The host runs CoordinatedShutdown on Ctrl+C and SIGTERM (see ApplicationStopping below);
            // Akka's own hook would run it on SIGTERM too, first, as if the node had failed.
            .AddHocon("akka.coordinated-shutdown.run-by-clr-shutdown-hook = off", HoconAddMode.Prepend)
            .ConfigureLoggers(loggers =>
            {
                loggers.ClearLoggers();
                loggers.AddLogger<AkkaLogBridge>();
            })
            .WithRaft(
                options => options.DataDirectory = settings.DataDirectory,
                _ =>
                {
                    // One state machine per incarnation of the node actor; stale reads see the newest.
                    var store = new KeyValueStore();
                    Volatile.Write(ref current, store);
                    return store;
                })
            .WithActors((system, registry) =>
            {
                // Akka.Hosting starts the ActorSystem (and this) before Kestrel, inside app.StartAsync:
                // the HTTP API is mapped here, once the node it needs exists, and before it serves.
                var node = registry.Get<RaftNodeKey>();
                var output = OutputOf(services);
                var lifetime = services.GetRequiredService<IHostApplicationLifetime>();
                system.ActorOf(NodeEventPrinter.Props(node, output, () =>
                {
                    if (Volatile.Read(ref shuttingDown))
                        return;
                    output.Say("the Raft node stopped (see the log above); the server stops");
                    exitCode = 1;
                    lifetime.StopApplication();
                }), "event-printer");
                MapHttpApi(app!, settings, system, node, () => Volatile.Read(ref current), output, faultInjection);
                nodeStarted = true;
            }));
        app = builder.Build();
        var output = OutputOf(app.Services);
        using var metricsExport = MetricsEndpoints.StartExport();

        // The ActorSystem is made here rather than inside the host's start, so that a taken
        // remoting port is reported as such and nothing else starts.
        ActorSystem system;
        try
        {
            system = app.Services.GetRequiredService<ActorSystem>();
        }
        catch (Exception e)
        {
            Console.Error.WriteLine(CannotStartActorSystem(settings, e));
            await app.DisposeAsync();
            return 1;
        }

        // Ctrl+C, SIGTERM or the launcher's end: the ActorSystem's CoordinatedShutdown runs before the
        // host stops Kestrel, so a leader hands its leadership over (raft.transfer-leadership-on-
        // shutdown) and the writes in flight here are forwarded to the new leader, not refused.
        app.Lifetime.ApplicationStopping.Register(() =>
        {
            Volatile.Write(ref shuttingDown, true);
            CoordinatedShutdown.Get(system).Run(CoordinatedShutdown.ClrExitReason.Instance).Wait(TerminateTimeout);
        });

        try
        {
            try
            {
                await app.StartAsync();
            }
            catch (Exception e)
            {
                Console.Error.WriteLine(Volatile.Read(ref nodeStarted) ? CannotListen(settings, app.Configuration, e) : CannotStartNode(settings, e));
                exitCode = 1;
                return exitCode;
            }

            ready = true;
            var address = ((ExtendedActorSystem)system).Provider.DefaultAddress;
            output.Say($"ready  http {string.Join(", ", app.Urls)}  akka {address}/user/{settings.ActorName}  data {settings.DataDirectory}");
            if (supervised)
                WatchStandardInput(app.Lifetime);
            await app.WaitForShutdownAsync();
            output.Say("stopping");
        }
        finally
        {
            Volatile.Write(ref shuttingDown, true);
            try
            {
                // Stops Kestrel, then the ActorSystem (the node first, then its log), if the
                // ApplicationStopping hook has not already.
                await app.StopAsync().WaitAsync(TerminateTimeout);
            }
            catch (Exception e)
            {
                Console.Error.WriteLine($"stopping the server: {e.Message}");
            }

            if (await Task.WhenAny(system.WhenTerminated, Task.Delay(TerminateTimeout)) != system.WhenTerminated)
                Console.Error.WriteLine($"the ActorSystem did not terminate within {TerminateTimeout.TotalSeconds:F0} s");
            if (ready)
                output.Say("stopped");
            await app.DisposeAsync(); // writes out the log lines still queued
        }

        return exitCode;
    }

    /// <summary>
    /// Lets .NET finish socket operations on its event threads instead of handing each completion
    /// to the thread pool: one hand-off fewer for every HTTP request and Akka.Remote read, which
    /// took about a tenth off the processor time of a linearizable read and 0.1 ms off a single
    /// client's PUT median (docs/benchmarks.md). No application code runs on those threads: Kestrel
    /// still passes requests to the thread pool and DotNetty its reads to its event loops. .NET
    /// reads the variable when the process makes its first socket, so this runs before Kestrel and
    /// Akka.Remote start; an operator's own value, 0 included, is kept.
    /// </summary>
    private static void RunSocketCompletionsInline()
    {
        if (Environment.GetEnvironmentVariable(InlineSocketCompletions) is null)
            Environment.SetEnvironmentVariable(InlineSocketCompletions, "1");
    }

    /// <summary>The host: its configuration, its logging in the server's format, Kestrel on the configured endpoints.</summary>
    private static WebApplicationBuilder CreateBuilder(ServerSettings settings, bool supervised)
    {
        // The content root is the program's directory: the host watches it for changes of its
        // default appsettings.json, and the node's directory holds write-ahead logs that change
        // all the time. The configuration's own sources are the server's (AppConfiguration).
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            Args = [],
            ContentRootPath = AppContext.BaseDirectory,
            EnvironmentName = Environments.Production,
        });
        builder.Configuration.Sources.Clear();
        builder.Configuration.AddConfiguration(settings.App.Root);
        builder.Logging.ClearProviders();
        builder.Logging.AddConfiguration(builder.Configuration.GetSection("Logging"));
        builder.Logging.AddConsole(o => o.FormatterName = ServerLogFormatter.FormatterName);
        builder.Logging.AddConsoleFormatter<ServerLogFormatter, ServerLogFormatterOptions>(o =>
        {
            o.NodeId = settings.NodeId;
            o.TimestampFormat = supervised ? null : "HH:mm:ss.fff  ";
        });
        builder.Services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(5));
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Configure(builder.Configuration.GetSection("Kestrel"));
            if (builder.Configuration.GetSection(KestrelEndpoints).GetChildren().Any())
                return;
            var http = settings.Http;
            switch (http.Host)
            {
                case "localhost":
                    kestrel.ListenLocalhost(http.Port);
                    break;
                case "*":
                    kestrel.ListenAnyIP(http.Port);
                    break;
                default:
                    kestrel.Listen(IPAddress.Parse(http.Host), http.Port);
                    break;
            }
        });
        return builder;
    }

    private static ServerOutput OutputOf(IServiceProvider services) =>
        new(services.GetRequiredService<ILoggerFactory>().CreateLogger(ServerOutput.Category));

    private static void MapHttpApi(
        WebApplication app, ServerSettings settings, ActorSystem system, IActorRef node, Func<KeyValueStore?> current, ServerOutput output, bool faultInjection)
    {
        var gateway = new RaftGateway(system, node, settings.NodeId, settings.RequestTimeout);
        var httpLog = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger($"{ServerOutput.Category}.Http");
        KvEndpoints.Map(app, gateway, current, settings.MaxValueBytes, message => httpLog.LogWarning("{Message}", message));
        MembershipEndpoints.Map(app, gateway);
        HealthEndpoints.Map(app, gateway);
        MetricsEndpoints.Map(app);
        SnapshotEndpoints.Map(app, gateway, settings.DataDirectory);
        if (faultInjection)
            FaultInjectionEndpoints.Map(app, system, settings.Membership, output);
    }

    private static string CannotStartActorSystem(ServerSettings settings, Exception e)
    {
        // Akka wraps the bind's SocketException in several layers, not all AggregateExceptions.
        var innermost = Innermost(e);
        return innermost is SocketException { SocketErrorCode: SocketError.AddressAlreadyInUse }
            ? $"akka.remote.dot-netty.tcp.port: cannot listen on {settings.Config.GetString("akka.remote.dot-netty.tcp.hostname")}:{settings.Config.GetInt("akka.remote.dot-netty.tcp.port")}: the address is in use"
            : $"cannot start the ActorSystem: {innermost.Message}";
    }

    private static string CannotStartNode(ServerSettings settings, Exception e)
    {
        // The storage's own exception says what is wrong with the directory (taken, and by which
        // process); the IOException beneath it only which file could not be opened.
        for (var cause = e; cause is not null; cause = cause.InnerException)
        {
            if (cause is RaftStorageException or IOException or UnauthorizedAccessException)
                return $"raft.data-dir: cannot open the write-ahead log in {settings.DataDirectory}: {cause.Message}";
        }

        return $"cannot start the Raft node: {Innermost(e).Message}";
    }

    private static string CannotListen(ServerSettings settings, IConfiguration configuration, Exception e) =>
        configuration.GetSection(KestrelEndpoints).GetChildren().Any()
            ? $"{KestrelEndpoints}: cannot listen: {e.GetBaseException().Message}"
            : $"raft.server.http: cannot listen on {settings.Http.Host}:{settings.Http.Port}: {e.GetBaseException().Message}";

    private static Exception Innermost(Exception e)
    {
        while (e.InnerException is { } inner)
            e = inner;
        return e;
    }

    /// <summary>A launcher keeps the server's standard input open; when it closes, the launcher is gone and the server stops.</summary>
    private static void WatchStandardInput(IHostApplicationLifetime lifetime)
    {
        var thread = new Thread(() =>
        {
            try
            {
                while (Console.In.ReadLine() is not null)
                {
                }
            }
            catch (IOException)
            {
            }

            lifetime.StopApplication();
        })
        {
            IsBackground = true,
            Name = "stdin-watch",
        };
        thread.Start();
    }
}
