using RaftActors.Core;
using RaftActors.Messages;

namespace RaftActors.Tests.Core;

/// <summary>
/// The chunked transfer's decisions (Figure 13 rules 2-5, and the leader's window): offset-based,
/// so lost, duplicated and reordered chunks never corrupt a snapshot, and a transfer that stalls or
/// that the follower lost starts again from where the follower stands.
/// </summary>
public class SnapshotTransferTests
{
    private static InstallSnapshot Chunk(long offset, long term = 3, string leader = "n1", long index = 50, long snapshotTerm = 2) =>
        new(term, leader, index, snapshotTerm, offset, new byte[10], Done: false);

    public static TheoryData<string, InstallSnapshot?, long, InstallSnapshot, string> Decisions() => new()
    {
        { "the first chunk, nothing under way", null, 0, Chunk(0), nameof(ChunkDecision.Start) },
        { "a later chunk, nothing under way (this node restarted)", null, 0, Chunk(10), nameof(ChunkDecision.Report) },
        { "the next chunk", Chunk(0), 20, Chunk(20), nameof(ChunkDecision.Append) },
        { "a duplicate", Chunk(0), 20, Chunk(10), nameof(ChunkDecision.Report) },
        { "a chunk after a gap", Chunk(0), 20, Chunk(30), nameof(ChunkDecision.Report) },
        { "the first chunk again (the leader went back to 0)", Chunk(0), 20, Chunk(0), nameof(ChunkDecision.Report) },
        { "a new term's leader starts over", Chunk(0), 20, Chunk(0, term: 4), nameof(ChunkDecision.Start) },
        { "a newer snapshot starts over", Chunk(0), 20, Chunk(0, index: 60), nameof(ChunkDecision.Start) },
        { "a new term's later chunk", Chunk(0), 20, Chunk(20, term: 4), nameof(ChunkDecision.Report) },
        { "another leader's chunk", Chunk(0), 20, Chunk(20, leader: "n2"), nameof(ChunkDecision.Report) },
    };

    [Theory]
    [MemberData(nameof(Decisions))]
    public void TheFollowerWritesAChunkOnlyWhereItsSnapshotEnds(string name, InstallSnapshot? receiving, long accepted, InstallSnapshot chunk, string expected)
    {
        Assert.True(Enum.Parse<ChunkDecision>(expected) == SnapshotTransferRules.Decide(receiving, accepted, chunk), name);
    }

    [Fact]
    public void TheLeaderSendsAWindowOfChunks_ThenOneMorePerAcknowledgedChunk()
    {
        var window = new SnapshotSendWindow(length: 250, chunkSize: 100, chunksInFlight: 2);

        Assert.Equal(new SnapshotChunk(0, 100, false), Send(window));
        Assert.Equal(new SnapshotChunk(100, 100, false), Send(window));
        Assert.Null(window.NextChunk()); // two out: the window is full

        window.Acknowledge(100);
        Assert.Equal(new SnapshotChunk(200, 50, true), Send(window));
        Assert.Null(window.NextChunk()); // the last chunk is out

        window.Acknowledge(200);
        Assert.Null(window.NextChunk());
    }

    [Fact]
    public void AnEmptySnapshot_IsOneEmptyLastChunk()
    {
        var window = new SnapshotSendWindow(length: 0, chunkSize: 100, chunksInFlight: 4);

        Assert.Equal(new SnapshotChunk(0, 0, true), Send(window));
        Assert.Null(window.NextChunk());
    }

    [Fact]
    public void AFollowerThatReportsLess_LostTheTransfer_AndGetsItAgainFromThere()
    {
        var window = new SnapshotSendWindow(length: 1000, chunkSize: 100, chunksInFlight: 3);
        Send(window);
        Send(window);
        Send(window);
        window.Acknowledge(300);
        Send(window);

        window.Acknowledge(0); // it restarted: it holds nothing of it

        Assert.Equal(0, window.Acknowledged);
        Assert.Equal(new SnapshotChunk(0, 100, false), Send(window));
    }

    [Fact]
    public void Silence_SendsAgainFromTheLastAcknowledgedChunk_OneAtATime_WaitingLongerEachTime()
    {
        var window = new SnapshotSendWindow(length: 1000, chunkSize: 100, chunksInFlight: 3);
        Send(window);
        Send(window);
        Send(window);
        window.Acknowledge(100);
        Send(window);

        var ticks = TicksUntilDue(window);
        Assert.Equal(SnapshotSendWindow.StallTicks, ticks);
        Assert.Equal(new SnapshotChunk(100, 100, false), Send(window));
        Assert.Null(window.NextChunk()); // probing: one chunk until an acknowledgement comes

        Assert.Equal(2 * SnapshotSendWindow.StallTicks, TicksUntilDue(window)); // still nothing: twice as long
        Send(window);

        window.Acknowledge(200); // acknowledgements flow again: the whole window opens
        Assert.Equal([200L, 300, 400], new[] { Send(window), Send(window), Send(window) }.Select(c => c.Offset));
        Assert.Null(window.NextChunk());
    }

    [Fact]
    public void AFollowerHeardFrom_IsNotMadeToWaitLonger_ItsChunksAreSentAgainAtTheFirstPatience()
    {
        var window = new SnapshotSendWindow(length: 1000, chunkSize: 100, chunksInFlight: 3);
        Send(window);
        for (var attempt = 0; attempt < 4; attempt++)
        {
            window.FollowerHeard(); // it answers heartbeats; its chunk acknowledgements are lost
            Assert.Equal(SnapshotSendWindow.StallTicks, TicksUntilDue(window));
            Assert.Equal(0, Send(window).Offset);
        }

        // Heard from no more: the waits grow again.
        Assert.Equal(2 * SnapshotSendWindow.StallTicks, TicksUntilDue(window));
    }

    [Fact]
    public void NothingOut_NothingToResend()
    {
        var window = new SnapshotSendWindow(length: 1000, chunkSize: 100, chunksInFlight: 3);

        for (var i = 0; i < 100; i++)
            Assert.False(window.Tick());
    }

    [Fact]
    public void AnAcknowledgementPastTheEnd_IsClampedToTheLength()
    {
        var window = new SnapshotSendWindow(length: 150, chunkSize: 100, chunksInFlight: 1);
        Send(window);

        window.Acknowledge(long.MaxValue);

        Assert.Equal(150, window.Acknowledged);
    }

    private static SnapshotChunk Send(SnapshotSendWindow window)
    {
        var chunk = window.NextChunk() ?? throw new Xunit.Sdk.XunitException("no chunk due");
        window.ChunkSent(chunk);
        return chunk;
    }

    private static int TicksUntilDue(SnapshotSendWindow window)
    {
        for (var ticks = 1; ticks <= 1000; ticks++)
        {
            if (window.Tick())
                return ticks;
        }

        throw new Xunit.Sdk.XunitException("never due");
    }
}
