using Akka.Actor;
using RaftActors.Node;

namespace RaftActors.Testing;

/// <summary>
/// Creates a node actor once the gate opens (on the actor's own thread, inside Akka's creation
/// context), so a test can create every node of a cluster first and let them all start together.
/// </summary>
internal sealed class GatedProducer(ManualResetEventSlim gate, Func<ActorBase> create) : IIndirectActorProducer
{
    public Type ActorType => typeof(RaftNode);

    public ActorBase Produce()
    {
        if (!gate.Wait(TimeSpan.FromSeconds(10)))
            throw new TimeoutException("the cluster's actors were not all created in time");
        return create();
    }

    public void Release(ActorBase actor)
    {
    }
}
