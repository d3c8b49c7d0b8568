using RaftActors.Messages;

namespace RaftActors.Core;

/// <summary>
/// Holds back outgoing messages until the hard state decided before them is durable, so a
/// node never tells a peer something (a vote, a term) that a crash could make it forget.
/// Writes are coalesced: one is in flight at a time and the next carries only the latest
/// state, since a newer hard state supersedes all older ones.
/// </summary>
public sealed class DurableOutbox
{
    private readonly Queue<(long RequiredVersion, string To, IRaftProtocolMessage Message)> _waiting = new();
    private long _latestVersion;
    private long _durableVersion;
    private HardState? _unwritten;
    private bool _writeInFlight;

    /// <summary>Messages waiting for a write.</summary>
    public int WaitingCount => _waiting.Count;

    /// <summary>Records a new hard state to write; messages sent after this wait for it.</summary>
    public void Persist(HardState state)
    {
        _latestVersion++;
        _unwritten = state;
    }

    /// <summary>Sends now when nothing is pending, else queues behind the pending writes.</summary>
    public void Send(string to, IRaftProtocolMessage message, Action<string, IRaftProtocolMessage> deliver)
    {
        if (_durableVersion >= _latestVersion)
            deliver(to, message);
        else
            _waiting.Enqueue((_latestVersion, to, message));
    }

    /// <summary>The next write to start, or null when a write is in flight or nothing is new.</summary>
    public (HardState State, long Version)? TakeNextWrite()
    {
        if (_writeInFlight || _unwritten is null)
            return null;
        _writeInFlight = true;
        var write = (_unwritten, _latestVersion);
        _unwritten = null;
        return write;
    }

    /// <summary>The write of <paramref name="version"/> is durable: release what waited for it.</summary>
    public void Durable(long version, Action<string, IRaftProtocolMessage> deliver)
    {
        _writeInFlight = false;
        _durableVersion = Math.Max(_durableVersion, version);
        while (_waiting.Count > 0 && _waiting.Peek().RequiredVersion <= _durableVersion)
        {
            var (_, to, message) = _waiting.Dequeue();
            deliver(to, message);
        }
    }
}
