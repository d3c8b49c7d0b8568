using RaftActors.Configuration;
using RaftActors.Core;

namespace RaftActors.Simulation;

/// <summary>A known Raft bug the simulator can inject into every node, to prove it finds it.</summary>
public enum SimulatedBug
{
    None,

    /// <summary>A leader commits an entry of an earlier term by counting its replicas (Figure 8).</summary>
    CommitOldTermByCounting,

    /// <summary>A vote leaves before it is durable: a crash can make the voter forget it and vote twice.</summary>
    SendVoteBeforeDurable,

    /// <summary>A leader that sees a higher term adopts it but goes on leading.</summary>
    StayLeaderOnHigherTerm,

    /// <summary>A follower cuts its log after the entries of an old, delayed AppendEntries.</summary>
    TruncateOnStaleAppend,

    /// <summary>
    /// A bug of the host, not the protocol: a node that believes it leads answers reads from its own
    /// state machine at once, without ReadIndex's confirming round (etcd issue 741's stale reads).
    /// </summary>
    ServeReadsLocally,

    /// <summary>
    /// A bug of the host, which RaftNode guards against: a leader's snapshot sender hears a
    /// follower's done answer only after the protocol has, so the protocol's request for a newer
    /// snapshot (the follower installed an outdated one) meets the transfer still under way and is
    /// dropped, and the follower waits for the rest of the term.
    /// </summary>
    SnapshotAnswerAfterProtocol,

    /// <summary>A server uses the latest committed configuration in its log rather than the latest appended (thesis §4.1).</summary>
    ApplyConfigurationOnCommit,

    /// <summary>A follower serves a read once its leader answers the read index, before it has committed through it (thesis §6.4).</summary>
    ServeFollowerReadsBeforeCommit,

    /// <summary>A leader serves lease reads for three minimum election timeouts after a majority's answers, not less than one (thesis §6.4.1).</summary>
    LeaseOutlivesElectionTimeout,

    /// <summary>A leader starts a membership change while another is not committed yet (thesis §4.1: one at a time).</summary>
    AllowConcurrentMembershipChanges,

    /// <summary>
    /// A bug of the host's snapshot receiver, which RaftNode shares with the simulator: a chunk of
    /// the transfer under way that the follower has taken already (a leader's resend after lost
    /// acknowledgements) is written again instead of answered with what the follower holds, so the
    /// snapshot holds some bytes twice.
    /// </summary>
    WriteDuplicateSnapshotChunks,
}

/// <summary>
/// One schedule's parameters. Everything random derives from <see cref="Seed"/>; the rest is fixed
/// by <see cref="ForSeed"/>, so a seed alone names a run.
/// </summary>
public sealed record SimulationOptions
{
    public required int Seed { get; init; }

    public int ClusterSize { get; init; } = 5;

    /// <summary>Client operations to invoke before the faults may stop (final operations come on top).</summary>
    public int ClientCommands { get; init; } = 200;

    /// <summary>Faults to inject, at least; the nemesis adds up to a quarter more at random.</summary>
    public int Faults { get; init; } = 20;

    public int Clients { get; init; } = 4;

    public int Keys { get; init; } = 3;

    public SimulatedBug Bug { get; init; } = SimulatedBug.None;

    /// <summary>The client sessions' policy each leader writes into the log, as RaftNode's <c>raft.sessions</c>.</summary>
    public SessionPolicy Sessions { get; init; } = DefaultSessions;

    /// <summary>
    /// The built-in policy with a minimum idle age for the simulated clients: above their deadline
    /// (2.5 s, the longest they retry a command), below <see cref="FinalOperationBound"/>, so that
    /// a client refused for a full table (a small <c>--max-sessions</c>) gets in once the others are
    /// done.
    /// </summary>
    public static SessionPolicy DefaultSessions { get; } = new(SessionPolicy.Default.Expiry, SessionPolicy.Default.MaxSessions, TimeSpan.FromSeconds(3));

    public TimeSpan ElectionTimeoutMin { get; init; } = TimeSpan.FromMilliseconds(150);

    public TimeSpan ElectionTimeoutMax { get; init; } = TimeSpan.FromMilliseconds(300);

    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromMilliseconds(50);

    /// <summary>Small limits, so batching, pipelining and window-full cases happen often.</summary>
    public ReplicationLimits Replication { get; init; } = new(MaxEntriesPerAppend: 1, MaxBytesPerAppend: 1 << 20, MaxAppendsInFlight: 2);

    /// <summary>Limits for a seed: mostly one entry per message (acknowledgements then name entries of earlier terms, Figure 8's ground), sometimes batches; windows of 1 to 4.</summary>
    public static ReplicationLimits ReplicationForSeed(int seed)
    {
        var random = new Random(seed ^ 0x5EED);
        return new ReplicationLimits(
            MaxEntriesPerAppend: random.NextDouble() < 0.75 ? 1 : 2 + random.Next(7),
            MaxBytesPerAppend: 1 << 20,
            MaxAppendsInFlight: 1 + random.Next(4));
    }

    /// <summary>PreVote (<c>raft.pre-vote</c>), on as in production unless the seed says otherwise.</summary>
    public bool PreVote { get; init; } = true;

    /// <summary>CheckQuorum (<c>raft.check-quorum</c>), on as in production unless the seed says otherwise.</summary>
    public bool CheckQuorum { get; init; } = true;

    /// <summary>
    /// PreVote and CheckQuorum for a seed: both on (the default) in 70% of seeds, and each of the
    /// other three combinations in 10%, so the protocol without them stays checked too.
    /// </summary>
    public static (bool PreVote, bool CheckQuorum) SafeguardsForSeed(int seed)
    {
        var draw = new Random(seed ^ 0x9E3779B).NextDouble();
        return draw switch
        {
            < 0.7 => (true, true),
            < 0.8 => (true, false),
            < 0.9 => (false, true),
            _ => (false, false),
        };
    }

