using System.Runtime.CompilerServices;
using Akka;
using Akka.Actor;
using Akka.Configuration;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using RaftActors.Client;
using RaftActors.Configuration;
using RaftActors.Node;
using RaftActors.StateMachine;
using RaftActors.Storage;

namespace RaftActors.Hosting;

/// <summary>
/// Starts what <see cref="RaftHostingExtensions.WithRaft{TStateMachine}(Akka.Hosting.AkkaConfigurationBuilder, Action{RaftOptions})"/> adds, once the
/// ActorSystem is up: reads the node's settings from the system's final configuration (the
/// options over the application's HOCON over RaftActors' defaults) with the library's own reader,
/// opens the storage, starts the node and its client, and closes the storage on CoordinatedShutdown.
/// </summary>
internal static class RaftHosting
{
    /// <summary>The data directory's key, the one the key-value server reads too.</summary>
    public const string DataDirectoryKey = "raft.data-dir";

    // The client facade of each system that runs a hosted node, for dependency injection.
    private static readonly ConditionalWeakTable<ActorSystem, RaftClientFacade> Clients = new();

    public static void Start<TStateMachine>(
        ActorSystem system, IActorRegistry registry, IServiceProvider services, RaftOptions options, IReadOnlyDictionary<string, string> optionOf,
        Func<IServiceProvider, TStateMachine> createStateMachine)
        where TStateMachine : IRaftStateMachine
    {
        // Akka.Hosting chooses the provider with a setup (WithRemoting, WithClustering), which
        // Akka does not write into the config; the reader checks the provider the system runs.
        var config = ConfigurationFactory.ParseString($"akka.actor.provider = {RaftHoconWriter.Quote(system.Settings.ProviderClass)}")
            .WithFallback(system.Settings.Config);
        var (membership, settings) = NamingOptions(optionOf, () => (RaftMembership.FromConfig(config), RaftSettings.FromConfig(config)));
        var stateMachines = StateMachineFactory(services, createStateMachine);
        var storage = NamingOptions(optionOf, () => OpenStorage(config, options));
        IActorRef node;
        try
        {
            node = system.ActorOf(RaftNode.Props(membership, settings, storage, stateMachines), membership.ActorName);
        }
        catch
        {
            (storage as IDisposable)?.Dispose();
            throw;
        }

        CloseStorageAfterNodeStops(system, node, storage);
        registry.Register<RaftNodeKey>(node);

        // Under cluster discovery the configuration says where no member lives; the local node
        // does, and the client follows its NotLeader hints (or its forwarding) to the leader.
        var members = membership.Discovery == RaftDiscovery.Static
            ? RaftClient.MembersFromConfig(config)
            : [new RaftMember(membership.SelfId, node.Path)];
        var client = RaftClientFacade.Start(system, members, options.Client, $"{membership.ActorName}-client");
        registry.Register<RaftClientKey>(client.Actor);
        Clients.AddOrUpdate(system, client);
    }

    /// <summary>The client started beside the node of <paramref name="system"/>.</summary>
    public static RaftClientFacade ClientOf(ActorSystem system) =>
        Clients.TryGetValue(system, out var client)
            ? client
            : throw new InvalidOperationException(
                $"no Raft node runs in the ActorSystem '{system.Name}': add WithRaft<TStateMachine>(...) to its AddAkka builder, " +
                "and resolve the RaftClientFacade once the host has started");

    /// <summary>A state machine made by the container, its constructor's dependencies resolved from it.</summary>
    public static TStateMachine CreateThroughContainer<TStateMachine>(IServiceProvider services)
        where TStateMachine : IRaftStateMachine
    {
        try
        {
            return ActivatorUtilities.CreateInstance<TStateMachine>(services);
        }
        catch (InvalidOperationException e)
        {
            throw new InvalidOperationException($"the state machine {typeof(TStateMachine).FullName} cannot be created: {e.Message}", e);
        }
    }

    /// <summary>
    /// A new state machine per node incarnation. The first is made here, so that a state machine
    /// that cannot be made fails the host's start rather than the node actor's; the first
    /// incarnation takes it.
    /// </summary>
    private static Func<IRaftStateMachine> StateMachineFactory<TStateMachine>(IServiceProvider services, Func<IServiceProvider, TStateMachine> create)
        where TStateMachine : IRaftStateMachine
    {
        IRaftStateMachine? first = create(services);
        return () => Interlocked.Exchange(ref first, null) ?? create(services);
    }

    private static IRaftStorage OpenStorage(Config config, RaftOptions options)
    {
        if (options.InMemoryStorage)
            return new InMemoryRaftStorage();
        var directory = config.HasPath(DataDirectoryKey) ? config.GetString(DataDirectoryKey) : null;
        if (string.IsNullOrWhiteSpace(directory))
            throw new RaftConfigurationException(DataDirectoryKey, $"is missing: a node needs a data directory (or {nameof(RaftOptions)}.{nameof(RaftOptions.InMemoryStorage)} for tests)");
        return FileRaftStorage.Open(directory, options.FileStorage);
    }

    /// <summary>
    /// The storage is closed once the node has stopped, so no write of the node's is cut short,
    /// and before the host's stop returns, so that a new host can open the same directory at once.
    /// </summary>
    private static void CloseStorageAfterNodeStops(ActorSystem system, IActorRef node, IRaftStorage storage)
    {
        if (storage is not IDisposable disposable)
            return;
        var shutdown = CoordinatedShutdown.Get(system);
        var wait = shutdown.Timeout(CoordinatedShutdown.PhaseBeforeActorSystemTerminate);
        shutdown.AddTask(CoordinatedShutdown.PhaseBeforeActorSystemTerminate, "raft-close-storage", async () =>
        {
            try
            {
                await node.GracefulStop(wait).ConfigureAwait(false);
            }
            catch (TaskCanceledException)
            {
                // The node did not stop in time; the store still finishes the writes it took before it closes.
            }

            disposable.Dispose();
            return Done.Instance;
        });
    }

    /// <summary>Runs <paramref name="read"/>; a refused value's message also names the option that sets its key.</summary>
    private static T NamingOptions<T>(IReadOnlyDictionary<string, string> optionOf, Func<T> read)
    {
        try
        {
            return read();
        }
        catch (RaftConfigurationException e) when (optionOf.TryGetValue(e.Key, out var option))
        {
            var prefix = e.Key + ": ";
            var problem = e.Message.StartsWith(prefix, StringComparison.Ordinal) ? e.Message[prefix.Length..] : e.Message;
            throw new RaftConfigurationException(e.Key, $"{problem} (option {nameof(RaftOptions)}.{option})", e);
        }
    }
}
