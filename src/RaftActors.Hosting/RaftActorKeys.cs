namespace RaftActors.Hosting;

/// <summary>
/// The ActorRegistry key of the Raft node actor that <see cref="RaftHostingExtensions.WithRaft{TStateMachine}(Akka.Hosting.AkkaConfigurationBuilder, Action{RaftOptions})"/>
/// starts: inject <c>IRequiredActor&lt;RaftNodeKey&gt;</c>, or <c>registry.Get&lt;RaftNodeKey&gt;()</c>.
/// </summary>
public sealed class RaftNodeKey
{
    private RaftNodeKey()
    {
    }
}

/// <summary>
/// The ActorRegistry key of the <see cref="Client.RaftClient"/> actor started beside the node:
/// inject <c>IRequiredActor&lt;RaftClientKey&gt;</c>, or the <see cref="Client.RaftClientFacade"/>
/// that wraps it (<see cref="RaftHostingExtensions.AddRaftClient"/>).
/// </summary>
public sealed class RaftClientKey
{
    private RaftClientKey()
    {
    }
}
