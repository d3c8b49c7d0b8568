using Akka.Actor;
using RaftActors.Client;
using RaftActors.Configuration;
using RaftActors.Messages;

namespace RaftActors.Server.Http;

/// <summary>
/// What the HTTP API asks of the Raft cluster. Requests for the leader go through a
/// <see cref="RaftClient"/> whose one member is the local node (which forwards to the leader): it
/// finds the leader, retries what is safe to retry until the request timeout, and sends an
/// attempt on to a new leader as soon as the local node knows one. The local node's own view
/// (status, configuration) is asked of the node directly.
/// </summary>
public sealed class RaftGateway
{
    /// <summary>The longest one attempt waits before a safe retry.</summary>
    public static readonly TimeSpan AttemptTimeout = TimeSpan.FromSeconds(1);

    /// <summary>How long a membership change may take here: a new server may have a whole snapshot and log to catch up on.</summary>
    public static readonly TimeSpan MembershipTimeout = TimeSpan.FromSeconds(60);

    /// <summary>How long a backup may take here: the leader writes the whole state before it answers.</summary>
    public static readonly TimeSpan SnapshotTimeout = TimeSpan.FromSeconds(60);

    private static readonly TimeSpan LocalAskTimeout = TimeSpan.FromSeconds(2);

    private readonly IActorRef _node;

    public RaftGateway(ActorSystem system, IActorRef node, string nodeId, TimeSpan requestTimeout)
    {
        _node = node;
        Client = RaftClientFacade.Start(
            system,
            [new RaftMember(nodeId, node.Path)],
            new RaftClientOptions
            {
                // Never a command's session: every HTTP write is a session of its own.
                ClientId = $"http-gateway:{nodeId}:{Guid.NewGuid():N}",
                RequestTimeout = AttemptTimeout,
                RetryBackoffMin = TimeSpan.FromMilliseconds(20),
                RetryBackoffMax = TimeSpan.FromMilliseconds(200),
                Deadline = requestTimeout,
            },
            "http-gateway-client");
    }

    /// <summary>The client that takes the API's writes, reads, membership changes and backups to the leader.</summary>
    public RaftClientFacade Client { get; }

    /// <summary>The configuration the local node uses, or null when it does not answer.</summary>
    public Task<CurrentConfiguration?> ConfigurationAsync(CancellationToken cancel) => AskLocalAsync<CurrentConfiguration>(GetClusterConfiguration.Instance, cancel);

    /// <summary>The local node's status, or null when it does not answer.</summary>
    public Task<RaftStatus?> StatusAsync(CancellationToken cancel) => AskLocalAsync<RaftStatus>(GetRaftStatus.Instance, cancel);

    private async Task<T?> AskLocalAsync<T>(object question, CancellationToken cancel)
        where T : class
    {
        try
        {
            return await _node.Ask<T>(question, LocalAskTimeout, cancel);
        }
        catch (AskTimeoutException)
        {
            return null;
        }
    }
}
