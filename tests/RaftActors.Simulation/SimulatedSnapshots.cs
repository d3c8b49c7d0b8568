using RaftActors.Configuration;
using RaftActors.Core;
using RaftActors.Messages;
using RaftActors.Storage;

namespace RaftActors.Simulation;

/// <summary>
/// A simulated leader's snapshot transfers: RaftNode's <c>SnapshotSender</c> step for step, with
/// the disk's I/O as events in virtual time instead of tasks. One transfer per follower that needs
/// entries the log no longer holds; it opens the disk's latest durable snapshot (none yet: the
/// transfer fails and the protocol hears so), then sends <see cref="InstallSnapshot"/> chunks as
/// the Core's <see cref="SnapshotSendWindow"/> says, a window ahead of the acknowledgements, going
/// back when they stop coming. Chunk reads are at once (the content is in memory); the open is not.
/// </summary>
internal sealed class SimulatedSnapshotSender(SimulatedNode node, SnapshotSettings settings, Action<string, IRaftProtocolMessage> send)
{
    // Enumerated in insertion order (not by hash), so ticks visit transfers the same way in every replay.
    private readonly Dictionary<string, Transfer> _transfers = new(StringComparer.Ordinal);

    /// <summary>Starts sending the latest durable snapshot to <paramref name="peer"/>, unless a transfer to it is under way.</summary>
    public void Start(string peer, long term, string leaderId)
    {
        if (_transfers.ContainsKey(peer))
            return;
        var transfer = new Transfer(peer, term, leaderId);
        _transfers[peer] = transfer;

        // Opened off the node's thread at once; the node hears of it later.
        LogPosition position = default;
        ClusterConfiguration? configuration = null;
        byte[]? content = null;
        try
        {
            var opened = node.Disk.Storage.OpenSnapshot();
            using (opened.Content)
            {
                position = opened.Position;
                configuration = opened.Configuration;
                content = new byte[opened.Content.Length];
                opened.Content.ReadExactly(content);
            }
        }
        catch (RaftStorageException)
        {
            // No snapshot is durable yet (the one the protocol compacted for is still being saved).
        }

        node.AfterIo(node.IoLatency(), $"snapshot for {peer} opened", () => Opened(transfer, position, configuration, content));
    }

    /// <summary>
    /// A follower's answer: an acknowledgement moves the window on; a done answer ends the
    /// transfer (the protocol learns of it through its own step, after this).
    /// </summary>
    public void Answered(InstallSnapshotResult result)
    {
        if (!_transfers.TryGetValue(result.FollowerId, out var transfer) || transfer.Window is null ||
            result.Term != transfer.Term || result.Snapshot != transfer.Snapshot)
            return;
        if (result.Done)
        {
            _transfers.Remove(transfer.Peer);
            return;
        }

        transfer.Window.Acknowledge(result.NextOffset);
        Pump(transfer);
    }

    /// <summary>The follower answered an AppendEntries: it is up (<see cref="SnapshotSendWindow.FollowerHeard"/>).</summary>
    public void FollowerHeard(string peer)
    {
        if (_transfers.TryGetValue(peer, out var transfer))
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
    public void StopAll() => _transfers.Clear();

    private void Opened(Transfer transfer, LogPosition snapshot, ClusterConfiguration? configuration, byte[]? content)
    {
        if (_transfers.GetValueOrDefault(transfer.Peer) != transfer)
            return;
        if (content is null)
        {
            _transfers.Remove(transfer.Peer);
            node.SnapshotTransferFailed(transfer.Peer);
            return;
        }

        transfer.Snapshot = snapshot;
        transfer.Configuration = configuration;
        transfer.Content = content;
        transfer.Window = new SnapshotSendWindow(content.Length, settings.ChunkSize, settings.ChunksInFlight);
        Pump(transfer);
    }

    private void Pump(Transfer transfer)
    {
        while (transfer.Window!.NextChunk() is { } chunk)
        {
            var data = transfer.Content.AsSpan((int)chunk.Offset, chunk.Length).ToArray();
            send(transfer.Peer, new InstallSnapshot(
                transfer.Term, transfer.LeaderId, transfer.Snapshot.Index, transfer.Snapshot.Term, chunk.Offset, data, chunk.Done, transfer.Configuration));
            transfer.Window.ChunkSent(chunk);
        }
    }

    private sealed class Transfer(string peer, long term, string leaderId)
    {
        public string Peer { get; } = peer;

        public long Term { get; } = term;

        public string LeaderId { get; } = leaderId;

        public LogPosition Snapshot { get; set; }

        /// <summary>The configuration the snapshot holds, which every chunk carries.</summary>
        public ClusterConfiguration? Configuration { get; set; }

        public byte[] Content { get; set; } = [];

        public SnapshotSendWindow? Window { get; set; }
    }
}

/// <summary>
/// A simulated follower's side of a snapshot transfer: RaftNode's <c>SnapshotReceiver</c> step for
/// step. <see cref="SnapshotTransferRules"/> decides each chunk; accepted chunks go into a new
/// snapshot of the disk (<see cref="IRaftStorage.CreateSnapshot"/>), written one after the other,
/// each durable after a disk latency (an event) and then acknowledged; once the last is durable the
/// node hands the staged snapshot to the protocol. A crash loses the transfer.
/// </summary>
internal sealed class SimulatedSnapshotReceiver(SimulatedNode node, Action<string, IRaftProtocolMessage> send)
{
    private Transfer? _current;

