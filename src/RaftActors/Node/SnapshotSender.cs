using Akka.Actor;
using RaftActors.Configuration;
using RaftActors.Core;
using RaftActors.Messages;
using RaftActors.Storage;

namespace RaftActors.Node;

/// <summary>
/// A leader's snapshot transfers (§7, Figure 13), one per follower that needs entries the log no
/// longer holds: the storage's latest snapshot goes out in <see cref="InstallSnapshot"/> chunks,
/// read off the actor's thread one at a time, a window of them ahead of the follower's
/// acknowledgements (<see cref="SnapshotSendWindow"/> decides which chunk is next). The node's
/// actor calls every method on its own thread; reads report back to it as messages.
/// </summary>
internal sealed class SnapshotSender(IRaftStorage storage, SnapshotSettings settings, IActorRef self, Action<string, IRaftProtocolMessage> send)
{
    private readonly Dictionary<string, Transfer> _transfers = new(StringComparer.Ordinal);

    /// <summary>Starts sending the latest snapshot to <paramref name="peer"/>, unless a transfer to it is under way.</summary>
    public void Start(string peer, long term, string leaderId)
    {
        if (_transfers.ContainsKey(peer))
            return;
        var transfer = new Transfer(peer, term, leaderId);
        _transfers[peer] = transfer;
        Task.Run(storage.OpenSnapshot).ContinueWith(
            opened => self.Tell(opened.IsCompletedSuccessfully
                ? new SnapshotOpened(transfer, opened.Result.Position, opened.Result.Configuration, opened.Result.Content)
                : new SnapshotTransferError(transfer, opened.Exception!.GetBaseException())),
            TaskContinuationOptions.ExecuteSynchronously);
    }

    public void Opened(SnapshotOpened opened)
    {
        if (!IsCurrent(opened.Transfer))
        {
            opened.Content.Dispose();
            return;
        }

        var transfer = opened.Transfer;
        transfer.Snapshot = opened.Snapshot;
        transfer.Configuration = opened.Configuration;
        transfer.Content = opened.Content;
        transfer.Window = new SnapshotSendWindow(opened.Content.Length, settings.ChunkSize, settings.ChunksInFlight);
        Pump(transfer);
    }

    public void ChunkRead(SnapshotChunkRead read)
    {
        var transfer = read.Transfer;
        transfer.Reading = false;
        if (!IsCurrent(transfer))
        {
            transfer.Content!.Dispose(); // ended while this chunk was read
            return;
        }


        // A chunk read before the window went back is no longer the one due.
        if (read.Chunk.Offset == transfer.Window!.Sent)
        {
            send(transfer.Peer, new InstallSnapshot(
                transfer.Term, transfer.LeaderId, transfer.Snapshot.Index, transfer.Snapshot.Term, read.Chunk.Offset, read.Data, read.Chunk.Done,
                transfer.Configuration));
            transfer.Window.ChunkSent(read.Chunk);
        }

        Pump(transfer);
    }

    /// <summary>
    /// A follower's answer: an acknowledgement moves the window on; a done answer ends the
    /// transfer (the protocol learns of it through its own step).
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

    /// <summary>A read failed: the transfer ends, and the returned peer's transfer is to be reported failed (null when the transfer had ended already).</summary>
    public string? Failed(SnapshotTransferError error)
    {
        var transfer = error.Transfer;
        transfer.Reading = false;
        if (!IsCurrent(transfer))
        {
            transfer.Content?.Dispose();
            return null;
        }

        End(transfer);
        return transfer.Peer;
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
        if (!transfer.Reading)
            transfer.Content?.Dispose(); // else once the read in flight reports back
    }

    private void Pump(Transfer transfer)
    {
        if (transfer.Reading || transfer.Window?.NextChunk() is not { } chunk)
            return;
        transfer.Reading = true;
        var content = transfer.Content!;
        Task.Run(async () =>
            {
                var data = new byte[chunk.Length];
                content.Position = chunk.Offset;
                await content.ReadExactlyAsync(data);
                return data;
            })
            .ContinueWith(
                read => self.Tell(read.IsCompletedSuccessfully
                    ? new SnapshotChunkRead(transfer, chunk, read.Result)
                    : new SnapshotTransferError(transfer, read.Exception!.GetBaseException())),
                TaskContinuationOptions.ExecuteSynchronously);
    }

    internal sealed class Transfer(string peer, long term, string leaderId)
    {
        public string Peer { get; } = peer;

        public long Term { get; } = term;

        public string LeaderId { get; } = leaderId;

        public LogPosition Snapshot { get; set; }

        /// <summary>The configuration the snapshot holds, which every chunk carries.</summary>
        public ClusterConfiguration? Configuration { get; set; }

        public Stream? Content { get; set; }

        public SnapshotSendWindow? Window { get; set; }

        /// <summary>A chunk read is in flight (reads of one transfer go one at a time, the stream being shared).</summary>
        public bool Reading { get; set; }
    }
}

/// <summary>The latest snapshot is open for a transfer.</summary>
internal sealed record SnapshotOpened(SnapshotSender.Transfer Transfer, LogPosition Snapshot, ClusterConfiguration? Configuration, Stream Content);

/// <summary>A chunk of a transfer was read.</summary>
internal sealed record SnapshotChunkRead(SnapshotSender.Transfer Transfer, SnapshotChunk Chunk, byte[] Data);

/// <summary>Opening or reading the snapshot of a transfer failed.</summary>
internal sealed record SnapshotTransferError(SnapshotSender.Transfer Transfer, Exception Error);
