using System.Diagnostics.Metrics;

namespace RaftActors.Diagnostics;

/// <summary>
/// The instruments of the <c>RaftActors</c> <see cref="Meter"/>, all in one place. Every measurement
/// carries the <c>raft.node.id</c> tag, so several nodes in one process are told apart. Any
/// <see cref="MeterListener"/> reads them: OpenTelemetry's <c>AddMeter("RaftActors")</c>,
/// prometheus-net, <c>dotnet-counters monitor --counters RaftActors</c>. docs/metrics.md lists them.
/// </summary>
/// <remarks>
/// Counters and histograms are recorded where the event happens, with tags built once per node
/// (no allocation on the node actor's thread). Gauges are observable: the collector's callback reads
/// values each node already published to its <see cref="RaftNodeMetrics"/> (plain fields, written
/// by the node's actor, read with <see cref="Volatile"/>), never the actor's own state.
/// </remarks>
public static class RaftMetrics
{
    /// <summary>The meter's name, for <c>AddMeter</c> and listeners.</summary>
    public const string MeterName = "RaftActors";

    /// <summary>The tag on every measurement: the node's id (<c>raft.node-id</c>).</summary>
    public const string NodeIdTag = "raft.node.id";

    /// <summary>On <c>raft.node.role</c>: follower, candidate or leader.</summary>
    public const string RoleTag = "raft.role";

    /// <summary>On <c>raft.proposals</c>: applied, failed, refused, not_leader or unknown.</summary>
    public const string OutcomeTag = "raft.proposal.outcome";

    /// <summary>On <c>raft.reads</c>: served_by_leader, served_by_follower or failed.</summary>
    public const string ReadOutcomeTag = "raft.read.outcome";

    /// <summary>On <c>raft.replication.lag</c>: the follower (or learner) the leader replicates to.</summary>
    public const string FollowerIdTag = "raft.follower.id";

    /// <summary>On the snapshot histograms: taken (by this node's state machine) or installed (received from the leader).</summary>
    public const string SnapshotKindTag = "raft.snapshot.kind";

    internal static readonly Meter Meter = new(MeterName, typeof(RaftMetrics).Assembly.GetName().Version?.ToString());

    internal static readonly Counter<long> LeaderChanges = Meter.CreateCounter<long>(
        "raft.node.leader_changes", "{change}", "Times this node learned of a new leader (a different one, or one after none)");

    // Entries per write or per message: powers of two, from none (a vote-only write, a heartbeat) up.
    private static readonly long[] EntryCountBuckets = [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

    internal static readonly Counter<long> ElectionsStarted = Meter.CreateCounter<long>(
        "raft.elections.started", "{election}", "Elections this node started as a candidate (pre-vote rounds not counted)");

    internal static readonly Counter<long> ElectionsWon = Meter.CreateCounter<long>(
        "raft.elections.won", "{election}", "Elections this node won: it became leader");

    internal static readonly Counter<long> Proposals = Meter.CreateCounter<long>(
        "raft.proposals", "{proposal}", "Client commands answered by this node, by outcome");

    internal static readonly Counter<long> Reads = Meter.CreateCounter<long>(
        "raft.reads", "{read}", "Linearizable reads (queries, backups) this node took, by outcome: served as leader, served as follower, or failed");

    internal static readonly Histogram<long> WriteEntries = Meter.CreateHistogram<long>(
        "raft.storage.write.entries", "{entry}", "Log entries per durable (group-committed, fsynced) write; 0 for a write of the term and vote only",
        advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = EntryCountBuckets });

