using Akka.Configuration;
using RaftActors.Core;

namespace RaftActors.Configuration;

/// <summary>
/// The node's tuning, read from the <c>raft</c> section of HOCON over the embedded defaults
/// and validated at once: a bad value fails at start naming its key, not later at runtime.
/// </summary>
public sealed record RaftSettings
{
    public RaftSettings(
        TimeSpan electionTimeoutMin,
        TimeSpan electionTimeoutMax,
        TimeSpan heartbeatInterval,
        int? randomSeed = null,
        ReplicationLimits? replication = null,
        bool forwardToLeader = false,
        SnapshotSettings? snapshots = null,
        bool preVote = true,
        bool checkQuorum = true)
    {
        if (electionTimeoutMin <= TimeSpan.Zero)
            throw new RaftConfigurationException("raft.election-timeout-min", $"must be positive, got {electionTimeoutMin}");
        if (electionTimeoutMax <= electionTimeoutMin)
            throw new RaftConfigurationException(
                "raft.election-timeout-max",
                $"must be greater than raft.election-timeout-min ({electionTimeoutMin.TotalMilliseconds} ms), got {electionTimeoutMax.TotalMilliseconds} ms");
        if (heartbeatInterval <= TimeSpan.Zero || heartbeatInterval * 2 > electionTimeoutMin)
            throw new RaftConfigurationException(
                "raft.heartbeat-interval",
                $"must be positive and at most half of raft.election-timeout-min ({electionTimeoutMin.TotalMilliseconds} ms) so that a lost heartbeat does not start an election, got {heartbeatInterval.TotalMilliseconds} ms");
        ElectionTimeoutMin = electionTimeoutMin;
        ElectionTimeoutMax = electionTimeoutMax;
        HeartbeatInterval = heartbeatInterval;
        RandomSeed = randomSeed;
        Replication = replication ?? ReplicationLimits.Default;
        if (Replication.MaxEntriesPerAppend < 1)
            throw new RaftConfigurationException("raft.max-entries-per-append", $"must be at least 1, got {Replication.MaxEntriesPerAppend}");
        if (Replication.MaxBytesPerAppend < 1)
            throw new RaftConfigurationException("raft.max-bytes-per-append", $"must be at least 1 byte, got {Replication.MaxBytesPerAppend}");
        if (Replication.MaxAppendsInFlight < 1)
            throw new RaftConfigurationException("raft.max-appends-in-flight", $"must be at least 1, got {Replication.MaxAppendsInFlight}");
        ForwardToLeader = forwardToLeader;
        Snapshots = snapshots ?? SnapshotSettings.Default;
        PreVote = preVote;
        CheckQuorum = checkQuorum;
    }

    public TimeSpan ElectionTimeoutMin { get; }

    public TimeSpan ElectionTimeoutMax { get; }

    public TimeSpan HeartbeatInterval { get; }

    /// <summary>Seed of the election timeouts' random numbers; null draws one per node.</summary>
    public int? RandomSeed { get; }

    /// <summary>How a leader batches and pipelines AppendEntries.</summary>
    public ReplicationLimits Replication { get; }

    /// <summary>Whether a follower forwards clients' requests to the leader instead of answering <c>NotLeader</c>.</summary>
    public bool ForwardToLeader { get; }

    /// <summary>When snapshots are taken and how they travel (<c>raft.snapshot</c>).</summary>
    public SnapshotSettings Snapshots { get; init; }

    /// <summary>
    /// <c>raft.pre-vote</c>: a node canvasses pre-votes before it raises its term to campaign, so a
    /// node that cannot win (cut off, restarted, behind) does not depose a healthy leader
    /// (<see cref="RaftProtocol.PreVote"/>).
    /// </summary>
    public bool PreVote { get; init; }

    /// <summary>
    /// <c>raft.check-quorum</c>: a leader that no majority answers within the minimum election timeout
    /// steps down, and a node that believes in a current leader ignores votes of higher terms
    /// (<see cref="RaftProtocol.CheckQuorum"/>).
    /// </summary>
    public bool CheckQuorum { get; init; }

    /// <summary>
    /// <c>raft.lease-reads</c>: a leader serves linearizable reads without a heartbeat round while a
    /// majority answered it within nine tenths of the minimum election timeout
    /// (<see cref="RaftProtocol.LeaseReads"/>); it relies on clocks, so it is off unless asked for,
    /// and needs <see cref="CheckQuorum"/>.
    /// </summary>
    public bool LeaseReads
    {
        get => _leaseReads;
        init => _leaseReads = !value || CheckQuorum
            ? value
            : throw new RaftConfigurationException("raft.lease-reads", "needs raft.check-quorum = on: a lease holds only while followers refuse votes after hearing from the leader");
    }

    private readonly bool _leaseReads;

    /// <summary>
    /// <c>raft.transfer-leadership-on-shutdown</c>: how long a leader whose ActorSystem stops waits for
    /// its leadership to pass to another voter before it stops (<see cref="TimeSpan.Zero"/>: it does not hand over).
    /// </summary>
    public TimeSpan TransferLeadershipOnShutdown { get; init; }

