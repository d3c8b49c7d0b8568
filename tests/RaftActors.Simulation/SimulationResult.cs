using RaftActors.Linearizability;

namespace RaftActors.Simulation;

/// <summary>What one run did, and the first property it broke, if any.</summary>
public sealed record SimulationResult(
    SimulationOptions Options,
    SimulationFailure? Failure,
    string? ClusterAtFailure,
    long VirtualMicros,
    long Events,
    IReadOnlyList<ClientOperation> History,
    int Faults,
    IReadOnlyList<int> FaultsByKind,
    int LeaderTerms,
    int CommittedEntries,
    long MessagesSent,
    long MessagesLost,
    ulong Fingerprint,
    IReadOnlyList<string> Trace)
{
    public int ClientOperations => History.Count;

    /// <summary>What the run did with snapshots: taken, installed from a leader, restarts from one.</summary>
    public SnapshotCounts Snapshots { get; init; }

    /// <summary>The linearizable reads served, by leaders and by followers.</summary>
    public ReadCounts Reads { get; init; }

    /// <summary>What the run did with membership: changes committed, transfers done, the operator's requests.</summary>
    public MembershipCounts Membership { get; init; }

    /// <summary>The linearizability checker's verdict on the history; null when the run failed before it was checked.</summary>
    public LinearizabilityVerdict? Linearizability { get; init; }

    public string Summary =>
        $"seed {Options.Seed}: {Options.ClusterSize} nodes (pre-vote {(Options.PreVote ? "on" : "off")}, check-quorum {(Options.CheckQuorum ? "on" : "off")}, lease reads {(Options.LeaseReads ? "on" : "off")}), {ClientOperations} client operations, {Faults} faults, " +
        $"{LeaderTerms} leader terms, {CommittedEntries} entries committed, {MessagesSent} messages ({MessagesLost} lost), " +
        $"{Snapshots}, {Reads}, " +
        (Options.Membership ? $"{Membership}, " : "membership off, ") +
        $"{VirtualMicros / 1_000_000.0:0.0} s virtual, {Events} events, fingerprint {Fingerprint:x16}";
}

/// <summary>
/// Snapshots in a run or a batch: taken by nodes (the protocol took them on), installed from a
/// leader through InstallSnapshot (a completed transfer the follower's protocol took on), and
/// restarts of a node from a snapshot on its disk.
/// </summary>
public readonly record struct SnapshotCounts(long Taken, long Installed, long RestartsFromSnapshot)
{
    public static SnapshotCounts operator +(SnapshotCounts a, SnapshotCounts b) =>
        new(a.Taken + b.Taken, a.Installed + b.Installed, a.RestartsFromSnapshot + b.RestartsFromSnapshot);

    public override string ToString() => $"{Taken} snapshots taken, {Installed} installed from a leader, {RestartsFromSnapshot} restarts from a snapshot";
}

/// <summary>Linearizable reads served in a run or a batch: by leaders (ReadIndex) and by followers (at the read index their leader confirmed).</summary>
public readonly record struct ReadCounts(long ByLeaders, long ByFollowers)
{
    public static ReadCounts operator +(ReadCounts a, ReadCounts b) => new(a.ByLeaders + b.ByLeaders, a.ByFollowers + b.ByFollowers);

    public override string ToString() => $"{ByLeaders + ByFollowers} reads served ({ByFollowers} by followers)";
}
