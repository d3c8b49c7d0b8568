using RaftActors.Linearizability;

namespace RaftActors.Simulation;

/// <summary>Hands a run's client history to the linearizability checker.</summary>
public static class HistoryCheck
{
    /// <summary>Wall-clock time the checker may take per history; what it cannot decide in it is "unknown", never "ok".</summary>
    public static readonly TimeSpan Budget = TimeSpan.FromSeconds(10);

    /// <summary>The run's history in the checker's terms (its clock: virtual microseconds).</summary>
    public static IReadOnlyList<KvOperation> ToKvOperations(IReadOnlyList<ClientOperation> history)
    {
        var operations = new List<KvOperation>(history.Count);
        foreach (var operation in history)
        {
            if (operation.NotApplied)
                continue; // refused by the cluster: it constrains nothing
            var command = operation.Command;
            operations.Add(new KvOperation(
                operation.Process,
                command.Kind switch
                {
                    KvKind.Get => KvOperationKind.Get,
                    KvKind.Put => KvOperationKind.Put,
                    KvKind.Delete => KvOperationKind.Delete,
                    _ => KvOperationKind.CompareAndSet,
                },
                command.KeyName,
                command.Value,
                command.Expected,
                operation.Call,
                operation.Return,
                operation.Result is { } result ? new KvOutput(result.Ok, result.Value) : null));
        }

        return operations;
    }

    /// <summary>
    /// A run that kept every invariant must also have a linearizable history: if not, the run
    /// fails with the checker's small counterexample; if the checker could not decide in its
    /// budget, the result says so.
    /// </summary>
    public static SimulationResult Verify(SimulationResult result)
    {
        if (result.Failure is not null)
            return result;
        var check = LinearizabilityChecker.Check(ToKvOperations(result.History), Budget);
        return check.Verdict switch
        {
            LinearizabilityVerdict.Ok => result with { Linearizability = check.Verdict },
            LinearizabilityVerdict.Unknown => result with { Linearizability = check.Verdict },
            _ => result with
            {
                Linearizability = check.Verdict,
                Failure = new SimulationFailure("Linearizability", $"{check.Summary}{Environment.NewLine}{check.Explanation}"),
            },
        };
    }
}
