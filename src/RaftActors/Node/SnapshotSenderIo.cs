using Akka.Actor;
using RaftActors.Core;
using RaftActors.Core.Hosting;
using RaftActors.Messages;
using RaftActors.Storage;

namespace RaftActors.Node;

/// <summary>
/// The file I/O of a leader's <see cref="SnapshotSender{TContent}"/>: the storage's latest snapshot
/// is opened and its chunks read off the node actor's thread, and each completion reports back to
/// the actor as a message, which hands it to the sender.
/// </summary>
internal sealed class SnapshotSenderIo(IRaftStorage storage, IActorRef self, Action<string, IRaftProtocolMessage> send) : ISnapshotSenderHost<Stream>
{
    public void Open(SnapshotSender<Stream>.Transfer transfer) =>
        Task.Run(storage.OpenSnapshot).ContinueWith(
            opened => self.Tell(opened.IsCompletedSuccessfully
                ? new SnapshotOpened(transfer, opened.Result.Position, opened.Result.Configuration, opened.Result.Content)
                : new SnapshotTransferError(transfer, opened.Exception!.GetBaseException())),
            TaskContinuationOptions.ExecuteSynchronously);

    public void ReadChunk(SnapshotSender<Stream>.Transfer transfer, Stream content, SnapshotChunk chunk) =>
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

    public void Close(Stream content) => content.Dispose();

    public void Send(string follower, InstallSnapshot chunk) => send(follower, chunk);
}

/// <summary>The latest snapshot is open for a transfer.</summary>
internal sealed record SnapshotOpened(SnapshotSender<Stream>.Transfer Transfer, LogPosition Snapshot, ClusterConfiguration? Configuration, Stream Content);

/// <summary>A chunk of a transfer was read.</summary>
internal sealed record SnapshotChunkRead(SnapshotSender<Stream>.Transfer Transfer, SnapshotChunk Chunk, byte[] Data);

/// <summary>Opening or reading the snapshot of a transfer failed.</summary>
internal sealed record SnapshotTransferError(SnapshotSender<Stream>.Transfer Transfer, Exception Error);
