using System.Diagnostics;

namespace RaftActors.Linearizability;

internal enum SearchVerdict
{
    Linearizable,
    NotLinearizable,
    OutOfBudget,
}

/// <param name="Longest">The longest sequence of operations (indexes into the searched list) the search linearized.</param>
/// <param name="ValueAfterLongest">The key's value after <paramref name="Longest"/>.</param>
/// <param name="Blocking">
/// When not linearizable: the index of the first operation to return that <paramref name="Longest"/>
/// leaves out, which no order of what was pending could take past.
/// </param>
/// <param name="Configurations">How many distinct (linearized set, value) configurations were reached.</param>
/// <param name="LastDeadEnd">
/// When not linearizable: the latest time at which some order of the operations got stuck (an
/// operation due by then could not be linearized). The history up to then (what returned later
/// counted as unknown) is not linearizable either.
/// </param>
internal sealed record SearchResult(
    SearchVerdict Verdict,
    IReadOnlyList<int> Longest,
    string? ValueAfterLongest,
    int? Blocking,
    long Configurations,
    string? OutOfBudgetReason,
    long? LastDeadEnd);

/// <summary>A time limit shared by every search of one check.</summary>
internal sealed class Deadline(TimeSpan budget)
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    public TimeSpan Elapsed => _clock.Elapsed;

    public TimeSpan Budget => budget;

    public bool Expired => _clock.Elapsed >= budget;
}

/// <summary>
/// Wing and Gong's search for a linearization of one key's history, with Lowe's just-in-time
/// linearization and memoization (as in Porcupine): the calls and returns, in time order, form a
/// doubly linked list; the search walks it, linearizing a pending operation whenever the model
/// allows it and the resulting configuration — the set of operations linearized so far and the
/// key's value — was never reached before; meeting the return of an operation not yet
/// linearized, it backtracks. Ties in time count as overlap (a call stamped with the same time
/// as another operation's return is concurrent with it), so equal clocks never produce a false
/// "not linearizable".
/// <para>
/// An operation with an unknown outcome has no return: it may take effect anywhere after its
/// call, and the search succeeds once every operation with a known outcome is linearized,
/// whatever the unknown ones did (they may have taken effect later, or never). Before the
/// search, operations that cannot matter are set aside: reads with unknown outcome, and writes
/// with unknown outcome whose value no operation observes (applying such a write can only force
/// reads into a value none of them returned, so any linearization with it stays one without).
/// And a write of unknown outcome that some known outcome shows took effect gets a deadline
/// (<see cref="MustTakeEffectBy"/>), as if it had returned: unknown outcomes left open to the end
/// would multiply the configurations to search.
/// </para>
/// </summary>
internal sealed class LinearizationSearch
{
    /// <summary>Configurations one search may remember (about 40 bytes each) before it gives up, as out of budget.</summary>
    private const int MaxConfigurations = 10_000_000;

    private const int Head = 0;

    private readonly Deadline _deadline;
    private readonly ValueTable _values = new();

    // The searched operations: indexes into the given list, and their model form.
    private readonly int[] _searched;
    private readonly KvModelOperation[] _model;
    private readonly long?[] _end; // when each must have taken effect by: its return, else null (it may never)
    private readonly int[] _twinBefore; // see TwinsBefore

    // The event list: node 0 is the head, then one node per call and per end (return or deadline), then the tail.
    private readonly int[] _next;
    private readonly int[] _prev;
    private readonly int[] _operationOf; // searched-operation number of an event
    private readonly int[] _endOf;    // a call's end node, or -1 (it may never take effect); -1 for an end
    private readonly bool[] _isCall;     // false for the head, the returns and the tail
    private readonly int _tail;

    private SearchLog _longest;

