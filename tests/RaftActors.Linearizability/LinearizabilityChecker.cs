using System.Globalization;
using System.Text;

namespace RaftActors.Linearizability;

public enum LinearizabilityVerdict
{
    /// <summary>Every key's history has a linearization.</summary>
    Ok,

    /// <summary>Some key's history has none; the result shows a small part of it that has none either.</summary>
    NotLinearizable,

    /// <summary>The budget ran out before every key was decided (and none was found not linearizable).</summary>
    Unknown,
}

/// <param name="Key">The key whose history failed (or ran out of budget first).</param>
/// <param name="Counterexample">A small sub-history of <paramref name="Key"/> that is not linearizable by itself, which proves the whole is not; empty unless the verdict is NotLinearizable.</param>
/// <param name="Explanation">What was found, for a person: printed by tests on failure.</param>
public sealed record LinearizabilityResult(
    LinearizabilityVerdict Verdict,
    string? Key,
    IReadOnlyList<KvOperation> Counterexample,
    string Explanation)
{
    /// <summary>Operations in the history.</summary>
    public int Operations { get; init; }

    /// <summary>Distinct keys in the history.</summary>
    public int Keys { get; init; }

    /// <summary>Keys whose history was decided linearizable.</summary>
    public int KeysLinearizable { get; init; }

    /// <summary>Operations whose outcome was unknown.</summary>
    public int UnknownOutcomes { get; init; }

    /// <summary>Search configurations (linearized set, value) reached, over every key.</summary>
    public long Configurations { get; init; }

    public TimeSpan Elapsed { get; init; }

    /// <summary>One line of numbers, for logs: "Ok: 2000 operations (31 unknown) on 5 keys, 5 decided, 9,412 configurations in 41 ms".</summary>
    public string Summary =>
        string.Create(CultureInfo.InvariantCulture,
            $"{Verdict}: {Operations} operations ({UnknownOutcomes} of unknown outcome) on {Keys} keys, {KeysLinearizable} found linearizable, {Configurations:N0} configurations in {Elapsed.TotalMilliseconds:F0} ms");

    public override string ToString() => $"{Summary}\n{Explanation}";
}

/// <summary>
/// Checks a key-value history for linearizability: Wing-Gong/Lowe search with memoization (see
/// <see cref="LinearizationSearch"/>) on each key's history separately — linearizability is
/// local (P-compositional), and keys do not interact. The budget is wall-clock time for the
/// whole check; what it does not decide is Unknown, never Ok. A non-linearizable history comes
/// with a small counterexample (<see cref="CounterexampleShrinker"/>), whose search may take as
/// long again.
/// </summary>
public static class LinearizabilityChecker
{
    /// <summary>Partitions by key, checks each with Wing-Gong/Lowe search + memoization. Runs out of budget -> Unknown, never Ok.</summary>
    /// <exception cref="ArgumentException">An operation is malformed (the message says which and why).</exception>
    public static LinearizabilityResult Check(IReadOnlyList<KvOperation> history, TimeSpan budget)
    {
        ArgumentNullException.ThrowIfNull(history);
        foreach (var operation in history)
            operation.Validate();

        var deadline = new Deadline(budget);
        var keys = history.GroupBy(o => o.Key, StringComparer.Ordinal)
            .Select(g => (Key: g.Key, Operations: (IReadOnlyList<KvOperation>)g.ToList()))
            .OrderBy(k => k.Operations.Count).ThenBy(k => k.Key, StringComparer.Ordinal)
            .ToList();
        var linearizable = 0;
        var configurations = 0L;
        var undecided = new List<(string Key, SearchResult Search)>();
        foreach (var (key, operations) in keys)
        {
            var search = LinearizationSearch.Run(operations, deadline);
            configurations += search.Configurations;
            switch (search.Verdict)
            {
                case SearchVerdict.Linearizable:
                    linearizable++;
                    break;
                case SearchVerdict.OutOfBudget:
                    undecided.Add((key, search));
                    break;
                default:
                    return NotLinearizable(history, key, operations, search, deadline) with
                    {
                        Keys = keys.Count,
                        KeysLinearizable = linearizable,
                        Configurations = configurations,
                        Elapsed = deadline.Elapsed,
                    };
            }
        }

        var result = undecided.Count == 0
            ? new LinearizabilityResult(LinearizabilityVerdict.Ok, null, [], "every key's history is linearizable")
            : new LinearizabilityResult(LinearizabilityVerdict.Unknown, undecided[0].Key, [], Undecided(undecided, keys.Count));
        return result with
        {
            Operations = history.Count,
            UnknownOutcomes = history.Count(o => o.IsUnknown),
            Keys = keys.Count,
            KeysLinearizable = linearizable,
            Configurations = configurations,
            Elapsed = deadline.Elapsed,
        };
    }

    private static LinearizabilityResult NotLinearizable(
        IReadOnlyList<KvOperation> history, string key, IReadOnlyList<KvOperation> keyHistory, SearchResult search, Deadline deadline)
    {
        // The verdict is final; shrinking gets a budget of its own, as long again: a small
        // counterexample is worth the wait, and whatever it reaches is a proof.
        var shrinkDeadline = new Deadline(deadline.Budget);
        var counterexample = CounterexampleShrinker.Shrink(keyHistory, search, shrinkDeadline);
        var shown = LinearizationSearch.Run(counterexample, shrinkDeadline);
        if (shown.Verdict != SearchVerdict.NotLinearizable)
        {
            (counterexample, shown) = (keyHistory, search); // out of time: the whole key's history is the proof
        }

        var origin = counterexample.Min(o => o.Call);
        var shownOrder = Enumerable.Range(0, counterexample.Count).OrderBy(i => counterexample[i].Call).ToList();
        var number = new int[counterexample.Count];
        for (var n = 0; n < shownOrder.Count; n++)
            number[shownOrder[n]] = n + 1;
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture,
            $"key {KvOperation.Quote(key)}: not linearizable. These {counterexample.Count} of its {keyHistory.Count} operations cannot be put in any order that respects real time and the key-value semantics (times relative to the first call shown; an unknown outcome may take effect any time after its call, or never):");
        text.AppendLine();
        foreach (var i in shownOrder)
            text.Append(CultureInfo.InvariantCulture, $"  #{number[i]}  ").AppendLine(counterexample[i].Describe(origin));
        text.Append(shown.Longest.Count == 0
            ? "No operation can even be the first"
            : $"The longest order found is {string.Join(" ", shown.Longest.Select(i => $"#{number[i]}"))}, after which the key is {KvOperation.Quote(shown.ValueAfterLongest)}");
        if (shown.Blocking is { } blocking)
            text.Append(CultureInfo.InvariantCulture, $"; then nothing pending can take effect before #{number[blocking]} returns");
        text.Append('.');
        return new LinearizabilityResult(LinearizabilityVerdict.NotLinearizable, key, counterexample, text.ToString())
        {
            Operations = history.Count,
            UnknownOutcomes = history.Count(o => o.IsUnknown),
        };
    }

    private static string Undecided(List<(string Key, SearchResult Search)> undecided, int keys) =>
        $"{undecided.Count} of {keys} keys undecided: " +
        string.Join("; ", undecided.Select(u =>
            $"key {KvOperation.Quote(u.Key)}: {u.Search.OutOfBudgetReason} after {u.Search.Configurations:N0} configurations, with {u.Search.Longest.Count} operations in the longest order found"));
}
