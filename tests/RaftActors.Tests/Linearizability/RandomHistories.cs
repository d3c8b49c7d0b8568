using RaftActors.Linearizability;

namespace RaftActors.Tests.Linearizability;

/// <summary>
/// Histories that are linearizable by construction: clients run operations one after another
/// with random durations, each operation takes effect at a random point inside its interval
/// (anywhere after its call, for an unknown outcome, or never), and the outputs come from
/// applying the operations to a dictionary in the order of those points.
/// </summary>
internal static class RandomHistories
{
    public sealed record Options(int Operations, int Keys, int Clients, double UnknownRate = 0, int MaxDuration = 40, int MaxPause = 10);

    public static List<KvOperation> Generate(Random random, Options options)
    {
        // The intervals first: each client runs one operation at a time.
        var clientTime = Enumerable.Range(0, options.Clients).Select(_ => (long)random.Next(10)).ToArray();
        var clientProcess = Enumerable.Range(0, options.Clients).ToArray();
        var nextProcess = options.Clients;
        var planned = new List<(int Process, long Call, long? Return, long EffectAt, bool TakesEffect)>();
        for (var i = 0; i < options.Operations; i++)
        {
            var client = Array.IndexOf(clientTime, clientTime.Min());
            var call = clientTime[client];
            var duration = 1 + random.Next(options.MaxDuration);
            var unknown = random.NextDouble() < options.UnknownRate;
            // An unknown outcome may take effect long after its client gave up on it, or never.
            var effectAt = call + random.Next(unknown ? 3 * duration : duration + 1);
            planned.Add((clientProcess[client], call, unknown ? null : call + duration, effectAt, !unknown || random.Next(2) == 0));
            clientTime[client] = call + duration + 1 + random.Next(options.MaxPause);
            if (unknown)
                clientProcess[client] = nextProcess++; // its last operation stays open: the client goes on as a new process
        }

        // Then what each operation did, in the order in which they took effect.
        var state = new Dictionary<string, string>();
        var written = new Dictionary<string, List<string>>();
        var history = new KvOperation[planned.Count];
        var nextValue = 0;
        foreach (var i in Enumerable.Range(0, planned.Count).OrderBy(i => planned[i].EffectAt).ThenBy(_ => random.Next()))
        {
            var (process, call, ret, _, takesEffect) = planned[i];
            var key = $"k{random.Next(options.Keys)}";
            var current = state.GetValueOrDefault(key);
            var value = $"v{nextValue++}";
            KvOperation operation;
            switch (random.Next(10))
            {
                case < 4:
                    operation = new KvOperation(process, KvOperationKind.Get, key, null, null, call, ret, new KvOutput(true, current));
                    break;
                case < 6:
                    operation = new KvOperation(process, KvOperationKind.Put, key, value, null, call, ret, new KvOutput(true, null));
                    if (takesEffect)
                        state[key] = value;
                    break;
                case < 7:
                    operation = new KvOperation(process, KvOperationKind.Delete, key, null, null, call, ret, new KvOutput(true, null));
                    if (takesEffect)
                        state.Remove(key);
                    break;
                default:
                    var earlier = written.GetValueOrDefault(key);
                    var expected = random.Next(2) == 0 || earlier is null ? current : earlier[random.Next(earlier.Count)];
                    var swaps = expected == current;
                    operation = new KvOperation(process, KvOperationKind.CompareAndSet, key, value, expected, call, ret, new KvOutput(swaps, swaps ? null : current));
                    if (takesEffect && swaps)
                        state[key] = value;
                    break;
            }

            if (operation.Value is not null)
                (written.TryGetValue(key, out var list) ? list : written[key] = []).Add(operation.Value);
            history[i] = ret is null ? operation with { Output = null } : operation;
        }

        return history.ToList();
    }

    /// <summary>
    /// Makes one successful read return a value it cannot have seen at that time: one that a
    /// finished write overwrote before the read was called (a stale read), or else one first
    /// written by an operation called after the read returned, or else one never written at all.
    /// </summary>
    public static (List<KvOperation> History, KvOperation Mutated) MutateARead(Random random, List<KvOperation> history)
    {
        var reads = Enumerable.Range(0, history.Count).Where(i => history[i] is { Kind: KvOperationKind.Get, Return: not null }).ToList();
        var index = reads[random.Next(reads.Count)];
        var read = history[index];
        var impossible = random.Next(2) == 0
            ? Overwritten(history, read) ?? Future(random, history, read)
            : Future(random, history, read) ?? Overwritten(history, read);
        var mutated = read with { Output = new KvOutput(true, impossible ?? "never written") };
        var copy = history.ToList();
        copy[index] = mutated;
        return (copy, mutated);
    }

    /// <summary>
    /// The value of the last write W1 (values are unique) such that a write W2 that certainly
    /// changed the key was called after W1 returned and returned before the read was called:
    /// after W2, nothing can bring W1's value back.
    /// </summary>
    private static string? Overwritten(List<KvOperation> history, KvOperation read)
    {
        static bool Wrote(KvOperation o) => o is { Output.Ok: true, Kind: not KvOperationKind.Get };
        var writes = history.Where(o => o.Key == read.Key && Wrote(o) && o.Return < read.Call).ToList();
        return writes
            .Where(w1 => w1.Value is not null && writes.Any(w2 => w2.Call > w1.Return))
            .MaxBy(w1 => w1.Return)?.Value;
    }

    private static string? Future(Random random, List<KvOperation> history, KvOperation read)
    {
        var future = history.Where(o => o.Key == read.Key && o.Value is not null && o.Call > read.Return).Select(o => o.Value).ToList();
        return future.Count == 0 ? null : future[random.Next(future.Count)];
    }
}
