using Akka.Actor;
using Microsoft.Extensions.Logging;
using RaftActors.Messages;

namespace RaftActors.Server.Hosting;

/// <summary>
/// Prints the node's role, term and leader as it starts with, then every change of them, one line
/// each (<see cref="ServerOutput.State"/>), and reports when the node actor stops. It subscribes to
/// the node itself, which answers with its status first, so no change in between is missed.
/// </summary>
internal sealed class NodeEventPrinter : ReceiveActor
{
    public NodeEventPrinter(IActorRef node, ServerOutput output, Action nodeStopped)
    {
        Receive<RaftStatus>(status => output.State(status.Role.ToString(), status.Term, status.LeaderId));
        Receive<RaftStateChanged>(change => output.State(change.Role.ToString(), change.Term, change.LeaderId));
        Receive<Terminated>(terminated => terminated.ActorRef.Equals(node), _ => nodeStopped());
        Context.Watch(node);
        node.Tell(new SubscribeRaftEvents(Self));
    }

    public static Props Props(IActorRef node, ServerOutput output, Action nodeStopped) =>
        Akka.Actor.Props.Create(() => new NodeEventPrinter(node, output, nodeStopped));
}

/// <summary>
/// The server's own lines, one event a line, through the host's logging under <see cref="Category"/>
/// (see <see cref="ServerLogFormatter"/>, which starts each with the time and the node id). A state
/// line, which the cluster launcher and the tests parse, reads "n1  Leader     term 2  leader n2".
/// </summary>
public sealed class ServerOutput(ILogger logger)
{
    /// <summary>The logging category of the server's own lines.</summary>
    public const string Category = "RaftActors.Server";

    public void State(string role, long term, string? leader) => Say($"{role,-9}  term {term}  leader {leader ?? "-"}");

    public void Say(string what) => logger.LogInformation("{Line}", what);
}
