using RaftActors.Messages;

namespace RaftActors.Core;

/// <summary>
/// Holds back outgoing messages until what was decided before them is durable, so a node
/// never tells a peer something (a vote, a term, an appended entry) that a crash could make it
/// forget. A message waits for the hard state decided before it, and if it says so for the log
/// changes too. Writes are group-committed: one is in flight at a time, and everything decided
/// meanwhile travels in the next — the latest hard state (it supersedes older ones) and every
/// log change, in order. A message leaves as soon as what it depends on is durable; messages of
/// one kind keep their order (their dependencies only grow), and Raft tolerates reordering
/// between kinds.
/// </summary>
internal sealed class DurableOutbox
{
    private readonly List<(long RequiredVersion, string To, IRaftProtocolMessage Message)> _waiting = new();
    private readonly List<LogChange> _unwrittenLog = new();
    private long _latestVersion;
    private long _latestHardStateVersion;
    private long _durableVersion;
    private HardState? _unwrittenHardState;
    private bool _writeInFlight;

    /// <summary>Messages waiting for a write.</summary>
    public int WaitingCount => _waiting.Count;

    /// <summary>Records a new hard state to write; messages sent after this wait for it.</summary>
    public void Persist(HardState state)
    {
        _latestHardStateVersion = ++_latestVersion;
        _unwrittenHardState = state;
    }

    /// <summary>The version of everything recorded so far: durable once <see cref="IsDurable"/> says so.</summary>
    public long LatestVersion => _latestVersion;

    /// <summary>Whether the writes up to <paramref name="version"/> are durable.</summary>
    public bool IsDurable(long version) => _durableVersion >= version;

    /// <summary>Records a log change to write; messages sent after this wait for it.</summary>
    public void Persist(LogChange change)
    {
        _latestVersion++;
        _unwrittenLog.Add(change);
    }

    /// <summary>Sends now when what the message depends on is durable, else queues it until it is.</summary>
    public void Send(string to, IRaftProtocolMessage message, Action<string, IRaftProtocolMessage> deliver, bool afterLogDurable = true)
    {
        var required = afterLogDurable ? _latestVersion : _latestHardStateVersion;
        if (_durableVersion >= required)
            deliver(to, message);
        else
            _waiting.Add((required, to, message));
    }

    /// <summary>The next write to start, or null when a write is in flight or nothing is new.</summary>
    public DurableWrite? TakeNextWrite()
    {
        if (_writeInFlight || (_unwrittenHardState is null && _unwrittenLog.Count == 0))
            return null;
        _writeInFlight = true;
        var write = new DurableWrite(_unwrittenHardState, _unwrittenLog.ToArray(), _latestVersion);
        _unwrittenHardState = null;
        _unwrittenLog.Clear();
        return write;
    }

    /// <summary>The write of <paramref name="version"/> is durable: release what waited for it.</summary>
    public void Durable(long version, Action<string, IRaftProtocolMessage> deliver)
    {
        _writeInFlight = false;
        _durableVersion = Math.Max(_durableVersion, version);
        var released = 0;
        foreach (var (required, to, message) in _waiting)
        {
            if (required <= _durableVersion)
            {
                deliver(to, message);
                released++;
            }
        }

        if (released > 0)
            _waiting.RemoveAll(w => w.RequiredVersion <= _durableVersion);
    }
}

/// <summary>One group-committed write: the hard state to store (if it changed) and the log changes in order.</summary>
internal sealed record DurableWrite(HardState? HardState, IReadOnlyList<LogChange> LogChanges, long Version)
{
    /// <summary>The log's last position once this write is durable, when it moves it.</summary>
    public LogPosition? LastAfter => LogChanges.LastOrDefault(c => c.LastAfterChange is not null)?.LastAfterChange;
}
