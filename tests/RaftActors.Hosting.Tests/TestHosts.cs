using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Configuration;
using Akka.Hosting;
using Akka.Remote.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using RaftActors.Messages;
using RaftActors.StateMachine;

namespace RaftActors.Hosting.Tests;

/// <summary>Generic hosts running a Raft node through WithRaft, and bounded waits on them.</summary>
public static class TestHosts
{
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    /// <summary>The test's commands travel through raft-hyperion, allowed by RaftOptions.AllowedCommandTypes.</summary>
    public static readonly Config CounterSerialization = ConfigurationFactory.ParseString(
        $"akka.actor.serialization-bindings {{ \"{typeof(ICounterMessage).FullName}, {typeof(ICounterMessage).Assembly.GetName().Name}\" = raft-hyperion }}");

    public static readonly string CounterTypes = $"{typeof(ICounterMessage).Namespace}.*, {typeof(ICounterMessage).Assembly.GetName().Name}";

    /// <summary>Election timings short enough for quick tests, long enough for a shared 2-core machine.</summary>
    public static void FastElections(RaftOptions options)
    {
        options.ElectionTimeoutMin = TimeSpan.FromMilliseconds(300);
        options.ElectionTimeoutMax = TimeSpan.FromMilliseconds(600);
        options.HeartbeatInterval = TimeSpan.FromMilliseconds(50);
        options.TransferLeadershipOnShutdown = TimeSpan.Zero;
        options.AllowedCommandTypes.Add(CounterTypes);
    }

    /// <summary>A host (not started) whose ActorSystem "raft" listens on loopback at <paramref name="port"/> and runs a Counter node.</summary>
    public static IHost Build(int port, Action<RaftOptions> configure) => Build<Counter>(port, configure);

    /// <summary>
    /// A host (not started) whose ActorSystem "raft" listens on loopback at <paramref name="port"/> and runs a node of
    /// <typeparamref name="TStateMachine"/>, made by the container or by <paramref name="createStateMachine"/>.
    /// </summary>
    public static IHost Build<TStateMachine>(
        int port, Action<RaftOptions> configure, Config? hocon = null, Func<IServiceProvider, TStateMachine>? createStateMachine = null)
        where TStateMachine : IRaftStateMachine =>
        new HostBuilder()
            .ConfigureLogging(logging => logging.SetMinimumLevel(LogLevel.Warning))
            .ConfigureServices(services =>
            {
                services.AddSingleton<CounterCreations>();
                services.AddRaftClient();
                services.AddHealthChecks(); // the host's health check service, which WithRaftHealthCheck adds to
                services.AddAkka("raft", (builder, _) =>
                {
                    builder
                        .AddHocon(CounterSerialization.WithFallback(hocon ?? Config.Empty), HoconAddMode.Prepend)
                        .WithRemoting("127.0.0.1", port)
                        .WithRaft(
                            options =>
                            {
                                FastElections(options);
                                configure(options);
                            },
                            createStateMachine ?? RaftHosting.CreateThroughContainer<TStateMachine>)
                        .WithRaftHealthCheck();
                });
            })
            .Build();

    public static string Address(int port) => $"akka.tcp://raft@127.0.0.1:{port}";

    public static string TempDirectory()
    {
        var path = Path.Combine(Path.GetTempPath(), "raft-hosting-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(path);
        return path;
    }

    public static Task<RaftStatus> StatusAsync(IHost host) =>
        host.Services.GetRequiredService<ActorRegistry>().Get<RaftNodeKey>().Ask<RaftStatus>(GetRaftStatus.Instance, TimeSpan.FromSeconds(3));

    /// <summary>Polls <paramref name="condition"/> until it holds, failing with <paramref name="what"/> once <see cref="Bound"/> has passed.</summary>
    public static async Task<T> EventuallyAsync<T>(Func<Task<T?>> condition, string what) where T : class
    {
        var deadline = DateTime.UtcNow + Bound;
        while (true)
        {
            if (await condition() is { } value)
                return value;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"not within {Bound.TotalSeconds} s: {what}");
            await Task.Delay(50);
        }
    }
}