    private LinearizationSearch(IReadOnlyList<KvOperation> operations, Deadline deadline)
    {
        _deadline = deadline;
        var encoded = operations.Select(_values.Encode).ToArray();
        _searched = Relevant(operations, encoded);
        _model = _searched.Select(i => encoded[i]).ToArray();
        var mustTakeEffectBy = MustTakeEffectBy(operations, encoded);
        _end = _searched.Select(i => operations[i].Return ?? mustTakeEffectBy[i]).ToArray();
        _twinBefore = TwinsBefore(operations);

        var events = new List<(long Time, int Order, int Operation, bool IsEnd)>();
        for (var op = 0; op < _searched.Length; op++)
        {
            events.Add((operations[_searched[op]].Call, 0, op, false));
            if (_end[op] is { } end)
                events.Add((end, 1, op, true)); // at equal times, calls come first: overlap
        }

        events.Sort((a, b) => (a.Time, a.Order, a.Operation).CompareTo((b.Time, b.Order, b.Operation)));
        var nodes = events.Count + 2;
        _tail = nodes - 1;
        _next = new int[nodes];
        _prev = new int[nodes];
        _operationOf = new int[nodes];
        _endOf = new int[nodes];
        _isCall = new bool[nodes];
        var endNode = new int[_searched.Length];
        Array.Fill(endNode, -1);
        for (var n = 0; n < nodes; n++)
        {
            _next[n] = n + 1;
            _prev[n] = n - 1;
            _endOf[n] = -1;
        }

        for (var e = 0; e < events.Count; e++)
        {
            _operationOf[e + 1] = events[e].Operation;
            if (events[e].IsEnd)
                endNode[events[e].Operation] = e + 1;
        }

        for (var e = 0; e < events.Count; e++)
        {
            if (events[e].IsEnd)
                continue;
            _isCall[e + 1] = true;
            _endOf[e + 1] = endNode[events[e].Operation];
        }
    }

    /// <summary>Searches for a linearization of <paramref name="operations"/> (all on one key, validated).</summary>
    public static SearchResult Run(IReadOnlyList<KvOperation> operations, Deadline deadline) =>
        new LinearizationSearch(operations, deadline).Search();

    /// <summary>
    /// For each write of unknown outcome whose value some operation with a known outcome observed
    /// (read, found by a failed compare-and-set, or swapped by a successful one), when it is the
    /// only write of that value: it certainly took effect, before the first such observer
    /// returned. It is searched like an operation that returned then, which spares the search
    /// from carrying it along, maybe-linearized, to the end of the history.
    /// </summary>
    private static long?[] MustTakeEffectBy(IReadOnlyList<KvOperation> operations, KvModelOperation[] encoded)
    {
        var writers = new Dictionary<int, int>();
        var firstObserved = new Dictionary<int, long>();
        for (var i = 0; i < encoded.Length; i++)
        {
            if (encoded[i].Writes is { } written)
                writers[written] = writers.GetValueOrDefault(written) + 1;
            if (operations[i].Return is { } returned)
            {
                encoded[i].ForEachObserved(v =>
                    firstObserved[v] = firstObserved.TryGetValue(v, out var first) ? Math.Min(first, returned) : returned);
            }
        }

        return Enumerable.Range(0, encoded.Length)
            .Select(i => encoded[i] is { Known: false, Writes: { } value } && value != KvModelOperation.Absent &&
                         writers[value] == 1 && firstObserved.TryGetValue(value, out var by)
                ? Math.Max(by, operations[i].Call)
                : (long?)null)
            .ToArray();
    }

    /// <summary>
    /// For each searched operation that may never take effect, the one called last before it
    /// that would do exactly the same (the same write, also of unknown outcome, also free of any
    /// deadline), else -1. Such twins are interchangeable: whichever of them a linearization uses
    /// at some point, the earliest called one unused by then would do as well, and the others stay
    /// available as long. So the search uses them in the order of their calls only, and a crowd of
    /// timed-out deletes costs it as much as one.
    /// </summary>
    private int[] TwinsBefore(IReadOnlyList<KvOperation> operations)
    {
        var twinBefore = new int[_searched.Length];
        var lastOfItsKind = new Dictionary<KvModelOperation, int>();
        foreach (var op in Enumerable.Range(0, _searched.Length).OrderBy(op => operations[_searched[op]].Call))
        {
            twinBefore[op] = -1;
            if (_end[op] is not null)
                continue;
            if (lastOfItsKind.TryGetValue(_model[op], out var twin))
                twinBefore[op] = twin;
            lastOfItsKind[_model[op]] = op;
        }

        return twinBefore;
    }

