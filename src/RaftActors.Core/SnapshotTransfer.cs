using RaftActors.Messages;

namespace RaftActors.Core;

/// <summary>What a follower does with a chunk of a snapshot from its current leader (Figure 13, rules 2-5).</summary>
internal enum ChunkDecision
{
    /// <summary>The first chunk of a transfer: drop any other transfer in progress, start a new snapshot file, write the chunk.</summary>
    Start,

    /// <summary>The next chunk of the transfer in progress: write it after the others.</summary>
    Append,

    /// <summary>A duplicate, a chunk after a gap, or one of a transfer this node does not have: write nothing, tell the leader where it stands.</summary>
    Report,
}

/// <summary>
/// The decisions of a chunked snapshot transfer (§7, Figure 13), without I/O: the host moves the
/// bytes. Chunks are offset-based, so a lost, duplicated or reordered chunk never corrupts the
/// snapshot: a follower writes a chunk only at the offset where its file ends, and otherwise
/// reports how much it has, which is where the leader goes on.
/// </summary>
internal static class SnapshotTransferRules
{
    /// <summary>
    /// The follower's decision on <paramref name="chunk"/>, given a chunk of the transfer in
    /// progress (<paramref name="receiving"/>, or null) of which <paramref name="accepted"/> bytes
    /// were taken. A transfer is one snapshot from one leader in one term: after a leader or term
    /// change the new leader starts from scratch.
    /// </summary>
    public static ChunkDecision Decide(InstallSnapshot? receiving, long accepted, InstallSnapshot chunk)
    {
        if (receiving is not null && SameTransfer(receiving, chunk))
            return chunk.Offset == accepted ? ChunkDecision.Append : ChunkDecision.Report;
        return chunk.Offset == 0 ? ChunkDecision.Start : ChunkDecision.Report;
    }

    /// <summary>Whether two chunks belong to the same transfer: same leader, term and snapshot.</summary>
    public static bool SameTransfer(InstallSnapshot a, InstallSnapshot b) =>
        a.Term == b.Term && a.LeaderId == b.LeaderId && a.Snapshot == b.Snapshot;
}

/// <summary>One chunk to send: <see cref="Length"/> bytes from <see cref="Offset"/>; <see cref="Done"/> for the last.</summary>
internal readonly record struct SnapshotChunk(long Offset, int Length, bool Done);

/// <summary>
/// A leader's side of one snapshot transfer to one follower: which chunk goes next, at most
/// <c>chunksInFlight</c> ahead of the follower's acknowledgements, and going back when they stop
/// coming. An acknowledgement says how many bytes the follower holds; fewer than before means it
/// lost the transfer (it restarted) or the answer is late, and either way the leader sends again
/// from there (a duplicate costs bandwidth, never correctness). When no acknowledgement comes for
/// a while, the chunks out are presumed lost: the leader sends again from the last acknowledged
/// one, a single chunk at a time until acknowledgements flow, waiting twice as long each time
/// nothing comes back (a follower that is down costs one chunk now and then).
/// </summary>
internal sealed class SnapshotSendWindow
{
    /// <summary>Timer ticks (the leader's heartbeats) without an acknowledgement before the chunks out are presumed lost.</summary>
    public const int StallTicks = 3;

    /// <summary>The longest wait, in ticks, between two attempts at a silent follower.</summary>
    public const int MaxStallTicks = 32;

    private readonly int _chunkSize;
    private readonly int _chunksInFlight;
    private bool _lastSent;
    private bool _probing;
    private int _silentTicks;
    private int _patience = StallTicks;

    public SnapshotSendWindow(long length, int chunkSize, int chunksInFlight)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(chunksInFlight, 1);
        Length = length;
        _chunkSize = chunkSize;
        _chunksInFlight = chunksInFlight;
    }

    /// <summary>The snapshot's content length in bytes.</summary>
    public long Length { get; }

    /// <summary>The follower holds the bytes before this offset (as far as the leader knows).</summary>
    public long Acknowledged { get; private set; }

    /// <summary>The next chunk starts here.</summary>
    public long Sent { get; private set; }

    /// <summary>The next chunk to send, or null while the window is full or the last chunk is out.</summary>
    public SnapshotChunk? NextChunk()
    {
        var window = (long)_chunkSize * (_probing ? 1 : _chunksInFlight);
        if (_lastSent || Sent - Acknowledged >= window)
            return null;
        var length = (int)Math.Min(_chunkSize, Length - Sent);
        return new SnapshotChunk(Sent, length, Sent + length == Length);
    }

    public void ChunkSent(SnapshotChunk chunk)
    {
        if (chunk.Offset != Sent)
            throw new ArgumentException($"chunk at {chunk.Offset} sent where the next starts at {Sent}", nameof(chunk));
        Sent = chunk.Offset + chunk.Length;
        _lastSent = chunk.Done;
    }

    /// <summary>The follower holds <paramref name="nextOffset"/> bytes of the snapshot.</summary>
    public void Acknowledge(long nextOffset)
    {
        nextOffset = Math.Clamp(nextOffset, 0, Length);
        if (nextOffset > Acknowledged)
        {
            Acknowledged = nextOffset;
            Sent = Math.Max(Sent, nextOffset);
            _probing = false;
            _silentTicks = 0;
            _patience = StallTicks;
        }
        else if (nextOffset < Acknowledged)
        {
            GoBackTo(nextOffset);
        }
    }

    /// <summary>
    /// The follower answered something else of the leader's (a heartbeat): it is up, so chunks it
    /// has not acknowledged were lost, not sent into a void, and the wait before sending them again
    /// goes back to its first length. Without this, a follower whose acknowledgements were lost a
    /// few times in a row waits up to <see cref="MaxStallTicks"/> per attempt while it is reachable.
    /// </summary>
    public void FollowerHeard() => _patience = StallTicks;

    /// <summary>A timer tick (a heartbeat interval) passed; returns true when it made chunks due again.</summary>
    public bool Tick()
    {
        if (Sent == Acknowledged && !_lastSent)
            return false; // nothing out: the window is open
        if (++_silentTicks < _patience)
            return false;
        _patience = Math.Min(_patience * 2, MaxStallTicks);
        GoBackTo(Acknowledged);
        _probing = true;
        return true;
    }

    private void GoBackTo(long offset)
    {
        Acknowledged = offset;
        Sent = offset;
        _lastSent = false;
        _silentTicks = 0;
    }
}
