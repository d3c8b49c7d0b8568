using Akka.Actor;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using RaftActors.Client;
using RaftActors.Configuration;
using RaftActors.StateMachine;

namespace RaftActors.Hosting;

/// <summary>Adds a Raft node to an Akka.Hosting <c>AddAkka(...)</c> builder.</summary>
public static class RaftHostingExtensions
{
    /// <summary>Tag of the node's liveness check.</summary>
    public const string LiveTag = "live";

    /// <summary>Tag of the node's readiness check.</summary>
    public const string ReadyTag = "ready";

    /// <summary>
    /// Runs a Raft node in this ActorSystem, once it has started: its settings read from the
    /// <paramref name="configure"/>d <see cref="RaftOptions"/> over the system's HOCON over
    /// RaftActors' defaults (a bad value fails the host's start naming its key and option); its
    /// storage opened before it starts and closed on CoordinatedShutdown after it stopped; a new
    /// <typeparamref name="TStateMachine"/> per node incarnation, made by the service container.
    /// The node actor is registered as <see cref="RaftNodeKey"/> and a client beside it as
    /// <see cref="RaftClientKey"/> (inject the client's facade with <see cref="AddRaftClient"/>).
    /// </summary>
    /// <remarks>
    /// RaftActors' defaults (<see cref="RaftSettings.DefaultConfig"/>) are added beneath the
    /// system's HOCON: the Raft serializers, and Akka.Remote's passive connections and address
    /// reuse off, which Akka reads only when the system starts. The options go above it, so they
    /// win over a <c>raft</c> section in a HOCON file added before them.
    /// </remarks>
    public static AkkaConfigurationBuilder WithRaft<TStateMachine>(this AkkaConfigurationBuilder builder, Action<RaftOptions> configure)
        where TStateMachine : IRaftStateMachine =>
        builder.WithRaft(configure, RaftHosting.CreateThroughContainer<TStateMachine>);

    /// <summary>
    /// Runs a Raft node in this ActorSystem, as <see cref="WithRaft{TStateMachine}(AkkaConfigurationBuilder, Action{RaftOptions})"/>
    /// does, with each node incarnation's state machine made by <paramref name="createStateMachine"/>
    /// from the host's services: for a state machine that needs more than its constructor's
    /// dependencies, or whose application keeps a reference to the newest one (for local reads).
    /// The first is made while the host starts, so a factory that throws fails the start.
    /// </summary>
    public static AkkaConfigurationBuilder WithRaft<TStateMachine>(
        this AkkaConfigurationBuilder builder, Action<RaftOptions> configure, Func<IServiceProvider, TStateMachine> createStateMachine)
        where TStateMachine : IRaftStateMachine
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        ArgumentNullException.ThrowIfNull(createStateMachine);
        var options = new RaftOptions();
        configure(options);
        var (text, optionOf) = options.Write();
        builder.AddHocon(text, HoconAddMode.Prepend);
        builder.AddHocon(RaftSettings.DefaultConfig, HoconAddMode.Append);
        return builder.WithActors((system, registry, resolver) =>
            RaftHosting.Start(system, registry, resolver.GetService<IServiceProvider>(), options, optionOf, createStateMachine));
    }

    /// <summary>
    /// Health checks of the node that <see cref="WithRaft{TStateMachine}(AkkaConfigurationBuilder, Action{RaftOptions})"/> starts, with the host's
    /// other health checks: <c>raft-live</c> (tag <see cref="LiveTag"/>: the node actor runs) and
    /// <c>raft-ready</c> (tag <see cref="ReadyTag"/>: <see cref="Messages.RaftReadiness"/> — a leader
    /// known, the storage working, every committed entry applied). Both also carry the tag <c>raft</c>.
    /// </summary>
    /// <param name="builder">The host's Akka configuration, after <see cref="WithRaft{TStateMachine}(AkkaConfigurationBuilder, Action{RaftOptions})"/>.</param>
    /// <param name="answerWithin">How long a check waits for the node's status; 2 s by default.</param>
    public static AkkaConfigurationBuilder WithRaftHealthCheck(this AkkaConfigurationBuilder builder, TimeSpan? answerWithin = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var within = answerWithin ?? TimeSpan.FromSeconds(2);
        if (within <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(answerWithin), within, "must be positive");
        return builder
            .WithHealthCheck("raft-live", new RaftLivenessCheck(within), HealthStatus.Unhealthy, ["raft", LiveTag])
            .WithHealthCheck("raft-ready", new RaftReadinessCheck(within), HealthStatus.Unhealthy, ["raft", ReadyTag]);
    }

    /// <summary>
    /// Registers the <see cref="RaftClientFacade"/> of the client that <see cref="WithRaft{TStateMachine}(AkkaConfigurationBuilder, Action{RaftOptions})"/>
    /// starts beside the node, for injection. A separate call because an <c>AddAkka</c> builder runs
    /// after the service container is built and cannot add services to it. Resolve it once the
    /// host has started (the node and its client start with the ActorSystem).
    /// </summary>
    public static IServiceCollection AddRaftClient(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        return services.AddSingleton(provider => RaftHosting.ClientOf(provider.GetRequiredService<ActorSystem>()));
    }
}
