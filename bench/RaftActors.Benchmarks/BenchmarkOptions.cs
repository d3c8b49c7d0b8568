using RaftActors.Configuration;
using RaftActors.StateMachine;

namespace RaftActors.Benchmarks;

/// <summary>What one benchmark run measures, as given on the command line.</summary>
public sealed record BenchmarkOptions
{
    /// <summary>Which benchmark: throughput, latency and failover, or log compaction under a long write load.</summary>
    public BenchmarkMode Mode { get; init; } = BenchmarkMode.Standard;

    /// <summary>Compaction mode: commands written in all.</summary>
    public long Writes { get; init; } = 1_000_000;

    /// <summary>Compaction mode: the keys the writes spread over (the state machine's size).</summary>
    public int Keys { get; init; } = 10_000;

    /// <summary>The nodes' raft.snapshot settings (the library's defaults).</summary>
    public SnapshotSettings Snapshots { get; init; } = SnapshotSettings.Default;

    /// <summary>Every node's state machine, one per node incarnation.</summary>
    internal Func<IRaftStateMachine> StateMachine { get; init; } = () => new CommandCounter();

    /// <summary>Raft nodes, each its own ActorSystem.</summary>
    public int Nodes { get; init; } = 3;

    /// <summary>Concurrent proposers of the throughput phase, each waiting for its command before the next.</summary>
    public int Clients { get; init; } = 64;

    /// <summary>Where the proposers' <c>RaftClient</c> actors run.</summary>
    public ClientPlacement ClientsIn { get; init; } = ClientPlacement.LeaderSystem;

    /// <summary>Bytes of each command.</summary>
    public int Payload { get; init; } = 128;

    /// <summary>Seconds the throughput phase counts commits.</summary>
    public double Seconds { get; init; } = 10;

    /// <summary>
    /// Times the throughput and read phases run, each after its own warm-up; their figures are the
    /// rounds' medians (a single run's rate moves by a third on a busy 2-core machine).
    /// </summary>
    public int Rounds { get; init; } = 1;

    /// <summary>Seconds of throughput load before the counting starts.</summary>
    public double WarmUpSeconds { get; init; } = 5;

    /// <summary>Seconds the read phase counts linearizable queries (0 skips it).</summary>
    public double ReadSeconds { get; init; } = 5;

    /// <summary>Whether the write-ahead log is fsynced before a write counts as durable.</summary>
    public bool Fsync { get; init; } = true;

    /// <summary>Sequential commands whose latency is measured (after a warm-up).</summary>
    public int LatencyCommands { get; init; } = 2000;

    /// <summary>Leader kills.</summary>
    public int FailoverTrials { get; init; } = 20;

    /// <summary>Membership mode: leadership transfers timed.</summary>
    public int TransferTrials { get; init; } = 20;

    /// <summary>Membership mode: planned leader restarts (and as many crashes) under a sequential writer.</summary>
    public int RestartTrials { get; init; } = 10;

    /// <summary>
    /// raft.transfer-leadership-on-shutdown of every node: how long a stopping leader may take to
    /// hand over. Zero (a crash, for the failover figures) except in membership mode.
    /// </summary>
    public TimeSpan HandOverOnShutdown => Mode == BenchmarkMode.Membership ? TimeSpan.FromSeconds(2) : TimeSpan.Zero;

    /// <summary>Where to write the results as one JSON object, if anywhere.</summary>
    public string? JsonFile { get; init; }

    /// <summary>Where the nodes keep their logs (a fresh temporary directory when null); removed at the end unless kept.</summary>
    public string? DataDirectory { get; init; }

    /// <summary>
    /// Akka's log level in every ActorSystem. Off by default: killing a leader makes Akka.Remote
    /// log its peers' broken connections as errors, and the serializer meter's registration warns.
    /// </summary>
    public string AkkaLogLevel { get; init; } = "OFF";

    /// <summary>raft.max-appends-in-flight of every node (the library's default unless given).</summary>
    public int MaxAppendsInFlight { get; init; } = Core.ReplicationLimits.Default.MaxAppendsInFlight;

    /// <summary>raft.pipeline-partial-appends of every node (off, the library's default, unless given).</summary>
    public bool PipelinePartialAppends { get; init; }

    /// <summary>raft.pre-vote of every node (on, the library's default, unless given).</summary>
    public bool PreVote { get; init; } = true;

    /// <summary>raft.check-quorum of every node (on, the library's default, unless given).</summary>
    public bool CheckQuorum { get; init; } = true;

    /// <summary>raft.lease-reads of every node (off, the library's default, unless given).</summary>
    public bool LeaseReads { get; init; }

    public TimeSpan ElectionTimeoutMin { get; init; } = TimeSpan.FromMilliseconds(150);

    public TimeSpan ElectionTimeoutMax { get; init; } = TimeSpan.FromMilliseconds(300);

    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromMilliseconds(50);

    /// <summary>The problem with these options, or null when they make a run.</summary>
    public string? Problem() =>
        Nodes < 1 ? "--nodes must be at least 1"
        : Clients < 1 ? "--clients must be at least 1"
        : Payload < 0 ? "--payload must not be negative"
        : Seconds <= 0 ? "--seconds must be positive"
        : Rounds < 1 ? "--rounds must be at least 1"
        : MaxAppendsInFlight < 1 ? "--max-appends-in-flight must be at least 1"
        : WarmUpSeconds < 0 ? "--warmup must not be negative"
        : ReadSeconds < 0 ? "--read-seconds must not be negative"
        : LatencyCommands < 1 ? "--latency-commands must be at least 1"
        : FailoverTrials < 0 ? "--failover-trials must not be negative"
        : AkkaLogLevel.ToUpperInvariant() is not ("OFF" or "ERROR" or "WARNING" or "INFO" or "DEBUG") ? "--akka-log-level must be off, error, warning, info or debug"
        : FailoverTrials > 0 && Nodes < 3 ? "--failover-trials needs --nodes 3 or more (a majority must survive the leader)"
        : Mode == BenchmarkMode.Compaction && (Writes < 1 || Keys < 1) ? "--writes and --keys must be at least 1"
        : Mode == BenchmarkMode.Compaction && (Nodes < 3 || Payload < 4) ? "--mode compaction needs --nodes 3 or more (a follower is wiped) and --payload 4 or more (the key)"
        : Mode == BenchmarkMode.Membership && (Nodes < 3 || TransferTrials < 1 || RestartTrials < 0) ? "--mode membership needs --nodes 3 or more, --transfer-trials 1 or more and --restart-trials 0 or more"
        : null;
}

/// <summary>Which benchmark a run is.</summary>
public enum BenchmarkMode
{
    /// <summary>Throughput, commit latency, failover and bytes on the wire.</summary>
    Standard,

    /// <summary>Log compaction: disk and heap stay bounded under a long write load; a wiped follower catches up.</summary>
    Compaction,

    /// <summary>Operations: leadership transfer time, and the write pause of a planned leader restart against a crash.</summary>
    Membership,
}

/// <summary>Where the benchmark's clients run.</summary>
public enum ClientPlacement
{
    /// <summary>In the leader's ActorSystem, as an application that embeds a node talks to it (and as DotNext's reference program proposes, in the leader's process).</summary>
    LeaderSystem,

    /// <summary>In an ActorSystem of their own, reaching the leader over Akka.Remote, as a separate client process would.</summary>
    OwnSystem,
}
