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

    /// <summary>The linearizability checker's verdict on the history; null when the run failed before it was checked.</summary>
    public LinearizabilityVerdict? Linearizability { get; init; }

    public string Summary =>
        $"seed {Options.Seed}: {Options.ClusterSize} nodes (pre-vote {(Options.PreVote ? "on" : "off")}, check-quorum {(Options.CheckQuorum ? "on" : "off")}), {ClientOperations} client operations, {Faults} faults, " +
        $"{LeaderTerms} leader terms, {CommittedEntries} entries committed, {MessagesSent} messages ({MessagesLost} lost), " +
        $"{VirtualMicros / 1_000_000.0:0.0} s virtual, {Events} events, fingerprint {Fingerprint:x16}";
}
