using RaftActors.Core;
using RaftActors.Core.Hosting;
using RaftActors.Messages;

namespace RaftActors.Tests.Core.Hosting;

/// <summary>
/// The snapshot sender and receiver as their hosts see them: the I/O they ask for, and what each
/// completion makes them do. RaftNode and the simulator host these classes; here a host that
/// records the requests completes them when the test says.
/// </summary>
public class SnapshotTransferHostingTests
{
    private static readonly LogPosition Snapshot = new(50, 2);

    [Fact]
    public void TheSender_ReadsOneChunkAtATime_AndSendsAWindowAheadOfTheAcknowledgements()
    {
        var (host, sender, transfer) = OpenTransfer(chunksInFlight: 2, length: 25);
        Assert.Equal([0L], host.Reads.Select(r => r.Offset));

        sender.ChunkRead(transfer, host.Reads[0], new byte[10]);
        Assert.Equal([0L, 10L], host.Reads.Select(r => r.Offset)); // the next read starts once the one before reports back
        sender.ChunkRead(transfer, host.Reads[1], new byte[10]);
        Assert.Equal([0L, 10L], host.Sent.Select(c => c.Offset));
        Assert.Equal(2, host.Reads.Count); // the window is full

        sender.Answered(new InstallSnapshotResult(3, "n2", Snapshot.Index, Snapshot.Term, NextOffset: 10, Done: false));
        Assert.Equal(new SnapshotChunk(20, 5, Done: true), host.Reads[^1]);
    }

    [Fact]
    public void TheSender_DropsAChunkReadBeforeTheWindowWentBack_AndReadsTheOneDue()
    {
        var (host, sender, transfer) = OpenTransfer(chunksInFlight: 2, length: 40);
        sender.ChunkRead(transfer, host.Reads[0], new byte[10]);
        sender.Answered(new InstallSnapshotResult(3, "n2", Snapshot.Index, Snapshot.Term, NextOffset: 10, Done: false));
        sender.ChunkRead(transfer, host.Reads[1], new byte[10]);

        // The follower restarted: it holds nothing, while the chunk at 20 is being read.
        sender.Answered(new InstallSnapshotResult(3, "n2", Snapshot.Index, Snapshot.Term, NextOffset: 0, Done: false));
        sender.ChunkRead(transfer, host.Reads[2], new byte[10]);

        Assert.Equal([0L, 10L], host.Sent.Select(c => c.Offset));
        Assert.Equal([0L, 10L, 20L, 0L], host.Reads.Select(r => r.Offset));
    }

    [Fact]
    public void TheSender_ClosesTheSnapshotOnlyOnceTheReadInFlightReportsBack()
    {
        var (host, sender, transfer) = OpenTransfer(chunksInFlight: 1, length: 40);

        sender.StopAll();
        Assert.Empty(host.Closed);
        sender.ChunkRead(transfer, host.Reads[0], new byte[10]);

        Assert.Equal(["content"], host.Closed);
        Assert.Empty(host.Sent);
    }

    [Fact]
    public void TheReceiver_AcknowledgesAChunkOnlyOnceItIsDurable_AndHandsOverTheSnapshotAfterTheLast()
    {
        var (host, receiver) = NewReceiver();

        receiver.Accept(Chunk(0, done: false));
        receiver.Accept(Chunk(10, done: true));
        Assert.Equal([0L, 10L], host.Writes.Select(w => w.Chunk.Offset));
        Assert.Empty(host.Answers);

        Assert.Null(host.Finish(receiver, write: 0));
        Assert.Equal(10, Assert.Single(host.Answers).NextOffset);

        var received = host.Finish(receiver, write: 1);
        Assert.Equal(new ReceivedSnapshot<string>(host.Writes[1].Chunk, "sink 1"), received);
        Assert.Empty(host.Discarded); // the caller owns it now
    }

    [Fact]
    public void TheReceiver_AnswersADuplicateWithWhatIsDurable_WritingNothing()
    {
        var (host, receiver) = NewReceiver();
        receiver.Accept(Chunk(0, done: false));
        receiver.Accept(Chunk(10, done: false));
        host.Finish(receiver, write: 0);

        receiver.Accept(Chunk(0, done: false));

        Assert.Equal(2, host.Writes.Count);
        Assert.Equal(10, host.Answers[^1].NextOffset);
    }

    [Fact]
    public void TheReceiver_DropsTheTransferWhenAWriteFails()
    {
        var (host, receiver) = NewReceiver();
        receiver.Accept(Chunk(0, done: false));

        Assert.Null(host.Finish(receiver, write: 0, failed: true));

        Assert.Equal(["sink 1"], host.Discarded);
        receiver.Accept(Chunk(10, done: false)); // the leader goes on: this node holds nothing of it
        Assert.Equal(0, host.Answers[^1].NextOffset);
    }

    /// <summary>A sender of 10-byte chunks whose transfer to n2 has its snapshot open.</summary>
    private static (SenderHost Host, SnapshotSender<string> Sender, SnapshotSender<string>.Transfer Transfer) OpenTransfer(int chunksInFlight, long length)
    {
        var host = new SenderHost();
        var sender = new SnapshotSender<string>(host, chunkSize: 10, chunksInFlight);
        sender.Start("n2", term: 3, leaderId: "n1");
        var transfer = Assert.Single(host.Opens);
        sender.Opened(transfer, Snapshot, configuration: null, length, content: "content");
        return (host, sender, transfer);
    }

    private static (ReceiverHost Host, SnapshotReceiver<string> Receiver) NewReceiver()
    {
        var host = new ReceiverHost();
        return (host, new SnapshotReceiver<string>("n2", host));
    }

    private static InstallSnapshot Chunk(long offset, bool done) =>
        new(3, "n1", Snapshot.Index, Snapshot.Term, offset, new byte[10], done);

    private sealed class SenderHost : ISnapshotSenderHost<string>
    {
        public List<SnapshotSender<string>.Transfer> Opens { get; } = new();

        public List<SnapshotChunk> Reads { get; } = new();

        public List<string> Closed { get; } = new();

        public List<InstallSnapshot> Sent { get; } = new();

        public void Open(SnapshotSender<string>.Transfer transfer) => Opens.Add(transfer);

        public void ReadChunk(SnapshotSender<string>.Transfer transfer, string content, SnapshotChunk chunk) => Reads.Add(chunk);

        public void Close(string content) => Closed.Add(content);

        public void Send(string follower, InstallSnapshot chunk) => Sent.Add(chunk);
    }

    private sealed class ReceiverHost : ISnapshotReceiverHost<string>
    {
        private int _created;

        public List<(SnapshotReceiver<string>.Transfer Transfer, InstallSnapshot Chunk)> Writes { get; } = new();

        public List<string> Discarded { get; } = new();

        public List<InstallSnapshotResult> Answers { get; } = new();

        /// <summary>The <paramref name="write"/>th write requested finishes: durable, or <paramref name="failed"/>.</summary>
        public ReceivedSnapshot<string>? Finish(SnapshotReceiver<string> receiver, int write, bool failed = false) =>
            receiver.Written(Writes[write].Transfer, Writes[write].Chunk, failed);

        public string Create(InstallSnapshot first) => $"sink {++_created}";

        public void WriteChunk(SnapshotReceiver<string>.Transfer transfer, InstallSnapshot chunk) => Writes.Add((transfer, chunk));

        public void Discard(string sink) => Discarded.Add(sink);

        public void Send(string leader, InstallSnapshotResult answer) => Answers.Add(answer);
    }
}