    /// <summary>
    /// The operations worth searching: all but reads of unknown outcome and writes of unknown
    /// outcome whose value nothing observes.
    /// </summary>
    private static int[] Relevant(IReadOnlyList<KvOperation> operations, KvModelOperation[] encoded)
    {
        var observed = new HashSet<int>();
        foreach (var operation in encoded)
            operation.ForEachObserved(v => observed.Add(v));
        return Enumerable.Range(0, operations.Count)
            .Where(i => encoded[i] switch
            {
                { Known: true } => true,
                { Kind: KvOperationKind.Get } => false,
                var write => observed.Contains(write.Writes!.Value),
            })
            .ToArray();
    }

    private SearchResult Search()
    {
        var count = _searched.Length;
        var linearized = new ulong[(count + 63) / 64];
        var (zobrist1, zobrist2) = (ZobristKeys(count, 0x2545F4914F6CDD1DUL), ZobristKeys(count, 0x9E6C63D0676A9A99UL));
        var seen = new HashSet<Fingerprint>();
        var stack = new Stack<(int Call, int State)>();
        var requiredLeft = _end.Count(e => e is not null);
        var state = KvModelOperation.Absent;
        var (hash1, hash2) = (0UL, 0UL);
        var lastDeadEnd = long.MinValue;
        _longest = new SearchLog([], KvModelOperation.Absent);

        var entry = _next[Head];
        for (var steps = 1L; ; steps++)
        {
            if (requiredLeft == 0)
                return Result(SearchVerdict.Linearizable, seen.Count, stack, state, lastDeadEnd);
            if ((steps & 1023) == 0)
            {
                if (_deadline.Expired)
                    return Result(SearchVerdict.OutOfBudget, seen.Count, stack, state, lastDeadEnd, $"the time budget of {_deadline.Budget.TotalMilliseconds:F0} ms ran out");
                if (seen.Count > MaxConfigurations)
                    return Result(SearchVerdict.OutOfBudget, seen.Count, stack, state, lastDeadEnd, $"more than {MaxConfigurations:N0} configurations would not fit the memory limit");
            }

            var op = _operationOf[entry];
            var deadEnd = !_isCall[entry]; // the end of an operation not linearized yet (or the tail: nothing left to try)
            if (!deadEnd && (_twinBefore[op] == -1 || IsSet(linearized, _twinBefore[op])) && _model[op].Step(state, out var next))
            {
                // A call whose operation can take effect here. Unless that leads somewhere seen before, go there.
                SetBit(linearized, op);
                var (nextHash1, nextHash2) = (hash1 ^ zobrist1[op], hash2 ^ zobrist2[op]);
                if (seen.Add(count <= 128
                        ? new Fingerprint(linearized[0], linearized.Length > 1 ? linearized[1] : 0, next)
                        : new Fingerprint(nextHash1, nextHash2, next)))
                {
                    stack.Push((entry, state));
                    state = next;
                    (hash1, hash2) = (nextHash1, nextHash2);
                    Lift(entry);
                    if (_end[op] is not null)
                        requiredLeft--;
                    entry = _next[Head];
                    continue;
                }

                ClearBit(linearized, op);

                // A read that fits here may as well be taken here (it changes nothing, and taking it
                // later could only be moved back to here): if that was a dead end, so is this place.
                deadEnd = _model[op].IsReadOnly;
            }

            if (!deadEnd)
            {
                entry = _next[entry];
                continue;
            }

            if (entry != _tail && !_isCall[entry])
                lastDeadEnd = Math.Max(lastDeadEnd, _end[op]!.Value);

            // Take back the last operation linearized and try the next candidate after it. A read
            // taken back leaves no candidate worth trying in its place (see above): take back more.
            if (stack.Count > _longest.Longest.Count)
                _longest = new SearchLog(stack.Select(s => _operationOf[s.Call]).Reverse().ToList(), state); // the deepest dead end, for the explanation
            int call;
            do
            {
                if (stack.Count == 0)
                    return Result(SearchVerdict.NotLinearizable, seen.Count, stack, state, lastDeadEnd);
                (call, var before) = stack.Pop();
                var undone = _operationOf[call];
                (hash1, hash2) = (hash1 ^ zobrist1[undone], hash2 ^ zobrist2[undone]);
                state = before;
                ClearBit(linearized, undone);
                Unlift(call);
                if (_end[undone] is not null)
                    requiredLeft++;
            }
            while (_model[_operationOf[call]].IsReadOnly);

            entry = _next[call];
        }
    }

