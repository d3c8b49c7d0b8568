using RaftActors.Core;

namespace RaftActors.Storage;

/// <summary>
/// Storage that lives as long as the object: for tests and for simulated crash-restarts
/// (hand the same instance to the restarted node). Every write is durable at once. Snapshots are
/// byte arrays in memory, staged and saved as in <see cref="FileRaftStorage"/>.
/// </summary>
public sealed class InMemoryRaftStorage : IRaftStorage
{
    private readonly object _lock = new();
    private readonly LogBuffer _log = new();
    // Staged snapshots by position, oldest first: one position may be staged twice (taken here and
    // received), each staying until its owner disposes it or a save takes it, as in the file store.
    private readonly Dictionary<LogPosition, List<MemorySink>> _staged = new();
    private HardState _hardState;
    private LogPosition _snapshot;
    private ClusterConfiguration? _snapshotConfiguration;
    private byte[] _snapshotContent = [];

    public InMemoryRaftStorage(HardState? initial = null, IEnumerable<LogEntry>? entries = null)
    {
        _hardState = initial ?? HardState.Initial;
        _log.Apply(new AppendToLog((entries ?? []).ToList()));
    }

    public HardState HardState
    {
        get
        {
            lock (_lock)
                return _hardState;
        }
    }

    public LogPosition Snapshot
    {
        get
        {
            lock (_lock)
                return _snapshot;
        }
    }

    public ClusterConfiguration? SnapshotConfiguration
    {
        get
        {
            lock (_lock)
                return _snapshotConfiguration;
        }
    }

    public IReadOnlyList<LogEntry> Entries
    {
        get
        {
            lock (_lock)
                return _log.Snapshot();
        }
    }

    /// <summary>The latest snapshot's content (empty before the first).</summary>
    public byte[] SnapshotContent
    {
        get
        {
            lock (_lock)
                return _snapshotContent;
        }
    }

    public Task WriteAsync(StorageWrite write)
    {
        lock (_lock)
        {
            foreach (var operation in write.LogOperations)
            {
                switch (operation)
                {
                    case SaveSnapshot save:
                        Save(save.Position);
                        break;
                    case CompactLog { ThroughIndex: var through } when through > _snapshot.Index:
                    case ResetLog { AfterIndex: var after } when after > _snapshot.Index:
                        throw new ArgumentException($"{operation} reaches past the latest snapshot, through {_snapshot.Index}");
                    default:
                        _log.Apply(operation);
                        break;
                }
            }

            if (write.HardState is not null)
                _hardState = write.HardState;
        }

        return Task.CompletedTask;
    }

    public SnapshotSink CreateSnapshot(LogPosition position, ClusterConfiguration? configuration = null) => new MemorySink(this, position, configuration);

    public OpenedSnapshot OpenSnapshot()
    {
        lock (_lock)
        {
            if (_snapshot == LogPosition.Empty)
                throw new RaftStorageException("there is no snapshot to read");
            return new OpenedSnapshot(_snapshot, _snapshotConfiguration, new MemoryStream(_snapshotContent, writable: false));
        }
    }

    private void Save(LogPosition position)
    {
        if (position.Index <= _snapshot.Index)
            throw new ArgumentException($"the snapshot through {position.Index} is not newer than the latest, through {_snapshot.Index}");
        if (!_staged.TryGetValue(position, out var copies))
            throw new ArgumentException($"no snapshot through {position.Index} (term {position.Term}) is staged");
        var staged = copies[0];
        copies.RemoveAt(0);
        if (copies.Count == 0)
            _staged.Remove(position);
        _snapshotContent = staged.Saved();
        _snapshot = position;
        _snapshotConfiguration = staged.Configuration;
    }

    private sealed class MemorySink(InMemoryRaftStorage storage, LogPosition position, ClusterConfiguration? configuration) : SnapshotSink(position, configuration)
    {
        private MemoryStream? _content = new();
        private bool _staged;

        public override long Length => _content?.Length ?? 0;

        public override Task WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
        {
            Writable().Write(data.Span);
            return Task.CompletedTask;
        }

        public override Task FlushAsync(CancellationToken cancellationToken = default)
        {
            Writable();
            return Task.CompletedTask;
        }

        public override Task CompleteAsync(CancellationToken cancellationToken = default)
        {
            Writable();
            lock (storage._lock)
            {
                _staged = true;
                if (!storage._staged.TryGetValue(Position, out var copies))
                    storage._staged[Position] = copies = new List<MemorySink>(1);
                copies.Add(this);
            }

            return Task.CompletedTask;
        }

        /// <summary>The content, now the store's (called under the store's lock).</summary>
        public byte[] Saved()
        {
            var bytes = _content!.ToArray();
            _content = null;
            return bytes;
        }

        public override void Dispose()
        {
            lock (storage._lock)
            {
                if (_content is null)
                    return; // saved, or disposed already
                _content = null;
                if (_staged && storage._staged.TryGetValue(Position, out var copies) && copies.Remove(this) && copies.Count == 0)
                    storage._staged.Remove(Position);
            }
        }

        private MemoryStream Writable() =>
            _content is { } content && !_staged ? content : throw new InvalidOperationException($"{this}: nothing more can be written to it");
    }
}
