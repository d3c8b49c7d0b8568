using System.Diagnostics;
using RaftActors.Linearizability;

namespace RaftActors.Simulation;

/// <summary>What a batch of schedules did, added up.</summary>
public sealed record BatchReport(
    int Schedules,
    long ClientOperations,
    long UnknownOutcomes,
    long Faults,
    long LeaderTerms,
    long CommittedEntries,
    long MessagesSent,
    double VirtualSeconds,
    int MinClientOperations,
    int MinFaults,
    int HistoriesLinearizable,
    int HistoriesUndecided,
    IReadOnlyList<long> FaultsByKind,
    SnapshotCounts Snapshots,
    ReadCounts Reads,
    MembershipCounts Membership,
    int SchedulesWithMembership,
    IReadOnlyList<SimulationResult> Failures,
    TimeSpan Elapsed)
{
    public double SchedulesPerSecond => Schedules / Math.Max(Elapsed.TotalSeconds, 1e-9);

    public string Summary
    {
        get
        {
            var kinds = string.Join(", ", Enum.GetValues<FaultKind>().Select(k => $"{k} {FaultsByKind[(int)k]}"));
            return $"{Schedules} schedules in {Elapsed.TotalSeconds:0.0} s ({SchedulesPerSecond:0.0}/s): " +
                   $"{ClientOperations} client operations ({UnknownOutcomes} outcome unknown; at least {MinClientOperations} per schedule), " +
                   $"{Faults} faults (at least {MinFaults} per schedule: {kinds}), {LeaderTerms} leader terms, " +
                   $"{CommittedEntries} entries committed, {MessagesSent} messages, {VirtualSeconds:0} s of virtual time; {Snapshots}; {Reads}; " +
                   $"membership in {SchedulesWithMembership} schedules: {Membership}; " +
                   $"{HistoriesLinearizable} histories linearizable, {HistoriesUndecided} undecided within the checker's budget; " +
                   $"{Failures.Count} failed";
        }
    }
}

/// <summary>
/// Runs many schedules, each a separate deterministic simulation, on <c>parallelism</c> threads
/// (schedules share nothing, so the parallelism does not change any run).
/// </summary>
public static class SimulationBatch
{
    public static BatchReport Run(
        IEnumerable<SimulationOptions> schedules,
        int parallelism,
        Func<SimulationResult, bool>? stopWhen = null,
        Action<SimulationResult>? onResult = null,
        CancellationToken cancellation = default)
    {
        var stopwatch = Stopwatch.StartNew();
        var gate = new object();
        var failures = new List<SimulationResult>();
        var byKind = new long[Enum.GetValues<FaultKind>().Length];
        int count = 0, minOperations = int.MaxValue, minFaults = int.MaxValue, linearizable = 0, undecided = 0;
        var snapshots = default(SnapshotCounts);
        var reads = default(ReadCounts);
        var membership = default(MembershipCounts);
        var withMembership = 0;
        long operations = 0, unknown = 0, faults = 0, terms = 0, committed = 0, messages = 0, virtualMicros = 0;

        var parallelOptions = new ParallelOptions { MaxDegreeOfParallelism = parallelism, CancellationToken = cancellation };
        try
        {
            Parallel.ForEach(schedules, parallelOptions, (options, loop) =>
            {
                var result = HistoryCheck.Verify(ClusterSimulation.Run(options));
                var unknownHere = 0;
                foreach (var operation in result.History)
                {
                    if (operation.Return is null)
                        unknownHere++;
                }

                lock (gate)
                {
                    count++;
                    operations += result.ClientOperations;
                    unknown += unknownHere;
                    faults += result.Faults;
                    terms += result.LeaderTerms;
                    committed += result.CommittedEntries;
                    messages += result.MessagesSent;
                    virtualMicros += result.VirtualMicros;
                    snapshots += result.Snapshots;
                    reads += result.Reads;
                    membership += result.Membership;
                    if (result.Options.Membership)
                        withMembership++;
                    if (result.Failure is null)
                    {
                        // A failed run stops early; the per-schedule minimums are of the complete ones.
                        minOperations = Math.Min(minOperations, result.ClientOperations);
                        minFaults = Math.Min(minFaults, result.Faults);
                    }

                    for (var k = 0; k < byKind.Length; k++)
                        byKind[k] += result.FaultsByKind[k];
                    if (result.Failure is not null)
                        failures.Add(result);
                    if (result.Linearizability == LinearizabilityVerdict.Ok)
                        linearizable++;
                    else if (result.Linearizability == LinearizabilityVerdict.Unknown)
                        undecided++;
                    onResult?.Invoke(result);
                }

                if (stopWhen?.Invoke(result) == true)
                    loop.Stop();
            });
        }
        catch (OperationCanceledException)
        {
            // --long stopped by Ctrl+C: report what ran.
        }

        failures.Sort((a, b) => a.Options.Seed.CompareTo(b.Options.Seed));
        return new BatchReport(count, operations, unknown, faults, terms, committed, messages, virtualMicros / 1e6,
            minOperations == int.MaxValue ? 0 : minOperations, minFaults == int.MaxValue ? 0 : minFaults, linearizable, undecided, byKind, snapshots, reads, membership, withMembership, failures, stopwatch.Elapsed);
    }

    /// <summary>Whether a run broke one of Raft's properties (not merely tripped a guard of the protocol or the harness).</summary>
    public static bool BrokeAnInvariant(SimulationResult result) =>
        result.Failure is { Invariant: not (ClusterSimulation.ProtocolError or ClusterSimulation.HarnessError) };
}
