using Akka.Actor;
using RaftActors.Configuration;
using RaftActors.Core;
using RaftActors.Messages;
using RaftActors.Node;
using RaftActors.Storage;

namespace RaftActors.Coordination.Tests;

/// <summary>Three Raft nodes running <see cref="LeaseStateMachine"/> under /user of one ActorSystem (in-memory storage).</summary>
internal static class LeaseRaftCluster
{
    public static readonly string[] Ids = ["n1", "n2", "n3"];

    /// <summary>
    /// Starts n1..n3 and waits until one leads. A node resolves its peers' paths when it is
    /// constructed, and in one ActorSystem a path with no actor yet resolves to a dead reference
    /// for good; so every node's construction waits until all three actors are registered.
    /// </summary>
    public static async Task<(IReadOnlyDictionary<string, IActorRef> Nodes, IReadOnlyList<RaftMember> Members)> StartAsync(ActorSystem system, int seed, TimeSpan bound)
    {
        var root = new RootActorPath(((ExtendedActorSystem)system).Provider.DefaultAddress) / "user";
        var members = Ids.Select(id => new RaftMember(id, root / id)).ToList();
        var settings = new RaftSettings(TimeSpan.FromMilliseconds(150), TimeSpan.FromMilliseconds(300), TimeSpan.FromMilliseconds(50), seed);
        var gate = new ManualResetEventSlim();
        var nodes = Ids.ToDictionary(id => id, id => system.ActorOf(
            Props.CreateBy(new GatedProducer(gate, () => new RaftNode(RaftMembership.Create(id, members), settings, new InMemoryRaftStorage(), () => new LeaseStateMachine()))),
            id));
        gate.Set();

        // The first lease command then goes to a cluster ready to answer it well within its term.
        using var deadline = new CancellationTokenSource(bound);
        while (!await HasLeader(nodes.Values))
            await Task.Delay(50, deadline.Token);
        return (nodes, members);
    }

    private static async Task<bool> HasLeader(IEnumerable<IActorRef> nodes)
    {
        var statuses = await Task.WhenAll(nodes.Select(n => n.Ask<RaftStatus>(GetRaftStatus.Instance, TimeSpan.FromSeconds(3))));
        return statuses.Any(s => s.Role == RaftRole.Leader);
    }

}
