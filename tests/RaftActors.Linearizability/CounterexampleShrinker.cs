namespace RaftActors.Linearizability;

/// <summary>
/// Makes a non-linearizable history of one key small, with steps that keep it a proof: every
/// history this produces that is not linearizable shows that the original was not either.
/// <list type="number">
/// <item>Cut it short at the latest moment the search got stuck: keep what was called by then,
/// and let what returned later have an unknown outcome. Linearizability is prefix-closed, so a
/// prefix that cannot be linearized proves the whole cannot.</item>
/// <item>Delete operations, keeping each deletion that leaves the history not linearizable, but
/// only deletions that cannot turn a linearizable history into a non-linearizable one: reads (a
/// get, a compare-and-set known to have failed), which change nothing; and writes whose value no
/// remaining operation observes (nothing can tell whether they happened). First everything
/// deletable before a window at the end that still fails, the window doubling until one does
/// (checks of a short history are cheap, of a long one that fails costly); then in halves,
/// quarters... down to single operations (Zeller's delta debugging).</item>
/// </list>
/// The operations are reported as the client saw them (with their real outputs, even where the
/// cut made them unknown: knowing more only makes a history harder to linearize).
/// </summary>
internal static class CounterexampleShrinker
{
    private const int FirstWindow = 8;

    public static IReadOnlyList<KvOperation> Shrink(IReadOnlyList<KvOperation> history, SearchResult failure, Deadline deadline)
    {
        var end = failure.LastDeadEnd ?? history.Max(o => o.Return ?? o.Call);
        var cut = history.Where(o => o.Call <= end)
            .OrderBy(o => o.Call)
            .Select(o => new Candidate(o, o.Return > end ? o with { Return = null, Output = null } : o))
            .ToList();

        cut = ShortestFailingWindow(cut, deadline);
        for (var chunk = Math.Max(1, cut.Count / 2); chunk >= 1 && !deadline.Expired; chunk /= 2)
        {
            // From the end backwards: a deletion leaves the chunks before it where they were, and
            // the last write of a chain (a compare-and-set observes the value it replaces) goes first.
            // Single operations are tried until none more can go.
            for (var deleted = true; deleted && !deadline.Expired;)
            {
                deleted = false;
                for (var stop = cut.Count; stop > 0 && !deadline.Expired; stop -= chunk)
                {
                    var start = Math.Max(0, stop - chunk);
                    var without = Without(cut, Enumerable.Range(start, Math.Min(stop, cut.Count) - start));
                    if (without.Count < cut.Count && Fails(without, deadline))
                    {
                        cut = without;
                        deleted = chunk == 1;
                    }
                }
            }
        }

        return cut.Select(c => c.Original).ToList();
    }

    /// <summary>The history without what can be deleted before its last <c>window</c> operations, for the smallest window (doubling) with which it still fails.</summary>
    private static List<Candidate> ShortestFailingWindow(List<Candidate> history, Deadline deadline)
    {
        for (var window = FirstWindow; window < history.Count && !deadline.Expired; window *= 2)
        {
            var without = Without(history, Enumerable.Range(0, history.Count - window));
            if (Fails(without, deadline))
                return without;
        }

        return history;
    }

    private static bool Fails(List<Candidate> history, Deadline deadline) =>
        LinearizationSearch.Run(history.Select(c => c.AsSeen).ToList(), deadline).Verdict == SearchVerdict.NotLinearizable;

    /// <summary>
    /// The history without those of <paramref name="indexes"/> that may be deleted: the reads;
    /// then, in the order of their calls and again until none more can go, each write that nothing
    /// remaining can have seen — because no remaining operation observes its value, or because
    /// another write of the same value came after it (called after it returned) and returned
    /// before any remaining observer of that value was called. (Any overwrite would do for a
    /// proof; the same value keeps the counterexample telling: a stale read keeps the write it
    /// read, and the write that overwrote it.)
    /// </summary>
    private static List<Candidate> Without(List<Candidate> history, IEnumerable<int> indexes)
    {
        var values = new ValueTable();
        var model = history.Select(c => values.Encode(c.AsSeen)).ToArray();
        var candidates = indexes.OrderBy(i => history[i].AsSeen.Call).ToList();
        var deleted = candidates.Where(i => model[i].IsReadOnly).ToHashSet();

        // The remaining observers of each value, by call time.
        var observers = new Dictionary<int, SortedSet<(long Call, int Index)>>();
        for (var i = 0; i < history.Count; i++)
        {
            if (!deleted.Contains(i))
                model[i].ForEachObserved(v => ObserversOf(v).Add((history[i].AsSeen.Call, i)));
        }

        SortedSet<(long Call, int Index)> ObserversOf(int value) =>
            observers.TryGetValue(value, out var set) ? set : observers[value] = [];

        for (var more = true; more;)
        {
            more = false;
            var rewrites = new Dictionary<int, Rewrites>();
            foreach (var i in candidates.Where(i => !deleted.Contains(i)))
            {
                var value = model[i].Writes!.Value;
                var seenBy = ObserversOf(value).Where(o => o.Index != i).Select(o => o.Call).DefaultIfEmpty(long.MaxValue).Min();
                if (seenBy != long.MaxValue &&
                    !(history[i].AsSeen.Return is { } returned &&
                      (rewrites.TryGetValue(value, out var same) ? same : rewrites[value] = new Rewrites(history, model, deleted, value)).Between(returned, seenBy)))
                    continue;
                deleted.Add(i);
                model[i].ForEachObserved(v => ObserversOf(v).Remove((history[i].AsSeen.Call, i)));
                more = true;
            }
        }

        return history.Where((_, i) => !deleted.Contains(i)).ToList();
    }

    /// <summary>The remaining writes of one value that certainly took effect (known puts, deletes and swaps), to ask whether one fits between two times.</summary>
    private sealed class Rewrites
    {
        private readonly long[] _calls;
        private readonly long[] _earliestReturnFrom; // the earliest return of the writes called at or after _calls[k]

        public Rewrites(List<Candidate> history, KvModelOperation[] model, HashSet<int> deleted, int value)
        {
            var writes = Enumerable.Range(0, history.Count)
                .Where(i => !deleted.Contains(i) && model[i] is { Known: true, IsReadOnly: false } && model[i].Writes == value)
                .Select(i => history[i].AsSeen)
                .OrderBy(o => o.Call)
                .ToList();
            _calls = writes.Select(o => o.Call).ToArray();
            _earliestReturnFrom = new long[writes.Count + 1];
            _earliestReturnFrom[writes.Count] = long.MaxValue;
            for (var k = writes.Count - 1; k >= 0; k--)
                _earliestReturnFrom[k] = Math.Min(writes[k].Return!.Value, _earliestReturnFrom[k + 1]);
        }

        /// <summary>Whether one was called after <paramref name="after"/> and returned before <paramref name="before"/>.</summary>
        public bool Between(long after, long before)
        {
            var first = Array.BinarySearch(_calls, after + 1);
            if (first < 0)
                first = ~first;
            else
                while (first > 0 && _calls[first - 1] == after + 1)
                    first--;
            return _earliestReturnFrom[first] < before;
        }
    }

    /// <param name="Original">The operation as its client saw it.</param>
    /// <param name="AsSeen">As the shortened history has it: unknown if it returned after the cut.</param>
    private sealed record Candidate(KvOperation Original, KvOperation AsSeen);
}
