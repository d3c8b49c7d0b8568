using Akka.Configuration;
using RaftActors.Client;
using RaftActors.Configuration;
using RaftActors.Storage;

namespace RaftActors.Hosting;

/// <summary>
/// A Raft node's settings for <see cref="RaftHostingExtensions.WithRaft{TStateMachine}(Akka.Hosting.AkkaConfigurationBuilder, Action{RaftOptions})"/>, one
/// property per <c>raft.*</c> key. A property left null is not written, so the key keeps the value
/// it has in the ActorSystem's HOCON (yours, or RaftActors' defaults). The options are turned into
/// that HOCON (<see cref="ToConfig"/>) and read by the same reader as a HOCON file, when the
/// ActorSystem starts: a bad value fails the host's start naming the key and the option.
/// </summary>
public sealed class RaftOptions
{
    /// <summary><c>raft.node-id</c>: this node's id, one of <see cref="Members"/>.</summary>
    public string? NodeId { get; set; }

    /// <summary>
    /// <c>raft.members</c>: every member, this node included. Empty leaves the key as the HOCON has it.
    /// </summary>
    public IList<RaftMemberOptions> Members { get; } = new List<RaftMemberOptions>();

    /// <summary><c>raft.discovery</c>: peers at configured addresses (static) or found through Akka.Cluster.</summary>
    public RaftDiscovery? Discovery { get; set; }

    /// <summary><c>raft.actor-name</c>: the node actor's name under <c>/user</c>.</summary>
    public string? ActorName { get; set; }

    /// <summary><c>raft.join</c>: the node is started to join a running cluster (see docs/membership.md).</summary>
    public bool? Join { get; set; }

    /// <summary>
    /// <c>raft.transfer-leadership-on-shutdown</c>: how long a leader whose ActorSystem stops waits to
    /// hand its leadership over; <see cref="TimeSpan.Zero"/> stops at once.
    /// </summary>
    public TimeSpan? TransferLeadershipOnShutdown { get; set; }

    /// <summary><c>raft.election-timeout-min</c>.</summary>
    public TimeSpan? ElectionTimeoutMin { get; set; }

    /// <summary><c>raft.election-timeout-max</c>.</summary>
    public TimeSpan? ElectionTimeoutMax { get; set; }

    /// <summary><c>raft.heartbeat-interval</c>: at most half of the minimum election timeout.</summary>
    public TimeSpan? HeartbeatInterval { get; set; }

    /// <summary><c>raft.random-seed</c>: seed of the election timeouts, to replay a run.</summary>
    public int? RandomSeed { get; set; }

    /// <summary><c>raft.pre-vote</c>.</summary>
    public bool? PreVote { get; set; }

    /// <summary><c>raft.check-quorum</c>.</summary>
    public bool? CheckQuorum { get; set; }

    /// <summary><c>raft.lease-reads</c>: reads without a heartbeat round while a majority answered recently (needs CheckQuorum).</summary>
    public bool? LeaseReads { get; set; }

    /// <summary><c>raft.forward-to-leader</c>: a follower forwards clients' requests to the leader.</summary>
    public bool? ForwardToLeader { get; set; }

    /// <summary><c>raft.max-entries-per-append</c>.</summary>
    public int? MaxEntriesPerAppend { get; set; }

    /// <summary><c>raft.max-bytes-per-append</c>, in bytes.</summary>
    public long? MaxBytesPerAppend { get; set; }

    /// <summary><c>raft.max-appends-in-flight</c>.</summary>
    public int? MaxAppendsInFlight { get; set; }

    /// <summary><c>raft.pipeline-partial-appends</c>.</summary>
    public bool? PipelinePartialAppends { get; set; }

    /// <summary><c>raft.snapshot.*</c>: when snapshots are taken and how they travel.</summary>
    public RaftSnapshotOptions Snapshot { get; } = new();

    /// <summary>
    /// <c>raft.serialization.allowed-command-types</c>: the types the <c>raft-hyperion</c> serializer
    /// may create (<c>"TypeName, Assembly"</c>, <c>"Namespace.*, Assembly"</c>, <c>"*, Assembly"</c>).
    /// Empty leaves the key as the HOCON has it.
    /// </summary>
    public IList<string> AllowedCommandTypes { get; } = new List<string>();

    /// <summary>
    /// <c>raft.data-dir</c>: the directory of the node's durable store (write-ahead log, hard
    /// state, snapshots), opened before the node starts. Required unless <see cref="InMemoryStorage"/>.
    /// </summary>
    public string? DataDirectory { get; set; }

    /// <summary>
    /// Keep the node's state in memory instead of a data directory: everything is lost when the
    /// ActorSystem stops, so a restarted node rejoins empty. For tests and demos.
    /// </summary>
    public bool InMemoryStorage { get; set; }

    /// <summary>The write-ahead log's tuning (segment size, fsync) for the store in <see cref="DataDirectory"/>.</summary>
    public FileRaftStorageOptions? FileStorage { get; set; }

    /// <summary>
    /// How the client registered beside the node (<see cref="RaftClientKey"/>,
    /// <see cref="RaftClientFacade"/>) finds the leader and retries; null takes the defaults.
    /// </summary>
    public RaftClientOptions? Client { get; set; }