    public void Accept(InstallSnapshot chunk)
    {
        switch (SnapshotTransferRules.Decide(_current?.First, _current?.Accepted ?? 0, chunk))
        {
            case ChunkDecision.Start:
                Abort();
                _current = new Transfer(chunk, node.CreateSnapshot(chunk.Snapshot, chunk.Configuration));
                Write(_current, chunk);
                break;
            case ChunkDecision.Append when !_current!.LastAccepted:
                Write(_current, chunk);
                break;
            default:
                var holds = _current is not null && SnapshotTransferRules.SameTransfer(_current.First, chunk) ? _current.Durable : 0;
                send(chunk.LeaderId, new InstallSnapshotResult(chunk.Term, node.Id, chunk.LastIncludedIndex, chunk.LastIncludedTerm, holds, Done: false));
                break;
        }
    }

    /// <summary>Drops the transfer under way, if any, and its snapshot.</summary>
    public void Abort()
    {
        if (_current is not { } transfer)
            return;
        _current = null;
        node.DiscardSnapshot(transfer.Sink);
    }

    private void Write(Transfer transfer, InstallSnapshot chunk)
    {
        transfer.Accepted += chunk.Data.Length;
        transfer.LastAccepted = chunk.Done;
        transfer.Sink.WriteAsync(chunk.Data).GetAwaiter().GetResult();

        // The writes of a transfer are durable in order: each after the one before it.
        transfer.DurableAt = Math.Max(node.Now, transfer.DurableAt) + node.IoLatency();
        node.AtIo(transfer.DurableAt, $"snapshot chunk at {chunk.Offset} durable", () => Written(transfer, chunk));
    }

    private void Written(Transfer transfer, InstallSnapshot chunk)
    {
        if (transfer != _current)
            return;
        transfer.Durable = chunk.Offset + chunk.Data.Length;
        if (!chunk.Done)
        {
            send(chunk.LeaderId, new InstallSnapshotResult(chunk.Term, node.Id, chunk.LastIncludedIndex, chunk.LastIncludedTerm, transfer.Durable, Done: false));
            return;
        }

        // Complete: durable and staged (as the real receiver's last write ends), for the protocol to decide on.
        transfer.Sink.CompleteAsync().GetAwaiter().GetResult();
        _current = null;
        node.SnapshotReceived(chunk, transfer.Sink);
    }

    private sealed class Transfer(InstallSnapshot first, SnapshotSink sink)
    {
        /// <summary>The chunk that started the transfer: it names the leader, the term and the snapshot.</summary>
        public InstallSnapshot First { get; } = first;

        public SnapshotSink Sink { get; } = sink;

        /// <summary>Bytes taken for writing.</summary>
        public long Accepted { get; set; }

        /// <summary>Bytes durable.</summary>
        public long Durable { get; set; }

        /// <summary>The last chunk was taken: nothing more is written.</summary>
        public bool LastAccepted { get; set; }

        /// <summary>When the last write taken is durable, in virtual time.</summary>
        public long DurableAt { get; set; }
    }
}
