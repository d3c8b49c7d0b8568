using Akka.Actor;
using RaftActors.Core.Hosting;
using RaftActors.Messages;
using RaftActors.Storage;

namespace RaftActors.Node;

/// <summary>
/// The file I/O of a follower's <see cref="SnapshotReceiver{TSink}"/>: a leader's snapshot goes into
/// a new snapshot of the storage (a temporary file), its chunks written and fsynced one after the
/// other off the node actor's thread; each write's completion reports back to the actor as a
/// message, which hands it to the receiver.
/// </summary>
internal sealed class SnapshotReceiverIo(IRaftStorage storage, IActorRef self, Action<string, IRaftProtocolMessage> send) : ISnapshotReceiverHost<IncomingSnapshot>
{
    public IncomingSnapshot Create(InstallSnapshot first) => new(storage.CreateSnapshot(first.Snapshot, first.Configuration));

    public void WriteChunk(SnapshotReceiver<IncomingSnapshot>.Transfer transfer, InstallSnapshot chunk)
    {
        var incoming = transfer.Sink;
        var sink = incoming.Sink;
        incoming.Tail = incoming.Tail
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
        incoming.Tail.ContinueWith(
            done => self.Tell(new SnapshotChunkWritten(transfer, chunk, done.IsCompletedSuccessfully ? null : done.Exception?.GetBaseException())),
            TaskContinuationOptions.ExecuteSynchronously);
    }

    public void Discard(IncomingSnapshot incoming) => incoming.Tail.ContinueWith(_ => incoming.Sink.Dispose(), TaskScheduler.Default);

    public void Send(string leader, InstallSnapshotResult answer) => send(leader, answer);
}

/// <summary>A leader's snapshot being written into the storage.</summary>
internal sealed class IncomingSnapshot(SnapshotSink sink)
{
    public SnapshotSink Sink { get; } = sink;

    /// <summary>When the first chunk was taken (<see cref="System.Diagnostics.Stopwatch.GetTimestamp"/>): an installed snapshot's duration starts here.</summary>
    public long StartedAt { get; } = System.Diagnostics.Stopwatch.GetTimestamp();

    /// <summary>The last write requested: the next goes after it.</summary>
    public Task Tail { get; set; } = Task.CompletedTask;
}

/// <summary>A chunk's write finished (durable, or failed with <see cref="Error"/>).</summary>
internal sealed record SnapshotChunkWritten(SnapshotReceiver<IncomingSnapshot>.Transfer Transfer, InstallSnapshot Chunk, Exception? Error);