    /// <summary>
    /// The <c>raft</c> HOCON these options stand for: only the keys whose option is set. The node
    /// reads it over the ActorSystem's other HOCON and RaftActors' defaults.
    /// </summary>
    public Config ToConfig() => ConfigurationFactory.ParseString(Write().Text);

    /// <summary>The HOCON text, and which option each key came from (to name it when its value is refused).</summary>
    internal (string Text, IReadOnlyDictionary<string, string> OptionOf) Write()
    {
        var hocon = new RaftHoconWriter();
        hocon.String("raft.node-id", nameof(NodeId), NodeId);
        hocon.Members("raft.members", nameof(Members), Members);
        hocon.Raw("raft.discovery", nameof(Discovery), Discovery switch
        {
            null => null,
            RaftDiscovery.Static => "static",
            RaftDiscovery.Cluster => "cluster",
            var other => throw new RaftConfigurationException("raft.discovery", $"{nameof(RaftOptions)}.{nameof(Discovery)} is not a discovery mode: {other}"),
        });
        hocon.String("raft.actor-name", nameof(ActorName), ActorName);
        hocon.Switch("raft.join", nameof(Join), Join);
        hocon.Duration("raft.transfer-leadership-on-shutdown", nameof(TransferLeadershipOnShutdown), TransferLeadershipOnShutdown);
        hocon.Duration("raft.election-timeout-min", nameof(ElectionTimeoutMin), ElectionTimeoutMin);
        hocon.Duration("raft.election-timeout-max", nameof(ElectionTimeoutMax), ElectionTimeoutMax);
        hocon.Duration("raft.heartbeat-interval", nameof(HeartbeatInterval), HeartbeatInterval);
        hocon.Number("raft.random-seed", nameof(RandomSeed), RandomSeed);
        hocon.Switch("raft.pre-vote", nameof(PreVote), PreVote);
        hocon.Switch("raft.check-quorum", nameof(CheckQuorum), CheckQuorum);
        hocon.Switch("raft.lease-reads", nameof(LeaseReads), LeaseReads);
        hocon.Switch("raft.forward-to-leader", nameof(ForwardToLeader), ForwardToLeader);
        hocon.Number("raft.max-entries-per-append", nameof(MaxEntriesPerAppend), MaxEntriesPerAppend);
        hocon.Number("raft.max-bytes-per-append", nameof(MaxBytesPerAppend), MaxBytesPerAppend);
        hocon.Number("raft.max-appends-in-flight", nameof(MaxAppendsInFlight), MaxAppendsInFlight);
        hocon.Switch("raft.pipeline-partial-appends", nameof(PipelinePartialAppends), PipelinePartialAppends);
        const string snapshot = nameof(Snapshot) + ".";
        hocon.Number("raft.snapshot.entries-threshold", snapshot + nameof(RaftSnapshotOptions.EntriesThreshold), Snapshot.EntriesThreshold);
        hocon.Number("raft.snapshot.bytes-threshold", snapshot + nameof(RaftSnapshotOptions.BytesThreshold), Snapshot.BytesThreshold);
        hocon.Number("raft.snapshot.trailing-entries", snapshot + nameof(RaftSnapshotOptions.TrailingEntries), Snapshot.TrailingEntries);
        hocon.Number("raft.snapshot.chunk-size", snapshot + nameof(RaftSnapshotOptions.ChunkSize), Snapshot.ChunkSize);
        hocon.Number("raft.snapshot.chunks-in-flight", snapshot + nameof(RaftSnapshotOptions.ChunksInFlight), Snapshot.ChunksInFlight);
        hocon.Strings("raft.serialization.allowed-command-types", nameof(AllowedCommandTypes), AllowedCommandTypes);
        hocon.String(RaftHosting.DataDirectoryKey, nameof(DataDirectory), DataDirectory);
        return (hocon.Text, hocon.OptionOf);
    }
}

/// <summary>One entry of <c>raft.members</c>: an id with an Akka address or a full actor path, or the id alone under cluster discovery.</summary>
public sealed class RaftMemberOptions
{
    public RaftMemberOptions()
    {
    }

    public RaftMemberOptions(string id, string? address = null)
    {
        Id = id;
        Address = address;
    }

    /// <summary>The member's node id.</summary>
    public string? Id { get; set; }

    /// <summary>The member's Akka address (<c>akka.tcp://system@host:port</c>); its node actor is <c>address/user/&lt;actor name&gt;</c>.</summary>
    public string? Address { get; set; }

    /// <summary>The member's node actor path, for a node actor that does not live at <c>/user/&lt;actor name&gt;</c>.</summary>
    public string? Path { get; set; }
}

/// <summary>The <c>raft.snapshot</c> keys; a property left null keeps the HOCON's value.</summary>
public sealed class RaftSnapshotOptions
{
    /// <summary><c>raft.snapshot.entries-threshold</c> (0: no such limit).</summary>
    public long? EntriesThreshold { get; set; }

    /// <summary><c>raft.snapshot.bytes-threshold</c>, in bytes (0: no such limit).</summary>
    public long? BytesThreshold { get; set; }

    /// <summary><c>raft.snapshot.trailing-entries</c>.</summary>
    public int? TrailingEntries { get; set; }

    /// <summary><c>raft.snapshot.chunk-size</c>, in bytes.</summary>
    public int? ChunkSize { get; set; }

    /// <summary><c>raft.snapshot.chunks-in-flight</c>.</summary>
    public int? ChunksInFlight { get; set; }
}