    internal static readonly Histogram<double> WriteDuration = Meter.CreateHistogram<double>(
        "raft.storage.write.duration", "s", "From handing a write to the storage to its being durable (queueing and fsync included)",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1] });

    internal static readonly Counter<long> AppendEntriesSent = Meter.CreateCounter<long>(
        "raft.append_entries.sent", "{message}", "AppendEntries messages sent (heartbeats included)");

    internal static readonly Counter<long> AppendEntriesReceived = Meter.CreateCounter<long>(
        "raft.append_entries.received", "{message}", "AppendEntries messages received (heartbeats included)");

    internal static readonly Histogram<long> AppendEntriesEntries = Meter.CreateHistogram<long>(
        "raft.append_entries.entries", "{entry}", "Log entries per AppendEntries message sent (0: a heartbeat)",
        advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = EntryCountBuckets });

    internal static readonly Histogram<double> SnapshotDuration = Meter.CreateHistogram<double>(
        "raft.snapshot.duration", "s", "Taking a snapshot (writing the state machine's state durably), or installing one (from its first chunk to its last durable)",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300] });

    internal static readonly Histogram<long> SnapshotSize = Meter.CreateHistogram<long>(
        "raft.snapshot.size", "By", "Size of a snapshot taken or installed",
        advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = [1 << 10, 16 << 10, 256 << 10, 1 << 20, 16 << 20, 256 << 20, 1L << 30, 16L << 30] });

    private static readonly List<RaftNodeMetrics> Nodes = new();

    static RaftMetrics()
    {
        Meter.CreateObservableGauge("raft.node.role", ObserveRoles, "{role}",
            "1 for the role this node is in (tag raft.role), 0 for the others");
        Meter.CreateObservableGauge("raft.node.term", () => Observe(n => n.Term), "{term}", "The node's current term");
        Meter.CreateObservableGauge("raft.log.last_index", () => Observe(n => n.LastLogIndex), "{entry}", "Index of the last entry in the node's log");
        Meter.CreateObservableGauge("raft.log.commit_index", () => Observe(n => n.CommitIndex), "{entry}", "Highest entry the node knows committed");
        Meter.CreateObservableGauge("raft.log.applied_index", () => Observe(n => n.AppliedIndex), "{entry}", "Highest entry the node's state machine has applied");
        Meter.CreateObservableGauge("raft.log.applied_lag", () => Observe(n => Math.Max(0, n.CommitIndex - n.AppliedIndex)), "{entry}",
            "Entries known committed but not applied yet");
        Meter.CreateObservableGauge("raft.replication.lag", ObserveReplicationLag, "{entry}",
            "On the leader, per follower (tag raft.follower.id): entries of the leader's log the follower is not known to hold");
        Meter.CreateObservableGauge("raft.client.sessions", () => Observe(n => n.ClientSessions), "{session}",
            "Client sessions the node's state machine remembers (for exactly-once commands)");
    }

    /// <summary>A node publishes its values from now on (its actor starts).</summary>
    internal static void Register(RaftNodeMetrics node)
    {
        lock (Nodes)
            Nodes.Add(node);
    }

    /// <summary>A node's values are no longer observed (its actor stopped).</summary>
    internal static void Unregister(RaftNodeMetrics node)
    {
        lock (Nodes)
            Nodes.Remove(node);
    }

    private static List<Measurement<long>> Observe(Func<RaftNodeMetrics, long> value)
    {
        lock (Nodes)
            return Nodes.Select(n => new Measurement<long>(value(n), n.NodeTag)).ToList();
    }

    private static List<Measurement<long>> ObserveRoles()
    {
        lock (Nodes)
        {
            var measurements = new List<Measurement<long>>(Nodes.Count * 3);
            foreach (var node in Nodes)
            {
                var role = node.Role;
                foreach (var (each, tag) in RaftNodeMetrics.RoleTags)
                    measurements.Add(new Measurement<long>(each == role ? 1 : 0, node.NodeTag, tag));
            }

            return measurements;
        }
    }

    private static List<Measurement<long>> ObserveReplicationLag()
    {
        lock (Nodes)
        {
            var measurements = new List<Measurement<long>>();
            foreach (var node in Nodes)
            {
                if (node.Role != Core.RaftRole.Leader)
                    continue;
                var last = node.LastLogIndex;
                foreach (var follower in node.Followers)
                {
                    if (follower.MatchIndex is var match and >= 0)
                        measurements.Add(new Measurement<long>(Math.Max(0, last - match), node.NodeTag, follower.Tag));
                }
            }

            return measurements;
        }
    }
}
