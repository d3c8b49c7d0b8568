using Akka.Actor;
using RaftActors.Client;
using RaftActors.Configuration;
using RaftActors.Core;
using RaftActors.Messages;
using RaftActors.Node;
using RaftActors.StateMachine;
using RaftActors.Storage;
using Xunit.Abstractions;

namespace RaftActors.Tests.Client;

/// <summary>Sets a key.</summary>
public sealed record KvPut(string Key, string Value);

/// <summary>Adds one to a counter and answers its new value: applied twice, it would show.</summary>
public sealed record KvIncrement(string Key);

/// <summary>Reads a key.</summary>
public sealed record KvGet(string Key);

/// <summary>A small replicated key-value store for tests.</summary>
public sealed class KeyValueStateMachine : IRaftStateMachine
{
    private readonly Dictionary<string, string> _data = new(StringComparer.Ordinal);

    public object? Apply(long index, object command)
    {
        switch (command)
        {
            case KvPut put:
                _data[put.Key] = put.Value;
                return put.Value;
            case KvIncrement increment:
                var next = (_data.TryGetValue(increment.Key, out var value) ? long.Parse(value) : 0) + 1;
                _data[increment.Key] = next.ToString();
                return next;
            default:
                throw new InvalidOperationException($"unknown command {command.GetType().Name}");
        }
    }

    public object? Query(object query) => query switch
    {
        KvGet get => _data.GetValueOrDefault(get.Key),
        _ => throw new InvalidOperationException($"unknown query {query.GetType().Name}"),
    };
}

/// <summary>
/// The client against a real 3-node cluster of <see cref="RaftNode"/> actors in this test's
/// ActorSystem (real time, in-memory storage): commands and queries end to end, and again after
/// the leader actor is stopped and the survivors elect another.
/// </summary>
public sealed class RaftClientClusterTests : Akka.TestKit.Xunit2.TestKit
{
    private static readonly string[] Ids = ["n1", "n2", "n3"];
    private readonly ITestOutputHelper _output;

    // The commands travel in the log in Akka's JSON fallback, which creates only allowed types.
    public RaftClientClusterTests(ITestOutputHelper output)
        : base(Akka.Configuration.ConfigurationFactory.ParseString("""raft.serialization.allowed-command-types = [ "RaftActors.Tests.Client.*, RaftActors.Tests" ]"""), output: output)
    {
        _output = output;
    }