    /// <summary>
    /// <c>raft.sessions</c>: how long an idle client session lives and how many are kept. This node
    /// writes it into the log when it becomes leader; every state machine follows the policy the
    /// log carries (<see cref="SessionPolicy"/>), so nodes whose settings differ still agree.
    /// </summary>
    public SessionPolicy Sessions { get; init; } = SessionPolicy.Default;

    /// <summary>
    /// The seed of one node's election timeouts. A configured seed is mixed with the node id, so
    /// the nodes of a cluster that share one configuration still draw different timeouts (equal
    /// draws would make every election a split vote).
    /// </summary>
    public int ElectionSeedFor(string nodeId)
    {
        if (RandomSeed is not { } seed)
            return Random.Shared.Next();
        var hash = 2166136261u; // FNV-1a: stable across processes, unlike string.GetHashCode
        foreach (var c in nodeId)
            hash = (hash ^ c) * 16777619u;
        return seed ^ (int)hash;
    }

    /// <summary>The embedded defaults (reference.conf).</summary>
    public static Config DefaultConfig { get; } = ConfigurationFactory.FromResource<RaftSettings>("RaftActors.reference.conf");

    public static RaftSettings Default { get; } = FromConfig(Config.Empty);

    /// <summary>Reads the <c>raft</c> section of <paramref name="config"/>, the defaults beneath it.</summary>
    public static RaftSettings FromConfig(Config config)
    {
        var raft = config.WithFallback(DefaultConfig);
        var seed = HoconReader.Read(raft, "raft.random-seed", c =>
            c.GetString("raft.random-seed") is "off" or "" ? (int?)null : c.GetInt("raft.random-seed"));
        return new RaftSettings(
            HoconReader.Duration(raft, "raft.election-timeout-min"),
            HoconReader.Duration(raft, "raft.election-timeout-max"),
            HoconReader.Duration(raft, "raft.heartbeat-interval"),
            seed,
            new ReplicationLimits(
                HoconReader.Read(raft, "raft.max-entries-per-append", c => c.GetInt("raft.max-entries-per-append")),
                HoconReader.Read(raft, "raft.max-bytes-per-append", c => checked((int)(c.GetByteSize("raft.max-bytes-per-append") ?? 0))),
                HoconReader.Read(raft, "raft.max-appends-in-flight", c => c.GetInt("raft.max-appends-in-flight")))
            {
                PipelinePartialAppends = HoconReader.Read(raft, "raft.pipeline-partial-appends", c => c.GetBoolean("raft.pipeline-partial-appends")),
            },
            HoconReader.Read(raft, "raft.forward-to-leader", c => c.GetBoolean("raft.forward-to-leader")),
            SnapshotSettings.FromConfig(raft),
            HoconReader.Read(raft, "raft.pre-vote", c => c.GetBoolean("raft.pre-vote")),
            HoconReader.Read(raft, "raft.check-quorum", c => c.GetBoolean("raft.check-quorum")))
        {
            TransferLeadershipOnShutdown = HoconReader.Read(raft, "raft.transfer-leadership-on-shutdown", c =>
                c.GetString("raft.transfer-leadership-on-shutdown") is "off" ? TimeSpan.Zero : c.GetTimeSpan("raft.transfer-leadership-on-shutdown") is { Ticks: >= 0 } wait
                    ? wait
                    : throw new RaftConfigurationException("raft.transfer-leadership-on-shutdown", "must be a duration of 0 or more, or off")),
            Sessions = ReadSessionPolicy(raft),
            LeaseReads = HoconReader.Read(raft, "raft.lease-reads", c => c.GetBoolean("raft.lease-reads")),
        };
    }

    private static SessionPolicy ReadSessionPolicy(Config raft)
    {
        var expiry = HoconReader.Duration(raft, "raft.sessions.expiry");
        if (expiry < TimeSpan.FromMilliseconds(1) || expiry.Ticks % TimeSpan.TicksPerMillisecond != 0)
            throw new RaftConfigurationException("raft.sessions.expiry", $"must be a positive whole number of milliseconds, got {expiry}");
        var max = HoconReader.Read(raft, "raft.sessions.max", c => c.GetInt("raft.sessions.max"));
        if (max < 1)
            throw new RaftConfigurationException("raft.sessions.max", $"must be at least 1, got {max}");
        var minIdle = HoconReader.Duration(raft, "raft.sessions.min-idle");
        if (minIdle < TimeSpan.Zero || minIdle.Ticks % TimeSpan.TicksPerMillisecond != 0)
            throw new RaftConfigurationException("raft.sessions.min-idle", $"must be a whole number of milliseconds, 0 or more, got {minIdle}");
        if (minIdle > expiry)
            throw new RaftConfigurationException("raft.sessions.expiry", $"must be at least raft.sessions.min-idle ({minIdle}), got {expiry}");
        return new SessionPolicy(expiry, max, minIdle);
    }
}