    private SearchResult Result(SearchVerdict verdict, long configurations, Stack<(int Call, int State)> stack, int state, long lastDeadEnd, string? reason = null)
    {
        var (longest, valueAfter) = verdict != SearchVerdict.NotLinearizable && stack.Count >= _longest.Longest.Count
            ? (stack.Select(s => _operationOf[s.Call]).Reverse().ToList(), state)
            : (_longest.Longest, _longest.ValueAfter);
        int? blocking = null;
        if (verdict == SearchVerdict.NotLinearizable)
        {
            var done = longest.ToHashSet();
            blocking = Enumerable.Range(0, _searched.Length)
                .Where(op => _end[op] is not null && !done.Contains(op))
                .MinBy(op => _end[op]);
        }

        return new SearchResult(
            verdict,
            longest.Select(op => _searched[op]).ToList(),
            _values.Value(valueAfter),
            blocking is { } b ? _searched[b] : null,
            configurations,
            reason,
            verdict == SearchVerdict.NotLinearizable && lastDeadEnd != long.MinValue ? lastDeadEnd : null);
    }

    private void Lift(int call)
    {
        Remove(call);
        if (_endOf[call] is var end and not -1)
            Remove(end);
    }

    private void Unlift(int call)
    {
        // The reverse of Lift: the end back first, then the call (dancing links).
        if (_endOf[call] is var end and not -1)
            Restore(end);
        Restore(call);
    }

    private void Remove(int node)
    {
        _next[_prev[node]] = _next[node];
        _prev[_next[node]] = _prev[node];
    }

    private void Restore(int node)
    {
        _next[_prev[node]] = node;
        _prev[_next[node]] = node;
    }

    private static void SetBit(ulong[] bits, int i) => bits[i >> 6] |= 1UL << (i & 63);

    private static void ClearBit(ulong[] bits, int i) => bits[i >> 6] &= ~(1UL << (i & 63));

    private static bool IsSet(ulong[] bits, int i) => (bits[i >> 6] & (1UL << (i & 63))) != 0;

    /// <summary>A random 64-bit key per operation (SplitMix64 from a fixed seed), so a set's hash is the XOR of its members'.</summary>
    private static ulong[] ZobristKeys(int count, ulong seed)
    {
        var keys = new ulong[count];
        var x = seed;
        for (var i = 0; i < count; i++)
        {
            x += 0x9E3779B97F4A7C15UL;
            var z = x;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            keys[i] = z ^ (z >> 31);
        }

        return keys;
    }

    private readonly record struct SearchLog(IReadOnlyList<int> Longest, int ValueAfter);

    /// <summary>
    /// A configuration as remembered: the key's value, and the set of operations linearized —
    /// exactly (as a bit set) up to 128 operations, else as two independent 64-bit Zobrist hashes
    /// (hash compaction, as in SPIN: 40 bytes a configuration instead of a bit per operation;
    /// two sets share a fingerprint with a probability of about 2^-128 per pair, far below
    /// anything that could matter for the 10^7 configurations a search may hold).
    /// </summary>
    private readonly record struct Fingerprint(ulong Set1, ulong Set2, int State)
    {
        public override int GetHashCode() => (int)(Set1 ^ (Set1 >> 32) ^ (Set2 * 31) ^ (ulong)State * 0x9E3779B97F4A7C15UL);
    }
}