    /// <summary>Lease reads (<c>raft.lease-reads</c>), off as in production unless the seed says otherwise.</summary>
    public bool LeaseReads { get; init; }

    /// <summary>Lease reads for a seed: on in a third of the seeds that run CheckQuorum, which they need.</summary>
    public static bool LeaseReadsForSeed(int seed, bool checkQuorum) => checkQuorum && new Random(seed ^ 0x1EA5E).Next(3) == 0;

    /// <summary>
    /// When nodes snapshot their key-value store and compact their logs, and how a leader sends a
    /// snapshot (RaftNode's own settings type): off unless set; <see cref="ForSeed"/> sets it.
    /// </summary>
    public SnapshotSettings Snapshots { get; init; } = SnapshotSettings.Never;

    /// <summary>
    /// Snapshots for a seed: small thresholds (every 5 to 40 applied entries), so that logs are
    /// compacted often and lagging or restarted followers need InstallSnapshot; 0 to 10 trailing
    /// entries; chunks of 64 to 256 bytes, 1 to 4 in flight, so transfers take several chunks.
    /// </summary>
    public static SnapshotSettings SnapshotsForSeed(int seed)
    {
        var random = new Random(seed ^ 0x5A4B);
        return new SnapshotSettings(
            entriesThreshold: 5 + random.Next(36),
            bytesThreshold: 0,
            trailingEntries: random.Next(11),
            chunkSize: 64 << random.Next(3),
            chunksInFlight: 1 + random.Next(4));
    }

    /// <summary>
    /// Membership changes and leadership transfers among the nemesis's faults (<see cref="SimulatedNemesis"/>):
    /// learners and voters added as new servers that join with an empty disk, voters and learners
    /// (the leader too) removed, servers replaced, leadership handed over; on unless turned off.
    /// </summary>
    public bool Membership { get; init; } = true;

    /// <summary>The most members a configuration may have: the operator adds no server beyond it.</summary>
    public int MaxMembers { get; init; } = 9;

    /// <summary>How many servers a run may ever start: the founders, and up to 10 that join (ids are never reused).</summary>
    public int ServerSlots => Membership ? ClusterSize + 10 : ClusterSize;

    /// <summary>
    /// Liveness: once a majority has been up, connected and left alone for this long, one of it
    /// leads all of it and has committed an entry of its term.
    /// </summary>
    public TimeSpan LivenessBound { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Liveness: a check that finds no leader followed looks once more this long after, before it
    /// fails the run — time for an election that began just before the check. Null: two of the
    /// longest election timeouts.
    /// </summary>
    public TimeSpan? LivenessRecheck { get; init; }

    /// <summary>After the final heal, every client's last operation gets a definite answer within this.</summary>
    public TimeSpan FinalOperationBound { get; init; } = TimeSpan.FromSeconds(4);

    /// <summary>Keep a trace of the last events, printed with a failure (slower).</summary>
    public bool Trace { get; init; }

    /// <summary>
    /// The CI budget's and the runner's options for a seed: the cluster starts with 3, 5, 7 nodes in
    /// turn (and, with membership, grows and shrinks as the operator changes it); the replication
    /// limits, the snapshot settings and the PreVote/CheckQuorum switches are drawn from the seed.
    /// </summary>
    public static SimulationOptions ForSeed(int seed, SimulatedBug bug = SimulatedBug.None, int? clusterSize = null)
    {
        var (preVote, checkQuorum) = SafeguardsForSeed(seed);
        return new()
        {
            Seed = seed,
            ClusterSize = clusterSize ?? ClusterSizeForSeed(seed),
            Replication = ReplicationForSeed(seed),
            Snapshots = SnapshotsForSeed(seed),
            Bug = bug,
            PreVote = preVote,
            CheckQuorum = checkQuorum,
            LeaseReads = bug == SimulatedBug.LeaseOutlivesElectionTimeout ? checkQuorum : LeaseReadsForSeed(seed, checkQuorum),
        };
    }

    public static int ClusterSizeForSeed(int seed) => (Math.Abs(seed) % 3) switch
    {
        0 => 3,
        1 => 5,
        _ => 7,
    };

    /// <summary>The one-line command that replays this run.</summary>
    public string ReplayCommand()
    {
        var command = $"dotnet run -c Release --project tests/tools/RaftActors.SimulationRunner -- --seed {Seed}";
        if (ClusterSize != ClusterSizeForSeed(Seed))
            command += $" --nodes {ClusterSize}";
        if (Bug != SimulatedBug.None)
            command += $" --bug {Bug}";
        if (!Membership)
            command += " --no-membership";
        var seedSnapshots = SnapshotsForSeed(Seed);
        if (!Snapshots.Enabled)
        {
            command += " --no-snapshots";
        }
        else
        {
            if (Snapshots.EntriesThreshold != seedSnapshots.EntriesThreshold)
                command += $" --snapshot-every {Snapshots.EntriesThreshold}";
            if (Snapshots.TrailingEntries != seedSnapshots.TrailingEntries)
                command += $" --trailing-entries {Snapshots.TrailingEntries}";
        }

        if (Sessions != DefaultSessions)
        {
            command += $" --session-expiry-ms {Sessions.ExpiryMilliseconds} --max-sessions {Sessions.MaxSessions}";
            if (Sessions.MinIdle != DefaultSessions.MinIdle)
                command += $" --session-min-idle-ms {Sessions.MinIdleMilliseconds}";
        }
        return command;
    }
}
