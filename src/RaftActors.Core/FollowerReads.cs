using RaftActors.Messages;

namespace RaftActors.Core;

/// <summary>
/// A follower's linearizable reads (thesis §6.4, etcd's MsgReadIndex). Instead of forwarding each
/// read to the leader, the follower asks the leader for a read index — one
/// <see cref="ReadIndexRequest"/> for every read waiting, one outstanding at a time, so reads that
/// arrive meanwhile travel together in the next — and serves the reads once it has applied through
/// the index the leader answered. The reads belong to the leader of one term: when the follower
/// follows another, or none, they fail and their clients retry.
/// </summary>
/// <remarks>
/// Time is the heartbeat timer's ticks, which run on a follower while it has reads here. A
/// request unanswered for <see cref="ResendTicks"/> ticks goes again (a message lost with a
/// broken connection); one unanswered for the expiry the protocol gives fails its reads, so a
/// leader that keeps sending entries but never answers (it no longer counts this node among its
/// followers) cannot hold them forever.
/// </remarks>
internal sealed class FollowerReads
{
    /// <summary>How many ticks an unanswered request waits before it is sent again.</summary>
    public const int ResendTicks = 2;

    private readonly string _self;
    private readonly int _expiryTicks;
    private readonly List<long> _waiting = new();
    private readonly List<long> _asked = new();
    private readonly List<(long ReadId, long ReadIndex)> _confirmed = new();
    private long _lastRequestId;
    private long _ticks;
    private long _askedAtTick;
    private long _sentAtTick;

    /// <param name="self">The follower's id.</param>
    /// <param name="expiryTicks">How many ticks a request may go unanswered before its reads fail.</param>
    public FollowerReads(string self, int expiryTicks)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(expiryTicks, 1);
        _self = self;
        _expiryTicks = expiryTicks;
    }

    /// <summary>Whether no read is here.</summary>
    public bool IsEmpty => _waiting.Count == 0 && _asked.Count == 0 && _confirmed.Count == 0;

    /// <summary>The leader the reads here were asked of, and its term.</summary>
    public (long Term, string Leader)? AskedOf { get; private set; }

    /// <summary>
    /// Takes a read to be asked of <paramref name="leader"/> of <paramref name="term"/> (the caller
    /// first fails the reads of any other leader); returns the request to send now, if none is outstanding.
    /// </summary>
    public ReadIndexRequest? Add(long readId, long term, string leader)
    {
        AskedOf = (term, leader);
        _waiting.Add(readId);
        return _asked.Count == 0 ? Ask() : null;
    }

    /// <summary>
    /// The leader answered: the reads of the request are confirmed at its read index. Returns the
    /// next request, for the reads that arrived meanwhile; null when the answer is not to the
    /// outstanding request (a duplicate, or to a request sent again) or no read waits.
    /// </summary>
    public ReadIndexRequest? Answered(ReadIndexResult result, out bool matched)
    {
        matched = _asked.Count > 0 && result.RequestId == _lastRequestId;
        if (!matched)
            return null;
        foreach (var readId in _asked)
            _confirmed.Add((readId, result.ReadIndex));
        _asked.Clear();
        return _waiting.Count > 0 ? Ask() : null;
    }

    /// <summary>Takes the confirmed reads whose read index <paramref name="mayServe"/> allows serving now, in the order they came.</summary>
    public List<(long ReadId, long ReadIndex)> TakeServable(Func<long, bool> mayServe)
    {
        var servable = new List<(long, long)>();
        _confirmed.RemoveAll(read =>
        {
            if (!mayServe(read.ReadIndex))
                return false;
            servable.Add(read);
            return true;
        });
        return servable;
    }

    /// <summary>
    /// A heartbeat tick. Returns the outstanding request when it is due to be sent again, and
    /// whether it went unanswered past the expiry (the caller then fails every read here).
    /// </summary>
    public (ReadIndexRequest? Resend, bool Expired) Tick()
    {
        _ticks++;
        if (_asked.Count == 0 || AskedOf is not { } of)
            return (null, false);
        if (_ticks - _askedAtTick > _expiryTicks)
            return (null, true);
        if (_ticks - _sentAtTick < ResendTicks)
            return (null, false);
        _sentAtTick = _ticks;
        return (new ReadIndexRequest(of.Term, _self, _lastRequestId), false);
    }

    /// <summary>Takes every read here, asked or not, confirmed or not: they fail.</summary>
    public List<long> TakeAll()
    {
        var all = new List<long>(_confirmed.Count + _asked.Count + _waiting.Count);
        all.AddRange(_confirmed.Select(read => read.ReadId));
        all.AddRange(_asked);
        all.AddRange(_waiting);
        _confirmed.Clear();
        _asked.Clear();
        _waiting.Clear();
        AskedOf = null;
        return all;
    }

    private ReadIndexRequest Ask()
    {
        _asked.AddRange(_waiting);
        _waiting.Clear();
        _askedAtTick = _sentAtTick = _ticks;
        return new ReadIndexRequest(AskedOf!.Value.Term, _self, ++_lastRequestId);
    }
}
