using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Event;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using RaftActors.Configuration;
using RaftActors.Messages;
using RaftActors.Node;
using RaftActors.Server.Http;
using RaftActors.Server.KeyValue;
using RaftActors.Storage;
using LogLevel = Microsoft.Extensions.Logging.LogLevel;

namespace RaftActors.Server.Hosting;

/// <summary>
/// One server: the ActorSystem "raft" with Akka.Remote, the Raft node with its write-ahead log in
/// raft.data-dir, the key-value state machine, and the HTTP API on raft.server.http. Runs until
/// Ctrl+C or SIGTERM (or, supervised, until its standard input closes), then stops in order:
/// HTTP, the ActorSystem, the log. Exit codes: 0 stopped, 1 failed while starting or running,
/// 2 a bad configuration.
/// </summary>
public static class RaftServer
{
    public const string ActorSystemName = "raft";
    private static readonly TimeSpan TerminateTimeout = TimeSpan.FromSeconds(10);

    /// <param name="configFile">The node's HOCON file.</param>
    /// <param name="supervised">Run under a launcher: no timestamps, and stop when standard input closes (the launcher died).</param>
    public static async Task<int> RunAsync(string configFile, bool supervised)
    {
        var faultInjection = false;
        if (ServerSettings.LoadOrReport(configFile, loaded => faultInjection = FaultInjectionEndpoints.Enabled(loaded.Config)) is not { } settings)
            return 2;

        var output = new ServerOutput(settings.NodeId, timestamps: !supervised);
        FileRaftStorage storage;
        try
        {
            Directory.CreateDirectory(settings.DataDirectory);
            storage = FileRaftStorage.Open(settings.DataDirectory);
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"raft.data-dir: cannot open the write-ahead log in {settings.DataDirectory}: {e.Message}");
            return 1;
        }

        ActorSystem system;
        try
        {
            system = ActorSystem.Create(ActorSystemName, settings.Config);
        }
        catch (Exception e)
        {
            storage.Dispose();
            // Akka wraps the bind's SocketException in several layers, not all AggregateExceptions.
            var innermost = e;
            while (innermost.InnerException is { } inner)
                innermost = inner;
            var inUse = innermost is SocketException { SocketErrorCode: SocketError.AddressAlreadyInUse };
            Console.Error.WriteLine(inUse
                ? $"akka.remote.dot-netty.tcp.port: cannot listen on {settings.Config.GetString("akka.remote.dot-netty.tcp.hostname")}:{settings.Config.GetInt("akka.remote.dot-netty.tcp.port")}: the address is in use"
                : $"cannot start the ActorSystem: {innermost.Message}");
            return 1;
        }

        using var metricsExport = MetricsEndpoints.StartExport();
        var exitCode = 0;
        var shuttingDown = false;
        var nodeStopped = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        WebApplication? app = null;
        try
        {
            KeyValueStore? current = null;
            var printer = system.ActorOf(NodeEventPrinter.Props(output, () => nodeStopped.TrySetResult()), "event-printer");
            system.EventStream.Subscribe(printer, typeof(RaftStateChanged));
            var onDisk = $"term {storage.HardState.Term}, {storage.Entries.Count} log entries on disk";
            output.State(settings.NodeId, "Follower", storage.HardState.Term, null);
            var node = system.ActorOf(
                RaftNode.Props(settings.Config, storage, () =>
                {
                    // One state machine per incarnation of the node actor; stale reads see the newest.
                    var store = new KeyValueStore();
                    Volatile.Write(ref current, store);
                    return store;
                }),
                settings.ActorName);
            printer.Tell(new NodeEventPrinter.WatchNode(node));
            var gateway = new RaftGateway(system, node, settings.NodeId, settings.RequestTimeout);

            app = BuildApp(settings);
            var httpLog = Logging.GetLogger(system, "http");
            KvEndpoints.Map(app, gateway, () => Volatile.Read(ref current), settings.MaxValueBytes, message => httpLog.Warning("{0}", message));
            MembershipEndpoints.Map(app, gateway);
            HealthEndpoints.Map(app, gateway);
            MetricsEndpoints.Map(app);
            SnapshotEndpoints.Map(app, gateway, settings.DataDirectory);
            if (faultInjection)
                FaultInjectionEndpoints.Map(app, system, settings.Membership, output);
            var lifetime = app.Lifetime;

            // Ctrl+C, SIGTERM or the launcher's end: the ActorSystem's CoordinatedShutdown runs while
            // HTTP still serves, so a leader hands its leadership over (raft.transfer-leadership-on-
            // shutdown) and the writes in flight here are forwarded to the new leader, not refused.
            lifetime.ApplicationStopping.Register(() =>
            {
                Volatile.Write(ref shuttingDown, true);
                CoordinatedShutdown.Get(system).Run(CoordinatedShutdown.ClrExitReason.Instance).Wait(TerminateTimeout);
            });
            _ = nodeStopped.Task.ContinueWith(_ =>
            {
                if (Volatile.Read(ref shuttingDown))
                    return;
                output.Say("the Raft node stopped (see the log above); the server stops");
                exitCode = 1;
                lifetime.StopApplication();
            }, TaskScheduler.Default);

            try
            {
                await app.StartAsync();
            }
            catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"raft.server.http: cannot listen on {settings.Http.Host}:{settings.Http.Port}: {e.GetBaseException().Message}");
                return 1;
            }

            var address = ((ExtendedActorSystem)system).Provider.DefaultAddress;
            output.Say($"ready  http {app.Urls.FirstOrDefault() ?? settings.Http.Url()}  akka {address}/user/{settings.ActorName}  " +
                       $"data {settings.DataDirectory}  (started with {onDisk})");
            if (supervised)
                WatchStandardInput(lifetime);
            await app.WaitForShutdownAsync();
            output.Say("stopping");
        }
        finally
        {
            Volatile.Write(ref shuttingDown, true);
            if (app is not null)
            {
                try
                {
                    await app.StopAsync().WaitAsync(TerminateTimeout);
                }
                catch (Exception e)
                {
                    Console.Error.WriteLine($"stopping the HTTP API: {e.Message}");
                }

                await app.DisposeAsync();
            }

            var terminated = system.Terminate();
            if (await Task.WhenAny(terminated, Task.Delay(TerminateTimeout)) != terminated)
                Console.Error.WriteLine($"the ActorSystem did not terminate within {TerminateTimeout.TotalSeconds:F0} s");
            storage.Dispose();
        }

        output.Say("stopped");
        return exitCode;
    }

    private static WebApplication BuildApp(ServerSettings settings)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            Args = [],
            ContentRootPath = AppContext.BaseDirectory,
            EnvironmentName = Environments.Production,
        });
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        // A failure to start (the port is taken) is reported once, naming raft.server.http, not as a stack trace.
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.None);
        builder.Services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(5));
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
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
        return builder.Build();
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
