using RaftActors.Messages;

namespace RaftActors.Core.Hosting;

/// <summary>
/// The I/O a <see cref="SnapshotReceiver{TSink}"/> asks of its host. A write's completion comes
/// back, on the host's thread, as a call to <see cref="SnapshotReceiver{TSink}.Written"/>.
/// </summary>
/// <typeparam name="TSink">The host's handle on a snapshot being written (a temporary file).</typeparam>
internal interface ISnapshotReceiverHost<TSink>
{
    /// <summary>A new snapshot for the transfer that <paramref name="first"/> starts (its position and configuration).</summary>
    TSink Create(InstallSnapshot first);

    /// <summary>
    /// Appends <paramref name="chunk"/> to the snapshot of <paramref name="transfer"/> after the
    /// writes requested before it, and makes it durable; for the last chunk, completes the snapshot
    /// (durable and staged for saving). A failed write fails every later one of the transfer.
    /// </summary>
    void WriteChunk(SnapshotReceiver<TSink>.Transfer transfer, InstallSnapshot chunk);

    /// <summary>Discards a snapshot that will not be saved, once the writes requested for it are done.</summary>
    void Discard(TSink sink);

    /// <summary>Answers the leader (now: an answer depends on nothing the log has yet to make durable).</summary>
    void Send(string leader, InstallSnapshotResult answer);
}

/// <summary>
/// A follower's side of a snapshot transfer (§7, Figure 13 rules 2-5): the chunks from the leader
/// go into a new snapshot (written, never held in memory), one after the other; each is
/// acknowledged once durable, with how many bytes the follower holds. <see cref="SnapshotTransferRules"/>
/// decides what to do with a chunk. Once the last chunk is durable the snapshot is staged and
/// handed to the host, whose protocol decides whether to install it. It does no I/O itself: it
/// asks its host to create, write and discard the snapshot and takes the writes' completions as
/// inputs. RaftNode hosts it with the storage's files, the simulator with its virtual disk; both
/// call it from one thread.
/// </summary>
/// <typeparam name="TSink">The host's handle on a snapshot being written.</typeparam>
internal sealed class SnapshotReceiver<TSink>(string nodeId, ISnapshotReceiverHost<TSink> host)
{
    private Transfer? _current;

    /// <summary>The rule that decides each chunk; a test seam, through which the simulator proves it catches a faulty one.</summary>
    internal Func<InstallSnapshot?, long, InstallSnapshot, ChunkDecision> Decide { get; init; } = SnapshotTransferRules.Decide;

    /// <summary>A chunk from the leader.</summary>
    public void Accept(InstallSnapshot chunk)
    {
        switch (Decide(_current?.First, _current?.Accepted ?? 0, chunk))
        {
            case ChunkDecision.Start:
                Abort();
                _current = new Transfer(chunk, host.Create(chunk));
                Write(_current, chunk);
                break;
            case ChunkDecision.Append when !_current!.LastAccepted:
                Write(_current, chunk);
                break;
            default:
                var holds = _current is not null && SnapshotTransferRules.SameTransfer(_current.First, chunk) ? _current.Durable : 0;
                host.Send(chunk.LeaderId, Answer(chunk, holds));
                break;
        }
    }

    /// <summary>
    /// A chunk's write finished, durable or (<paramref name="failed"/>) not. A durable chunk is
    /// acknowledged; when it was the last, the transfer is over and its snapshot, staged, is
    /// returned with that chunk for the protocol to decide on (the caller owns the snapshot now).
    /// A failed write drops the transfer: the leader hears nothing, goes back, and starts over.
    /// </summary>
    public ReceivedSnapshot<TSink>? Written(Transfer transfer, InstallSnapshot chunk, bool failed)
    {
        if (transfer != _current)
            return null;
        if (failed)
        {
            Abort();
            return null;
        }

        transfer.Durable = chunk.Offset + chunk.Data.Length;
        if (chunk.Done)
        {
            _current = null;
            return new ReceivedSnapshot<TSink>(chunk, transfer.Sink);
        }

        host.Send(chunk.LeaderId, Answer(chunk, transfer.Durable));
        return null;
    }

    /// <summary>Drops the transfer under way, if any, and its snapshot.</summary>
    public void Abort()
    {
        if (_current is not { } transfer)
            return;
        _current = null;
        host.Discard(transfer.Sink);
    }

    private InstallSnapshotResult Answer(InstallSnapshot chunk, long holds) =>
        new(chunk.Term, nodeId, chunk.LastIncludedIndex, chunk.LastIncludedTerm, holds, Done: false);

    private void Write(Transfer transfer, InstallSnapshot chunk)
    {
        transfer.Accepted += chunk.Data.Length;
        transfer.LastAccepted = chunk.Done;
        host.WriteChunk(transfer, chunk);
    }

    /// <summary>One snapshot from one leader in one term, being written.</summary>
    internal sealed class Transfer(InstallSnapshot first, TSink sink)
    {
        /// <summary>The chunk that started the transfer: it names the leader, the term and the snapshot.</summary>
        public InstallSnapshot First { get; } = first;

        public TSink Sink { get; } = sink;

        /// <summary>Bytes taken for writing.</summary>
        public long Accepted { get; set; }

        /// <summary>Bytes durable.</summary>
        public long Durable { get; set; }

        /// <summary>The last chunk was taken: nothing more is written.</summary>
        public bool LastAccepted { get; set; }
    }
}

/// <summary>A leader's snapshot, durable and staged: its last chunk (for the protocol) and the host's handle on it.</summary>
internal readonly record struct ReceivedSnapshot<TSink>(InstallSnapshot LastChunk, TSink Sink);
