using Akka.Actor;
using RaftActors.Messages;

namespace RaftActors.Server.Hosting;

/// <summary>
/// Prints every change of the node's role, term or leader as one line (see
/// <see cref="ServerOutput.StateLine"/>), and reports when the node actor stops. The host subscribes it
/// to the EventStream before the node starts, so the first election is not missed.
/// </summary>
internal sealed class NodeEventPrinter : ReceiveActor
{
    public NodeEventPrinter(ServerOutput output, Action nodeStopped)
    {
        IActorRef? node = null;
        Receive<WatchNode>(watch =>
        {
            node = watch.Node;
            Context.Watch(node);
        });
        Receive<RaftStateChanged>(change => output.State(change.NodeId, change.Role.ToString(), change.Term, change.LeaderId));
        Receive<Terminated>(terminated => terminated.ActorRef.Equals(node), _ => nodeStopped());
    }

    public static Props Props(ServerOutput output, Action nodeStopped) =>
        Akka.Actor.Props.Create(() => new NodeEventPrinter(output, nodeStopped));

    /// <summary>Tells the printer which actor is the node, whose end ends the server.</summary>
    public sealed record WatchNode(IActorRef Node);
}

/// <summary>
/// What a server prints on standard output, one event a line: "[time]  nodeId  what". Without
/// timestamps (under the cluster launcher, which stamps lines itself) the lines start with the id.
/// </summary>
public sealed class ServerOutput(string nodeId, bool timestamps, TextWriter? writer = null)
{
    private readonly TextWriter _out = writer ?? Console.Out;
    private readonly Lock _lock = new();

    /// <summary>The state line's shape, which the cluster launcher and tests parse: "n1  Leader     term 2  leader n2".</summary>
    public static string StateLine(string nodeId, string role, long term, string? leader) =>
        $"{nodeId}  {role,-9}  term {term}  leader {leader ?? "-"}";

    public void State(string id, string role, long term, string? leader) => Write(StateLine(id, role, term, leader));

    public void Say(string what) => Write($"{nodeId}  {what}");

    private void Write(string line)
    {
        lock (_lock)
        {
            _out.WriteLine(timestamps ? $"{DateTime.Now:HH:mm:ss.fff}  {line}" : line);
            _out.Flush();
        }
    }
}
