using RaftActors.Core;

namespace RaftActors.Storage;

/// <summary>
/// Storage that lives as long as the object: for tests and for simulated crash-restarts
/// (hand the same instance to the restarted node). Every write is durable at once.
/// </summary>
public sealed class InMemoryRaftStorage : IRaftStorage
{
    private readonly object _lock = new();
    private readonly List<LogEntry> _entries;
    private HardState _hardState;

    public InMemoryRaftStorage(HardState? initial = null, IEnumerable<LogEntry>? entries = null)
    {
        _hardState = initial ?? HardState.Initial;
        _entries = new List<LogEntry>();
        LogOperations.ApplyTo(_entries, [new AppendToLog((entries ?? []).ToList())]);
    }

    public HardState HardState
    {
        get
        {
            lock (_lock)
                return _hardState;
        }
    }

    public IReadOnlyList<LogEntry> Entries
    {
        get
        {
            lock (_lock)
                return _entries.ToArray();
        }
    }

    public Task WriteAsync(StorageWrite write)
    {
        lock (_lock)
        {
            LogOperations.ApplyTo(_entries, write.LogOperations);
            if (write.HardState is not null)
                _hardState = write.HardState;
        }

        return Task.CompletedTask;
    }
}
