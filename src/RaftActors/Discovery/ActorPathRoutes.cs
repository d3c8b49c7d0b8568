using Akka.Actor;

namespace RaftActors.Discovery;

/// <summary>How the library reaches an actor it knows by path: a member node, from a peer or a client.</summary>
internal static class ActorPathRoutes
{
    /// <summary>
    /// A remote path resolves once to a reference that reaches whatever actor lives there, across
    /// restarts of that actor. A local path gets a selection, resolved at each send: a local
    /// reference would stay dead if the actor did not exist yet or was restarted (in-process
    /// clusters, tests, a client beside its node).
    /// </summary>
    public static ICanTell Reach(IActorRefFactory context, ActorSystem system, ActorPath path) =>
        IsRemote(system, path.Address) ? ((ExtendedActorSystem)system).Provider.ResolveActorRef(path) : context.ActorSelection(path);

    /// <summary>Whether <paramref name="address"/> is another ActorSystem's: what goes there is serialized.</summary>
    public static bool IsRemote(ActorSystem system, Address address) =>
        address.HasGlobalScope && address != ((ExtendedActorSystem)system).Provider.DefaultAddress;
}
