using System.Diagnostics;
using RaftActors.Core;
using RaftActors.Messages;

namespace RaftActors.Diagnostics;

/// <summary>What a proposal (a client's command) came to, as <c>raft.proposals</c> counts it.</summary>
internal enum ProposalOutcome
{
    /// <summary>Committed and applied; the state machine's answer went back.</summary>
    Applied,

    /// <summary>Committed and applied, but the state machine threw (the same on every node).</summary>
    Failed,

    /// <summary>Refused before it was proposed: not serializable, or a bad session sequence.</summary>
    Refused,

    /// <summary>This node is not the leader (or is handing leadership over), and did not forward it.</summary>
    NotLeader,

    /// <summary>Proposed, but the leader lost its leadership or stopped before it committed: it may or may not take effect.</summary>
    Unknown,

    /// <summary>Committed, but its client session had expired: not applied.</summary>
    SessionExpired,

    /// <summary>Committed, but it would have opened a client session the full table had no room for: not applied.</summary>
    TooManySessions,
}

internal static class ProposalOutcomes
{
    /// <summary>What a committed command came to, by the applier's answer.</summary>
    public static ProposalOutcome OfCommitted(IClientReply reply) => reply switch
    {
        CommandFailed => ProposalOutcome.Failed,
        SessionExpired => ProposalOutcome.SessionExpired,
        TooManySessions => ProposalOutcome.TooManySessions,
        _ => ProposalOutcome.Applied,
    };
}

/// <summary>
/// One node's side of <see cref="RaftMetrics"/>: its tags, built once, the counters and histograms
/// it records with them, and the values its gauges observe. The node's actor (and its applier, for
/// the sessions) write the values; the collector reads them from its own thread.
/// </summary>
internal sealed class RaftNodeMetrics
{
    internal static readonly (RaftRole Role, KeyValuePair<string, object?> Tag)[] RoleTags =
    [
        (RaftRole.Follower, new(RaftMetrics.RoleTag, "follower")),
        (RaftRole.Candidate, new(RaftMetrics.RoleTag, "candidate")),
        (RaftRole.Leader, new(RaftMetrics.RoleTag, "leader")),
    ];

    private static readonly KeyValuePair<string, object?>[] OutcomeTags =
    [
        new(RaftMetrics.OutcomeTag, "applied"),
        new(RaftMetrics.OutcomeTag, "failed"),
        new(RaftMetrics.OutcomeTag, "refused"),
        new(RaftMetrics.OutcomeTag, "not_leader"),
        new(RaftMetrics.OutcomeTag, "unknown"),
        new(RaftMetrics.OutcomeTag, "session_expired"),
        new(RaftMetrics.OutcomeTag, "too_many_sessions"),
    ];

    private static readonly KeyValuePair<string, object?> ServedByLeader = new(RaftMetrics.ReadOutcomeTag, "served_by_leader");
    private static readonly KeyValuePair<string, object?> ServedByFollower = new(RaftMetrics.ReadOutcomeTag, "served_by_follower");
    private static readonly KeyValuePair<string, object?> Failed = new(RaftMetrics.ReadOutcomeTag, "failed");

    private static readonly KeyValuePair<string, object?> Taken = new(RaftMetrics.SnapshotKindTag, "taken");
    private static readonly KeyValuePair<string, object?> Installed = new(RaftMetrics.SnapshotKindTag, "installed");

    private int _role;
    private long _term;
    private long _lastLogIndex;
    private long _commitIndex;
    private long _appliedIndex;
    private long _clientSessions;
    private Follower[] _followers = [];

    public RaftNodeMetrics(string nodeId) => NodeTag = new(RaftMetrics.NodeIdTag, nodeId);

    public KeyValuePair<string, object?> NodeTag { get; }

    public RaftRole Role => (RaftRole)Volatile.Read(ref _role);

    public long Term => Volatile.Read(ref _term);

    public long LastLogIndex => Volatile.Read(ref _lastLogIndex);

    public long CommitIndex => Volatile.Read(ref _commitIndex);

    public long AppliedIndex
    {
        get => Volatile.Read(ref _appliedIndex);
        set => Volatile.Write(ref _appliedIndex, value);
    }

    public long ClientSessions
    {
        get => Volatile.Read(ref _clientSessions);
        set => Volatile.Write(ref _clientSessions, value);
    }

    /// <summary>The members a leader replicates to; replaced whole when the configuration changes.</summary>
    public IReadOnlyList<Follower> Followers => Volatile.Read(ref _followers);

