using Akka.Actor;
using RaftActors.Core;
using RaftActors.Messages;
using RaftActors.Storage;

namespace RaftActors.Node;

/// <summary>
/// A follower's side of a snapshot transfer (§7, Figure 13 rules 2-5): the chunks from the leader
/// go into a new snapshot in the storage (a temporary file, never memory), written and fsynced one
/// after the other off the actor's thread; each is acknowledged once durable, with how many bytes
/// the follower holds. <see cref="SnapshotTransferRules"/> decides what to do with a chunk. Once the
/// last chunk is durable the snapshot is staged and handed to the node, whose protocol decides
/// whether to install it. The node's actor calls every method on its own thread; writes report back
/// to it as messages.
/// </summary>
internal sealed class SnapshotReceiver(IRaftStorage storage, IActorRef self, Action<string, IRaftProtocolMessage> send)
{
    private Transfer? _current;

    public void Accept(InstallSnapshot chunk, string nodeId)
    {
        switch (SnapshotTransferRules.Decide(_current?.First, _current?.Accepted ?? 0, chunk))
        {
            case ChunkDecision.Start:
                Abort();
                _current = new Transfer(chunk, storage.CreateSnapshot(chunk.Snapshot, chunk.Configuration));
                Write(_current, chunk);
                break;
            case ChunkDecision.Append when !_current!.LastAccepted:
                Write(_current, chunk);
                break;
            default:
                var holds = _current is not null && SnapshotTransferRules.SameTransfer(_current.First, chunk) ? _current.Durable : 0;
                send(chunk.LeaderId, new InstallSnapshotResult(chunk.Term, nodeId, chunk.LastIncludedIndex, chunk.LastIncludedTerm, holds, Done: false));
                break;
        }
    }

    /// <summary>
    /// A chunk is durable: acknowledge it; when it was the last, the snapshot is staged and its last
    /// chunk is returned for the protocol to decide on (then <see cref="TakeCompleted"/>).
    /// </summary>
    public InstallSnapshot? Written(SnapshotChunkWritten written, string nodeId)
    {
        var transfer = written.Transfer;
        if (transfer != _current)
            return null;
        if (written.Error is not null)
        {
            // The leader hears nothing, goes back, and, as this node holds no transfer any more, starts over.
            Abort();
            return null;
        }

        var chunk = written.Chunk;
        transfer.Durable = chunk.Offset + chunk.Data.Length;
        if (chunk.Done)
            return chunk;
        send(chunk.LeaderId, new InstallSnapshotResult(chunk.Term, nodeId, chunk.LastIncludedIndex, chunk.LastIncludedTerm, transfer.Durable, Done: false));
        return null;
    }

    /// <summary>The staged snapshot of the transfer that just completed; the caller owns it now.</summary>
    public SnapshotSink TakeCompleted()
    {
        var sink = _current!.Sink;
        _current = null;
        return sink;
    }

    /// <summary>Drops the transfer under way, if any (its snapshot is discarded once its writes are done).</summary>
    public void Abort()
    {
        if (_current is not { } transfer)
            return;
        _current = null;
        transfer.Tail.ContinueWith(_ => transfer.Sink.Dispose(), TaskScheduler.Default);
    }

    private void Write(Transfer transfer, InstallSnapshot chunk)
    {
        transfer.Accepted += chunk.Data.Length;
        transfer.LastAccepted = chunk.Done;
        var sink = transfer.Sink;
        transfer.Tail = transfer.Tail
            .ContinueWith(
                async previous =>
                {
                    await previous; // a failed write fails every one after it
                    await sink.WriteAsync(chunk.Data);
                    await sink.FlushAsync();
                    if (chunk.Done)
                        await sink.CompleteAsync();
                },
                TaskScheduler.Default)
            .Unwrap();
        transfer.Tail.ContinueWith(
            done => self.Tell(new SnapshotChunkWritten(transfer, chunk, done.IsCompletedSuccessfully ? null : done.Exception?.GetBaseException())),
            TaskContinuationOptions.ExecuteSynchronously);
    }

    internal sealed class Transfer(InstallSnapshot first, SnapshotSink sink)
    {
        /// <summary>The chunk that started the transfer: it names the leader, the term and the snapshot.</summary>
        public InstallSnapshot First { get; } = first;

        public SnapshotSink Sink { get; } = sink;

        /// <summary>When the first chunk was taken (<see cref="System.Diagnostics.Stopwatch.GetTimestamp"/>): an installed snapshot's duration starts here.</summary>
        public long StartedAt { get; } = System.Diagnostics.Stopwatch.GetTimestamp();

        /// <summary>Bytes taken for writing.</summary>
        public long Accepted { get; set; }

        /// <summary>Bytes durable.</summary>
        public long Durable { get; set; }

        /// <summary>The last chunk was taken: nothing more is written.</summary>
        public bool LastAccepted { get; set; }

        public Task Tail { get; set; } = Task.CompletedTask;
    }
}

/// <summary>A chunk's write finished (durable, or failed with <see cref="Error"/>).</summary>
internal sealed record SnapshotChunkWritten(SnapshotReceiver.Transfer Transfer, InstallSnapshot Chunk, Exception? Error);
