using RaftActors.Messages;

namespace RaftActors.Core.Hosting;

/// <summary>
/// The I/O a <see cref="SnapshotSender{TContent}"/> asks of its host. Each request's completion
/// comes back, on the host's thread, as a call to the sender: <see cref="SnapshotSender{TContent}.Opened"/>,
/// <see cref="SnapshotSender{TContent}.ChunkRead"/>, or <see cref="SnapshotSender{TContent}.Failed"/>.
/// </summary>
/// <typeparam name="TContent">The host's handle on an open snapshot (a stream of the file).</typeparam>
internal interface ISnapshotSenderHost<TContent>
{
    /// <summary>Opens the latest durable snapshot for <paramref name="transfer"/>.</summary>
    void Open(SnapshotSender<TContent>.Transfer transfer);

    /// <summary>Reads <paramref name="chunk"/>'s bytes from <paramref name="content"/>, the open snapshot of <paramref name="transfer"/>.</summary>
    void ReadChunk(SnapshotSender<TContent>.Transfer transfer, TContent content, SnapshotChunk chunk);

    /// <summary>Lets go of an open snapshot; no read of it is in flight.</summary>
    void Close(TContent content);

    /// <summary>Sends a chunk to the follower (now: a chunk depends on nothing the log has yet to make durable).</summary>
    void Send(string follower, InstallSnapshot chunk);
}

/// <summary>
/// A leader's snapshot transfers (§7, Figure 13), one per follower that needs entries the log no
/// longer holds: the latest durable snapshot goes out in <see cref="InstallSnapshot"/> chunks,
/// read one at a time, a window of them ahead of the follower's acknowledgements
/// (<see cref="SnapshotSendWindow"/> decides which chunk is next). It does no I/O itself: it asks
/// its host to open the snapshot, read a chunk and send it, and takes the completions as inputs.
/// RaftNode hosts it with the storage's files, the simulator with its virtual disk; both call it
/// from one thread.
/// </summary>
/// <typeparam name="TContent">The host's handle on an open snapshot.</typeparam>
internal sealed class SnapshotSender<TContent>(ISnapshotSenderHost<TContent> host, int chunkSize, int chunksInFlight)
{
    // Enumerated in insertion order, so a tick visits the transfers the same way in every replay.
    private readonly Dictionary<string, Transfer> _transfers = new(StringComparer.Ordinal);

    /// <summary>Starts sending the latest snapshot to <paramref name="peer"/>, unless a transfer to it is under way.</summary>
    public void Start(string peer, long term, string leaderId)
    {
        if (_transfers.ContainsKey(peer))
            return;
        var transfer = new Transfer(peer, term, leaderId);
        _transfers[peer] = transfer;
        host.Open(transfer);
    }

    /// <summary>The snapshot of <paramref name="transfer"/> is open: <paramref name="length"/> bytes of content through <paramref name="snapshot"/>.</summary>
    public void Opened(Transfer transfer, LogPosition snapshot, ClusterConfiguration? configuration, long length, TContent content)
    {
        if (!IsCurrent(transfer))
        {
            host.Close(content);
            return;
        }

        transfer.Snapshot = snapshot;
        transfer.Configuration = configuration;
        transfer.Content = content;
        transfer.Window = new SnapshotSendWindow(length, chunkSize, chunksInFlight);
        Pump(transfer);
    }

    /// <summary>A chunk of <paramref name="transfer"/> was read: it goes out if it is still the one due.</summary>
    public void ChunkRead(Transfer transfer, SnapshotChunk chunk, byte[] data)
    {
        transfer.Reading = false;
        if (!IsCurrent(transfer))
        {
            host.Close(transfer.Content!); // ended while this chunk was read
            return;
        }

        // A chunk read before the window went back is no longer the one due.
        if (chunk.Offset == transfer.Window!.Sent)
        {
            host.Send(transfer.Peer, new InstallSnapshot(
                transfer.Term, transfer.LeaderId, transfer.Snapshot.Index, transfer.Snapshot.Term, chunk.Offset, data, chunk.Done, transfer.Configuration));
            transfer.Window.ChunkSent(chunk);
        }

        Pump(transfer);
    }

    /// <summary>Opening or reading the snapshot failed: the transfer ends, and the returned peer's transfer is to be reported failed (null when it had ended already).</summary>
    public string? Failed(Transfer transfer)
    {
        transfer.Reading = false;
        if (!IsCurrent(transfer))
        {
            if (transfer.Content is { } content)
                host.Close(content);
            return null;
        }

        End(transfer);
        return transfer.Peer;
    }

    /// <summary>
    /// A follower's answer: an acknowledgement moves the window on; a done answer ends the
    /// transfer. The host calls this before the protocol steps the answer: the protocol, learning
    /// that the follower still lags behind a newer snapshot, asks for the next transfer, which a
    /// transfer still under way would swallow (the follower would wait for the rest of the term).
    /// </summary>
    public void Answered(InstallSnapshotResult result)
    {
        if (!_transfers.TryGetValue(result.FollowerId, out var transfer) || transfer.Window is null ||
            result.Term != transfer.Term || result.Snapshot != transfer.Snapshot)
            return;
        if (result.Done)
        {
            End(transfer);
            return;
        }

        transfer.Window.Acknowledge(result.NextOffset);
        Pump(transfer);
    }

    /// <summary>The follower answered an AppendEntries of this term: it is up (<see cref="SnapshotSendWindow.FollowerHeard"/>).</summary>
    public void FollowerHeard(string peer, long term)
    {
        if (_transfers.TryGetValue(peer, out var transfer) && transfer.Term == term)
            transfer.Window?.FollowerHeard();
    }

    /// <summary>A heartbeat interval passed: chunks unacknowledged for too long are sent again.</summary>
    public void Tick()
    {
        foreach (var transfer in _transfers.Values)
        {
            if (transfer.Window?.Tick() == true)
                Pump(transfer);
        }
    }

    /// <summary>Ends every transfer: the node is no longer the leader of their term.</summary>
    public void StopAll()
    {
        foreach (var transfer in _transfers.Values.ToList())
            End(transfer);
    }

    private bool IsCurrent(Transfer transfer) => _transfers.GetValueOrDefault(transfer.Peer) == transfer;

    private void End(Transfer transfer)
    {
        _transfers.Remove(transfer.Peer);
        if (!transfer.Reading && transfer.Content is { } content)
            host.Close(content); // else once the read in flight reports back
    }

    private void Pump(Transfer transfer)
    {
        if (transfer.Reading || transfer.Window?.NextChunk() is not { } chunk)
            return;
        transfer.Reading = true;
        host.ReadChunk(transfer, transfer.Content!, chunk);
    }

    /// <summary>One snapshot going to one follower in one term.</summary>
    internal sealed class Transfer(string peer, long term, string leaderId)
    {
        public string Peer { get; } = peer;

        public long Term { get; } = term;

        public string LeaderId { get; } = leaderId;

        public LogPosition Snapshot { get; set; }

        /// <summary>The configuration the snapshot holds, which every chunk carries.</summary>
        public ClusterConfiguration? Configuration { get; set; }

        public TContent? Content { get; set; }

        public SnapshotSendWindow? Window { get; set; }

        /// <summary>A chunk read is in flight (reads of one transfer go one at a time, the content being shared).</summary>
        public bool Reading { get; set; }
    }
}