    [Fact]
    public async Task SendAsync_and_QueryAsync_work_end_to_end_and_after_the_leader_stops()
    {
        const int seed = 20240611;
        var (nodes, client) = StartClusterAndClient(seed);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));

        var put = await client.SendAsync(new KvPut("greeting", "hello"), timeout.Token);
        Assert.Equal("hello", put.Result);
        Assert.Equal("hello", await client.QueryAsync(new KvGet("greeting"), timeout.Token));

        // Concurrent commands, each with its own sequence, each applied once.
        var increments = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => client.SendAsync(new KvIncrement("counter"), timeout.Token)));
        Assert.Equal(Enumerable.Range(1, 20).Select(i => (object)(long)i), increments.Select(a => a.Result).Order());
        Assert.Equal(20, increments.Select(a => a.Index).Distinct().Count());
        Assert.Equal("20", await client.QueryAsync(new KvGet("counter"), timeout.Token));

        // Stop the leader actor; the client finds the one the survivors elect.
        var oldLeader = await LeaderOf(nodes);
        _output.WriteLine($"stopping leader {oldLeader}");
        Watch(nodes[oldLeader]);
        Sys.Stop(nodes[oldLeader]);
        ExpectTerminated(nodes[oldLeader]);

        var after = await client.SendAsync(new KvPut("after", "failover"), timeout.Token);
        Assert.Equal("failover", after.Result);
        var newLeader = await LeaderOf(nodes.Where(n => n.Key != oldLeader).ToDictionary());
        _output.WriteLine($"new leader {newLeader}");
        Assert.NotEqual(oldLeader, newLeader);
        Assert.Equal("failover", await client.QueryAsync(new KvGet("after"), timeout.Token));
        Assert.Equal("20", await client.QueryAsync(new KvGet("counter"), timeout.Token));
        Assert.Equal(21, (long)(await client.SendAsync(new KvIncrement("counter"), timeout.Token)).Result!);

        var status = await client.Actor.Ask<RaftClientStatus>(GetRaftClientStatus.Instance, TimeSpan.FromSeconds(5));
        Assert.Equal(nodes[newLeader].Path, status.Leader);
        Assert.Equal(23, status.LastSequence);
    }

    [Fact]
    public async Task Commands_in_flight_when_the_leader_stops_are_each_applied_exactly_once()
    {
        const int seed = 977;
        var (nodes, client) = StartClusterAndClient(seed);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await client.SendAsync(new KvPut("counter", "0"), timeout.Token);
        var leader = await LeaderOf(nodes);

        // Stopped while the increments are on their way to it, in its mailbox, or in its log:
        // some are lost, some answered "outcome unknown"; the client retries each with its sequence.
        var increments = Enumerable.Range(0, 30).Select(_ => client.SendAsync(new KvIncrement("counter"), timeout.Token)).ToList();
        Sys.Stop(nodes[leader]);
        var applied = await Task.WhenAll(increments);

        Assert.Equal(Enumerable.Range(1, 30).Select(i => (object)(long)i), applied.Select(a => a.Result).Order());
        Assert.Equal("30", await client.QueryAsync(new KvGet("counter"), timeout.Token));
        var status = await client.Actor.Ask<RaftClientStatus>(GetRaftClientStatus.Instance, TimeSpan.FromSeconds(5));
        _output.WriteLine($"old leader {leader}; {status.AttemptsMade} attempts for {status.LastSequence} commands and 1 query");
    }

    // The client's membership calls, with the outcome family of commands: a server started to join
    // is added (a voter once caught up), leadership goes to it, a refusal is an exception naming
    // its reason, and the leader removes itself; commands still go through.
    [Fact]
    public async Task A_server_is_added_handed_leadership_and_removed_through_the_client()
    {
        const int seed = 20261204;
        var (_, client) = StartClusterAndClient(seed);
        var n4Path = new RootActorPath(((ExtendedActorSystem)Sys).Provider.DefaultAddress) / "user" / "n4";
        var joining = new RaftMembership("n4", []) { Join = true };
        Sys.ActorOf(RaftNode.Props(joining, new RaftSettings(TimeSpan.FromMilliseconds(150), TimeSpan.FromMilliseconds(300), TimeSpan.FromMilliseconds(50), seed),
            new InMemoryRaftStorage(), () => new KeyValueStateMachine()), "n4");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await client.SendAsync(new KvPut("before", "the join"), timeout.Token);

        var added = await client.AddMemberAsync("n4", n4Path.ToString(), cancellationToken: timeout.Token);
        Assert.Equal(["n1", "n2", "n3", "n4"], added.Configuration.Voters);

        var transferred = await client.TransferLeadershipAsync("n4", timeout.Token);
        Assert.Equal("n4", transferred.LeaderId);
        var configuration = await client.GetConfigurationAsync(timeout.Token);
        Assert.Equal((4, true), (configuration.Configuration.Voters.Count, configuration.Committed));

        var refused = await Assert.ThrowsAsync<RaftMembershipRefusedException>(() => client.TransferLeadershipAsync("n9", timeout.Token));
        Assert.Equal(MembershipRefusalReason.NotAVoter, refused.Reason);
        await Assert.ThrowsAsync<RaftMembershipRefusedException>(() => client.AddMemberAsync("n2", "akka://elsewhere/user/n2", cancellationToken: timeout.Token));

        var removed = await client.RemoveMemberAsync("n4", timeout.Token);
        Assert.Equal(["n1", "n2", "n3"], removed.Configuration.Voters);
        Assert.Equal("after", (await client.SendAsync(new KvPut("after", "after"), timeout.Token)).Result);
        Assert.Equal("the join", await client.QueryAsync(new KvGet("before"), timeout.Token));
    }

    private (Dictionary<string, IActorRef> Nodes, RaftClientFacade Client) StartClusterAndClient(int seed)
    {
        _output.WriteLine($"seed {seed}");
        var nodes = StartCluster(seed);
        var members = Ids.Select(id => new RaftMember(id, nodes[id].Path)).ToList();
        var client = RaftClientFacade.Start(Sys, members, new RaftClientOptions
        {
            RequestTimeout = TimeSpan.FromMilliseconds(500),
            RetryBackoffMin = TimeSpan.FromMilliseconds(10),
            RetryBackoffMax = TimeSpan.FromMilliseconds(200),
            Deadline = TimeSpan.FromSeconds(15),
            RandomSeed = seed,
        });
        return (nodes, client);
    }

    /// <summary>
    /// Starts n1..n3 under /user. A node resolves its peers' paths once, when it is constructed,
    /// and in one ActorSystem a path with no actor yet resolves to a dead reference for good; so
    /// every node's construction waits until all three actors are registered.
    /// </summary>
    private Dictionary<string, IActorRef> StartCluster(int seed)
    {
        var root = new RootActorPath(((ExtendedActorSystem)Sys).Provider.DefaultAddress) / "user";
        var members = Ids.Select(id => new RaftMember(id, root / id)).ToList();
        var settings = new RaftSettings(TimeSpan.FromMilliseconds(150), TimeSpan.FromMilliseconds(300), TimeSpan.FromMilliseconds(50), seed);
        var nodes = new Dictionary<string, IActorRef>();
        var gate = new ManualResetEventSlim();
        foreach (var id in Ids)
        {
            var membership = RaftMembership.Create(id, members);
            var storage = new InMemoryRaftStorage();
            nodes[id] = Sys.ActorOf(
                Props.CreateBy(new GatedProducer(gate, () => new RaftNode(membership, settings, storage, () => new KeyValueStateMachine()))),
                id);
        }

        gate.Set();
        return nodes;
    }

    private async Task<string> LeaderOf(IReadOnlyDictionary<string, IActorRef> nodes)
    {
        string? leader = null;
        await AwaitConditionAsync(async () =>
        {
            var statuses = await Task.WhenAll(nodes.Values.Select(n => n.Ask<RaftStatus>(GetRaftStatus.Instance, TimeSpan.FromSeconds(3))));
            var leaders = statuses.Where(s => s.Role == RaftRole.Leader).ToList();
            leader = leaders.Count == 1 && statuses.All(s => s.Term == leaders[0].Term && s.LeaderId == leaders[0].NodeId) ? leaders[0].NodeId : null;
            return leader is not null;
        }, TimeSpan.FromSeconds(10), message: "the nodes to agree on a leader");
        return leader!;
    }

}
