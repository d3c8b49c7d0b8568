using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit;
using RaftActors.Client;
using RaftActors.Configuration;
using RaftActors.Messages;

namespace RaftActors.Tests.Client;

/// <summary>
/// A <see cref="RaftClient"/> under test in virtual time, with TestProbes n1..n3 standing in for
/// the cluster's nodes (the members' paths are the probes' paths). Before each Advance the client
/// is settled (a status round trip), so every timer it meant to start is registered when virtual
/// time moves. Answers from nodes reach the client through a task continuation, so after a probe
/// replies, tests wait for the client's next visible step (a condition), never a fixed time.
/// </summary>
public abstract class RaftClientTestKit : Akka.TestKit.Xunit2.TestKit
{
    protected const string ClientId = "client-1";
    protected static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(1);
    protected static readonly TimeSpan BackoffMin = TimeSpan.FromMilliseconds(50);
    protected static readonly TimeSpan BackoffMax = TimeSpan.FromMilliseconds(400);
    protected static readonly TimeSpan Deadline = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(5);

    private static readonly Config VirtualTime = ConfigurationFactory.ParseString(
        """akka.scheduler.implementation = "Akka.TestKit.TestScheduler, Akka.TestKit" """);

    protected RaftClientTestKit()
        : base(VirtualTime)
    {
        Nodes = new[] { "n1", "n2", "n3" }.ToDictionary(id => id, id => CreateTestProbe(id), StringComparer.Ordinal);
        Members = Nodes.Select(n => new RaftMember(n.Key, n.Value.Ref.Path)).ToList();
    }

    protected TestScheduler Scheduler => (TestScheduler)Sys.Scheduler;

    /// <summary>The stand-in nodes by member id.</summary>
    protected Dictionary<string, TestProbe> Nodes { get; }

    protected IReadOnlyList<RaftMember> Members { get; }

    protected static RaftClientOptions Options(int seed = 7) => new()
    {
        ClientId = ClientId,
        RequestTimeout = RequestTimeout,
        RetryBackoffMin = BackoffMin,
        RetryBackoffMax = BackoffMax,
        Deadline = Deadline,
        RandomSeed = seed,
    };

    protected IActorRef StartClient(RaftClientOptions? options = null) =>
        Sys.ActorOf(RaftClient.Props(Members, options ?? Options()));

    /// <summary>Waits until the client has handled everything sent to it so far.</summary>
    protected static RaftClientStatus Settle(IActorRef client) =>
        client.Ask<RaftClientStatus>(GetRaftClientStatus.Instance, TimeSpan.FromSeconds(5)).Result;

    /// <summary>Moves virtual time, with the client settled before and after.</summary>
    protected void Advance(IActorRef client, TimeSpan by)
    {
        Settle(client);
        Scheduler.Advance(by);
        Settle(client);
    }

    /// <summary>Waits (a bounded condition wait) for the client's status to satisfy <paramref name="condition"/>.</summary>
    protected void AwaitStatus(IActorRef client, Func<RaftClientStatus, bool> condition, string what) =>
        AwaitCondition(() => condition(Settle(client)), TimeSpan.FromSeconds(5), Poll, what);

    /// <summary>
    /// Waits for one of the stand-in nodes to receive a message and takes it, or fails when more
    /// than one did. Returns the node's id and probe; its LastSender is the attempt to reply to.
    /// </summary>
    protected (string Id, TestProbe Node, T Message) ExpectAtSomeNode<T>(string? except = null)
    {
        AwaitCondition(() => Nodes.Values.Any(p => p.HasMessages), TimeSpan.FromSeconds(5), Poll, $"no node received a {typeof(T).Name}");
        var receivers = Nodes.Where(n => n.Value.HasMessages).ToList();
        Assert.True(receivers.Count == 1, $"expected one node to receive the request, got {string.Join(", ", receivers.Select(r => r.Key))}");
        var (id, probe) = (receivers[0].Key, receivers[0].Value);
        Assert.NotEqual(except, id);
        return (id, probe, probe.ExpectMsg<T>());
    }

    protected void AssertNoNodeReceivedAnything()
    {
        foreach (var (id, probe) in Nodes)
            Assert.False(probe.HasMessages, $"{id} received {(probe.HasMessages ? probe.ReceiveOne(TimeSpan.Zero) : null)}");
    }

    /// <summary>Expects a <see cref="Status.Failure"/> whose cause is <typeparamref name="T"/>.</summary>
    protected static T ExpectFailure<T>(TestProbe requester)
        where T : Exception
    {
        var failure = requester.ExpectMsg<Status.Failure>();
        return Assert.IsType<T>(failure.Cause);
    }

    /// <summary>Settles, then moves virtual time in <paramref name="step"/>s until <paramref name="requester"/> has a message or <paramref name="limit"/> passed.</summary>
    protected TimeSpan AdvanceUntilAnswered(IActorRef client, TestProbe requester, TimeSpan limit, TimeSpan step)
    {
        var elapsed = TimeSpan.Zero;
        while (!requester.HasMessages && elapsed < limit)
        {
            Advance(client, step);
            elapsed += step;
        }

        return elapsed;
    }
}
