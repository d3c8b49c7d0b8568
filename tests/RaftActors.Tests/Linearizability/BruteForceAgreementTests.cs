using RaftActors.Linearizability;
using Xunit.Abstractions;

namespace RaftActors.Tests.Linearizability;

/// <summary>
/// The checker's shortcuts (reads taken greedily, interchangeable unknown writes used in call
/// order, unknown writes that were observed given a deadline, unobserved ones set aside) must
/// never change a verdict: on thousands of tiny random histories — random outputs, values
/// repeated, ties in time, unknown outcomes — it agrees with a search of every order.
/// </summary>
public sealed class BruteForceAgreementTests(ITestOutputHelper output)
{
    private static readonly string?[] Values = [null, "a", "b", "c"];

    [Fact]
    public void The_checker_agrees_with_trying_every_order_on_small_random_histories()
    {
        var seed = int.TryParse(Environment.GetEnvironmentVariable("RAFT_TEST_SEED"), out var s) ? s : Random.Shared.Next(1, int.MaxValue / 2);
        var verdicts = new int[2];
        for (var run = 0; run < 4000; run++)
        {
            var random = new Random(seed + run);
            var history = Enumerable.Range(0, 1 + random.Next(7)).Select(p => RandomOperation(random, p)).ToList();
            var expected = Linearizable(history);
            var result = LinearizabilityChecker.Check(history, TimeSpan.FromSeconds(10));
            var replay = $"seed {seed + run} (replay with RAFT_TEST_SEED={seed + run}):\n  {string.Join("\n  ", history)}";
            Assert.True(result.Verdict == (expected ? LinearizabilityVerdict.Ok : LinearizabilityVerdict.NotLinearizable),
                $"{replay}\nevery order tried: {(expected ? "linearizable" : "not linearizable")}; the checker: {result}");
            if (!expected)
                Assert.False(Linearizable(result.Counterexample), $"{replay}\nthe counterexample is linearizable: {result}");
            verdicts[expected ? 1 : 0]++;
        }

        output.WriteLine($"seeds {seed}..{seed + 3999}: {verdicts[1]} linearizable, {verdicts[0]} not, all agreed");
    }

    private static KvOperation RandomOperation(Random random, int process)
    {
        var call = random.Next(12);
        long? ret = random.Next(4) == 0 ? null : call + random.Next(8);
        string? Value() => Values[random.Next(Values.Length)];
        string Written() => Values[1 + random.Next(Values.Length - 1)]!;
        var (kind, value, expected, output) = random.Next(4) switch
        {
            0 => (KvOperationKind.Get, null, null, new KvOutput(true, Value())),
            1 => (KvOperationKind.Put, Written(), null, new KvOutput(true, null)),
            2 => (KvOperationKind.Delete, (string?)null, (string?)null, new KvOutput(true, null)),
            _ => random.Next(2) == 0
                ? (KvOperationKind.CompareAndSet, Written(), Value(), new KvOutput(true, null))
                : (KvOperationKind.CompareAndSet, Written(), Value(), new KvOutput(false, Value())),
        };
        return new KvOperation(process, kind, "k", value, expected, call, ret, ret is null ? null : output);
    }

    /// <summary>Tries every order consistent with real time; an unknown outcome may be placed anywhere after its call, or left out.</summary>
    private static bool Linearizable(IReadOnlyList<KvOperation> history)
    {
        bool Search(HashSet<int> remaining, string? state)
        {
            if (remaining.All(i => history[i].Return is null))
                return true;
            foreach (var i in remaining.ToList())
            {
                var op = history[i];
                // Everything that returned before this call must come first.
                if (remaining.Any(j => j != i && history[j].Return < op.Call))
                    continue;
                if (!Apply(op, state, out var next))
                    continue;
                remaining.Remove(i);
                var found = Search(remaining, next);
                remaining.Add(i);
                if (found)
                    return true;
            }

            return false;
        }

        return Search(Enumerable.Range(0, history.Count).ToHashSet(), null);
    }

    private static bool Apply(KvOperation op, string? state, out string? next)
    {
        next = state;
        switch (op.Kind)
        {
            case KvOperationKind.Get:
                return op.Output is { } read && read.Value == state;
            case KvOperationKind.Put:
                next = op.Value;
                return true;
            case KvOperationKind.Delete:
                next = null;
                return true;
            default:
                if (op.Output is { Ok: false } failed)
                    return state != op.Expected && state == failed.Value;
                if (state != op.Expected)
                    return false;
                next = op.Value;
                return true;
        }
    }
}