    /// <summary>
    /// The node's status after an input: publishes it to the gauges and counts what changed since
    /// <paramref name="before"/> — a new leader, an election started (a candidate, or a candidate's
    /// new term after a split vote), an election won.
    /// </summary>
    public void StatusChanged(RaftStatus before, RaftStatus after)
    {
        Volatile.Write(ref _role, (int)after.Role);
        Volatile.Write(ref _term, after.Term);
        LogProgressed(after.LastLogIndex, after.CommitIndex);
        if (after.LeaderId is not null && after.LeaderId != before.LeaderId)
            RaftMetrics.LeaderChanges.Add(1, NodeTag);
        if (after.Role == RaftRole.Candidate && (before.Role != RaftRole.Candidate || after.Term != before.Term))
            RaftMetrics.ElectionsStarted.Add(1, NodeTag);
        if (after.Role == RaftRole.Leader && before.Role != RaftRole.Leader)
            RaftMetrics.ElectionsWon.Add(1, NodeTag);
    }

    /// <summary>The node's log after an input: publishes its last and commit indexes to the gauges.</summary>
    public void LogProgressed(long lastLogIndex, long commitIndex)
    {
        Volatile.Write(ref _lastLogIndex, lastLogIndex);
        Volatile.Write(ref _commitIndex, commitIndex);
    }

    /// <summary>The members other than this node, whose replication lag a leader reports (rare: at start and on configuration changes).</summary>
    public void Configure(ClusterConfiguration configuration, string selfId) =>
        Volatile.Write(ref _followers, configuration.Members.Where(m => m.Id != selfId).Select(m => new Follower(m.Id)).ToArray());

    /// <summary>Reads from the protocol how far each follower is known to hold the log (after an answer, or a change of role).</summary>
    public void ReplicationProgressed(RaftProtocol protocol)
    {
        foreach (var follower in Volatile.Read(ref _followers))
            follower.MatchIndex = protocol.MatchIndexOf(follower.Id) ?? -1;
    }

    public void Proposal(ProposalOutcome outcome) => RaftMetrics.Proposals.Add(1, NodeTag, OutcomeTags[(int)outcome]);

    /// <summary>A read this node took is served (it ran, or is queued to run, on the state machine), as leader or as follower.</summary>
    public void ReadServed(bool asLeader) => RaftMetrics.Reads.Add(1, NodeTag, asLeader ? ServedByLeader : ServedByFollower);

    /// <summary>A read this node took failed: it lost its leader (or its leadership) first; the client retries.</summary>
    public void ReadFailed() => RaftMetrics.Reads.Add(1, NodeTag, Failed);

    /// <summary>A durable write of <paramref name="entries"/> entries finished, started at <paramref name="startedAt"/> (<see cref="Stopwatch.GetTimestamp"/>).</summary>
    public void WriteDurable(int entries, long startedAt)
    {
        RaftMetrics.WriteEntries.Record(entries, NodeTag);
        RaftMetrics.WriteDuration.Record(Stopwatch.GetElapsedTime(startedAt).TotalSeconds, NodeTag);
    }

    public void AppendEntriesSent(int entries)
    {
        RaftMetrics.AppendEntriesSent.Add(1, NodeTag);
        RaftMetrics.AppendEntriesEntries.Record(entries, NodeTag);
    }

    public void AppendEntriesReceived() => RaftMetrics.AppendEntriesReceived.Add(1, NodeTag);

    public void SnapshotTaken(long startedAt, long bytes) => Snapshot(Taken, startedAt, bytes);

    public void SnapshotInstalled(long startedAt, long bytes) => Snapshot(Installed, startedAt, bytes);

    private void Snapshot(KeyValuePair<string, object?> kind, long startedAt, long bytes)
    {
        RaftMetrics.SnapshotDuration.Record(Stopwatch.GetElapsedTime(startedAt).TotalSeconds, NodeTag, kind);
        RaftMetrics.SnapshotSize.Record(bytes, NodeTag, kind);
    }

    /// <summary>A member a leader replicates to, and the highest entry it is known to hold (-1: not known, this node does not lead).</summary>
    internal sealed class Follower(string id)
    {
        private long _matchIndex = -1;

        public string Id { get; } = id;

        public KeyValuePair<string, object?> Tag { get; } = new(RaftMetrics.FollowerIdTag, id);

        public long MatchIndex
        {
            get => Volatile.Read(ref _matchIndex);
            set => Volatile.Write(ref _matchIndex, value);
        }
    }
}
