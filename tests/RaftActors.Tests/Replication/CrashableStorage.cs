using RaftActors.Core;
using RaftActors.Storage;

namespace RaftActors.Tests.Replication;

/// <summary>
/// One incarnation's view of a node's stable storage, <paramref name="disk"/> (which outlives
/// incarnations). A write becomes durable — lands on the disk — only after a small random delay,
/// in order, and only then does its task complete. <see cref="Crash"/> discards the writes still
/// in flight, as a power cut would; a write whose task completed is on the disk and survives.
/// After a crash this object accepts writes and never completes them: a dead process's writes
/// land nowhere. The restarted node gets a new instance over the same disk. Snapshots are staged
/// on the disk directly (a staged snapshot is not yet part of the durable state: a write saves it).
/// </summary>
public sealed class CrashableStorage : IRaftStorage
{
    private readonly object _lock = new();
    private readonly InMemoryRaftStorage disk;
    private readonly Func<int> nextDelayMs;
    private readonly LogBuffer _accepted = new();
    private Task _tail = Task.CompletedTask;
    private bool _crashed;
    private int _inFlight;
    private int _completed;

    public CrashableStorage(InMemoryRaftStorage disk, Func<int> nextDelayMs)
    {
        this.disk = disk;
        this.nextDelayMs = nextDelayMs;
        var entries = disk.Entries;
        _accepted.ResetAfter(entries.Count == 0 ? disk.Snapshot.Index : entries[0].Index - 1);
        foreach (var entry in entries)
            _accepted.Append(entry);
    }

    /// <summary>The durable hard state: what a node starting on this storage reads.</summary>
    public HardState HardState => disk.HardState;

    /// <summary>The durable snapshot: what a node starting on this storage restores.</summary>
    public LogPosition Snapshot => disk.Snapshot;

    /// <summary>The durable log: what a node starting on this storage reads.</summary>
    public IReadOnlyList<LogEntry> Entries => disk.Entries;

    /// <summary>The configuration the durable snapshot holds.</summary>
    public ClusterConfiguration? SnapshotConfiguration => disk.SnapshotConfiguration;

    public SnapshotSink CreateSnapshot(LogPosition position, ClusterConfiguration? configuration = null) => disk.CreateSnapshot(position, configuration);

    public OpenedSnapshot OpenSnapshot() => disk.OpenSnapshot();

    /// <summary>Writes completed (durable) so far.</summary>
    public int Completed
    {
        get
        {
            lock (_lock)
                return _completed;
        }
    }

    /// <summary>
    /// The log as the node has asked to write it: durable entries plus those still in flight (after
    /// the snapshot). A leader's proposal shows here as soon as the node starts writing it (MIT's
    /// Start() index).
    /// </summary>
    public IReadOnlyList<LogEntry> Accepted
    {
        get
        {
            lock (_lock)
                return _accepted.Snapshot();
        }
    }

    public long AcceptedLastIndex
    {
        get
        {
            lock (_lock)
                return _accepted.LastIndex;
        }
    }

    public override string ToString()
    {
        lock (_lock)
            return $"{_completed} writes durable, {_inFlight} in flight, {_accepted.Count} entries accepted{(_crashed ? ", crashed" : "")}";
    }

    public Task WriteAsync(StorageWrite write)
    {
        lock (_lock)
        {
            if (_crashed)
                return new TaskCompletionSource().Task;
            foreach (var operation in write.LogOperations)
                _accepted.Apply(operation);
            _inFlight++;
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _tail = MakeDurable(_tail, write, nextDelayMs(), done);
            return done.Task;
        }
    }

    /// <summary>Loses every write not yet durable; returns how many were lost.</summary>
    public int Crash()
    {
        lock (_lock)
        {
            _crashed = true;
            return _inFlight;
        }
    }

    private async Task MakeDurable(Task previous, StorageWrite write, int delayMs, TaskCompletionSource done)
    {
        await previous.ConfigureAwait(false);
        await Task.Delay(delayMs).ConfigureAwait(false);
        try
        {
            lock (_lock)
            {
                if (_crashed)
                    return;

                // On the disk first, then acknowledged: a completed write is durable.
                disk.WriteAsync(write).GetAwaiter().GetResult();
                _inFlight--;
                _completed++;
            }
        }
        catch (Exception e)
        {
            // A write the disk refuses (say, a log that would not be contiguous) fails the node, loudly.
            done.SetException(e);
            return;
        }

        done.SetResult();
    }
}
