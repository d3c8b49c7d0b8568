using System.Diagnostics;

namespace RaftActors.Linearizability;

/// <summary>
/// Builds a history as clients run, from any number of threads: a client calls
/// <see cref="Invoke"/> just before it sends a request and <see cref="Complete"/>,
/// <see cref="Unknown"/> or <see cref="Fail"/> as soon as it knows the outcome. Times come from
/// one clock read under one lock, so the history's order of calls and returns is the order in
/// which the clients saw them. A process has at most one operation pending (invoked, not yet
/// resolved); after an unknown outcome it may go on, since its last operation is no longer
/// waited for.
/// </summary>
public sealed class HistoryRecorder
{
    private readonly Func<long> _clock;
    private readonly Lock _lock = new();
    private readonly List<Entry> _entries = [];
    private readonly Dictionary<int, int> _pendingByProcess = new();

    /// <param name="clock">Any monotonic clock; default: <see cref="Stopwatch.GetTimestamp"/>.</param>
    public HistoryRecorder(Func<long>? clock = null) => _clock = clock ?? Stopwatch.GetTimestamp;

    /// <summary>Records a call now; returns the handle to resolve it with.</summary>
    public int Invoke(int process, KvOperationKind kind, string key, string? value = null, string? expected = null)
    {
        lock (_lock)
        {
            if (_pendingByProcess.TryGetValue(process, out var pending))
                throw new InvalidOperationException($"process {process} already has an operation pending: {_entries[pending].Operation}");
            var handle = _entries.Count;
            var operation = new KvOperation(process, kind, key, value, expected, _clock(), null, null);
            operation.Validate();
            _entries.Add(new Entry(operation, Outcome.Pending));
            _pendingByProcess[process] = handle;
            return handle;
        }
    }

    /// <summary>The operation returned, now, with <paramref name="output"/>.</summary>
    public void Complete(int handle, KvOutput output)
    {
        ArgumentNullException.ThrowIfNull(output);
        Resolve(handle, Outcome.Completed, (operation, now) => operation with { Return = now, Output = output });
    }

    /// <summary>Its outcome is unknown (a timeout, a 504, a crash): it may take effect any time after its call, or never.</summary>
    public void Unknown(int handle) => Resolve(handle, Outcome.Unknown, (operation, _) => operation);

    /// <summary>It certainly did not take effect (refused before it could): it is left out of the history.</summary>
    public void Fail(int handle) => Resolve(handle, Outcome.Failed, (operation, _) => operation);

    /// <summary>Every operation but the failed ones, in the order of their calls; those still pending count as unknown.</summary>
    public IReadOnlyList<KvOperation> History
    {
        get
        {
            lock (_lock)
                return _entries.Where(e => e.Outcome != Outcome.Failed).Select(e => e.Operation).ToList();
        }
    }

    /// <summary>How many operations completed, had an unknown outcome (pending ones included), and failed.</summary>
    public (int Completed, int Unknown, int Failed) Counts
    {
        get
        {
            lock (_lock)
            {
                return (_entries.Count(e => e.Outcome == Outcome.Completed),
                        _entries.Count(e => e.Outcome is Outcome.Unknown or Outcome.Pending),
                        _entries.Count(e => e.Outcome == Outcome.Failed));
            }
        }
    }

    private void Resolve(int handle, Outcome outcome, Func<KvOperation, long, KvOperation> resolve)
    {
        lock (_lock)
        {
            if (handle < 0 || handle >= _entries.Count)
                throw new ArgumentOutOfRangeException(nameof(handle), handle, "not a handle this recorder gave");
            var entry = _entries[handle];
            if (entry.Outcome != Outcome.Pending)
                throw new InvalidOperationException($"operation {handle} was already resolved ({entry.Outcome}): {entry.Operation}");
            var operation = resolve(entry.Operation, _clock());
            operation.Validate();
            _entries[handle] = new Entry(operation, outcome);
            _pendingByProcess.Remove(operation.Process);
        }
    }

    private enum Outcome
    {
        Pending,
        Completed,
        Unknown,
        Failed,
    }

    private readonly record struct Entry(KvOperation Operation, Outcome Outcome);
}
