using System.Text;
using Akka.Actor;
using Akka.TestKit;
using RaftActors.Configuration;
using RaftActors.Core;
using RaftActors.Messages;
using RaftActors.Node;
using RaftActors.Serialization;
using RaftActors.StateMachine;
using RaftActors.Storage;
using RaftActors.Tests.Storage;

namespace RaftActors.Tests.Node;

/// <summary>
/// A RaftNode over a <see cref="FileRaftStorage"/> with snapshots (§7), its peers TestProbes, in
/// virtual time: a leader snapshots and compacts as it applies and streams its snapshot in bounded
/// chunks to a follower that needs it; a follower writes a leader's chunks and installs the
/// snapshot; a crash at every step of that install leaves a node that restarts consistent, with
/// its client sessions, applying no entry twice.
/// </summary>
public sealed class SnapshotNodeTests : ReplicationNodeTestKit, IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly List<FileRaftStorage> _stores = [];

    private static RaftSettings WithSnapshots(long entriesThreshold, int trailingEntries = 0, int chunkSize = 100, int chunksInFlight = 3) =>
        Settings() with { Snapshots = new SnapshotSettings(entriesThreshold, 0, trailingEntries, chunkSize, chunksInFlight) };

    private FileRaftStorage OpenStorage()
    {
        var storage = FileRaftStorage.Open(_dir.Path, new FileRaftStorageOptions { SegmentSize = 512 });
        _stores.Add(storage);
        return storage;
    }

    void IDisposable.Dispose()
    {
        Shutdown();
        foreach (var store in _stores)
            store.Dispose();
        _dir.Dispose();
    }

    [Fact]
    public void ALeaderSnapshotsAsItApplies_AndSendsTheSnapshotInBoundedChunks_ToAFollowerThatNeedsIt()
    {
        var storage = OpenStorage();
        var stateMachine = new SnapshotListStateMachine();
        var (node, peers, _) = StartLeaderOn(storage, stateMachine, WithSnapshots(entriesThreshold: 4, chunkSize: 100, chunksInFlight: 3));
        var client = CreateTestProbe();

        // n2 acknowledges everything; n3 is silent. Twelve commands: snapshots every four entries.
        for (var i = 0; i < 12; i++)
        {
            node.Tell(Command($"item-{i}-{new string('x', 20)}"), client.Ref);
            AcknowledgeAll(node, peers["n2"]);
            client.ExpectMsg<CommandApplied>(Bound);
        }

        AwaitCondition(() => Settle(node).SnapshotIndex >= 9, Bound);
        // Compacted: the log starts after entry 1, or is empty when the snapshot covers all of it.
        AwaitCondition(() => storage.Snapshot.Index >= 9 && storage.Entries is not [{ Index: 1 }, ..], Bound);
        var (snapshot, content) = storage.OpenSnapshot();
        byte[] expected;
        using (content)
            expected = ReadAll(content);
        Assert.True(expected.Length > 300, $"the snapshot is {expected.Length} bytes: too small to need several chunks");

        // n3 lacks everything: the leader sends the latest snapshot, at most three chunks of 100 bytes ahead.
        peers["n3"].ReceiveWhile<object>(_ => true, TimeSpan.FromMilliseconds(200));
        node.Tell(new AppendEntriesResult(1, "n3", Success: false, ConflictIndex: 1, Sequence: 1));
        var received = new MemoryStream();
        var chunks = peers["n3"].ReceiveN(3, Bound).OfType<InstallSnapshot>().ToList();
        Assert.Equal(3, chunks.Count);
        peers["n3"].ExpectNoMsg(TimeSpan.FromMilliseconds(100)); // the window is full
        while (true)
        {
            var chunk = chunks[0];
            chunks.RemoveAt(0);
            Assert.Equal((snapshot.Index, snapshot.Term), (chunk.LastIncludedIndex, chunk.LastIncludedTerm));
            Assert.Equal(received.Length, chunk.Offset);
            Assert.InRange(chunk.Data.Length, 0, 100);
            received.Write(chunk.Data);
            if (chunk.Done)
                break;
            node.Tell(new InstallSnapshotResult(1, "n3", chunk.LastIncludedIndex, chunk.LastIncludedTerm, received.Length, Done: false));
            chunks.AddRange(peers["n3"].ReceiveWhile(TimeSpan.FromMilliseconds(300), m => (m as InstallSnapshot)!));
        }

        Assert.Empty(chunks);
        Assert.Equal(expected, received.ToArray());

        // Installed: entries flow again from right after the snapshot.
        node.Tell(new InstallSnapshotResult(1, "n3", snapshot.Index, snapshot.Term, received.Length, Done: true));
        var append = peers["n3"].FishForMessage<AppendEntries>(a => a.Entries.Count > 0, Bound);
        Assert.Equal(snapshot.Index, append.PrevLogIndex);
    }

    /// <summary>
    /// A follower installs a snapshot that the leader's log has since compacted past: its done
    /// answer both ends that transfer and calls for the next, of the newer snapshot. (The next
    /// transfer once never started, the first not yet ended when the protocol asked for it, and
    /// the follower got heartbeats for the rest of the term.)
    /// </summary>
    [Fact]
    public void AFollowerThatInstalledAnOutdatedSnapshot_IsSentTheNewerOne()
    {
        var storage = OpenStorage();
        var stateMachine = new SnapshotListStateMachine();
        var (node, peers, _) = StartLeaderOn(storage, stateMachine, WithSnapshots(entriesThreshold: 4, chunkSize: 10_000));
        var client = CreateTestProbe();
        void Commit(int count, int from)
        {
            for (var i = from; i < from + count; i++)
            {
                node.Tell(Command($"item-{i}"), client.Ref);
                AcknowledgeAll(node, peers["n2"]);
                client.ExpectMsg<CommandApplied>(Bound);
            }
        }

        Commit(4, from: 0);
        AwaitCondition(() => storage.Snapshot.Index >= 4, Bound);
        peers["n3"].ReceiveWhile<object>(_ => true, TimeSpan.FromMilliseconds(200));
        node.Tell(new AppendEntriesResult(1, "n3", Success: false, ConflictIndex: 1, Sequence: 1));
        var outdated = peers["n3"].FishForMessage<InstallSnapshot>(c => c.Done, Bound);

        // Before n3 answers, the leader snapshots again and drops the entries after the first snapshot.
        Commit(8, from: 4);
        AwaitCondition(() => storage.Snapshot.Index > outdated.LastIncludedIndex + 1 && storage.Entries[0].Index > outdated.LastIncludedIndex + 1, Bound);
        peers["n3"].ReceiveWhile<object>(_ => true, TimeSpan.FromMilliseconds(200));

        node.Tell(new InstallSnapshotResult(1, "n3", outdated.LastIncludedIndex, outdated.LastIncludedTerm, outdated.Data.Length, Done: true));
        var newer = peers["n3"].FishForMessage<InstallSnapshot>(c => c.LastIncludedIndex > outdated.LastIncludedIndex, Bound);
        Assert.Equal(0, newer.Offset);
    }

    /// <summary>
    /// A follower that answers the leader's heartbeats but whose chunk acknowledgements are lost
    /// gets the unacknowledged chunk again every few heartbeats (the window's first patience), not
    /// after waits that double each time: it is up, so what it has not acknowledged was lost.
    /// </summary>
    [Fact]
    public void AFollowerThatAnswersHeartbeats_HasItsUnacknowledgedChunkResentWithoutGrowingWaits()
    {
        var storage = OpenStorage();
        var stateMachine = new SnapshotListStateMachine();
        var (node, peers, _) = StartLeaderOn(storage, stateMachine, WithSnapshots(entriesThreshold: 4, chunkSize: 100, chunksInFlight: 1));
        var client = CreateTestProbe();
        for (var i = 0; i < 8; i++)
        {
            node.Tell(Command($"item-{i}-{new string('x', 20)}"), client.Ref);
            AcknowledgeAll(node, peers["n2"]);
            client.ExpectMsg<CommandApplied>(Bound);
        }

        AwaitCondition(() => storage.Snapshot.Index >= 4 && storage.Entries[0].Index > 1, Bound);
        var n3 = peers["n3"];
        n3.ReceiveWhile<object>(_ => true, TimeSpan.FromMilliseconds(200));
        node.Tell(new AppendEntriesResult(1, "n3", Success: false, ConflictIndex: 1, Sequence: 1));
        Assert.Equal(0, n3.FishForMessage<InstallSnapshot>(_ => true, Bound).Offset); // and its acknowledgement is lost

        // n3 answers every heartbeat; count the heartbeats until the first chunk comes again, four times.
        var waits = new List<int>();
        var heartbeats = 0;
        while (waits.Count < 4 && heartbeats < 100)
        {
            Advance(node, Heartbeat);
            heartbeats++;
            var messages = n3.ReceiveWhile<object>(_ => true, TimeSpan.FromMilliseconds(150));
            foreach (var heartbeat in messages.OfType<AppendEntries>())
                node.Tell(new AppendEntriesResult(1, "n3", Success: false, ConflictIndex: 1, Sequence: heartbeat.Sequence));
            if (messages.OfType<InstallSnapshot>().Any(c => c.Offset == 0))
            {
                waits.Add(heartbeats);
                heartbeats = 0;
            }
        }

        // Every StallTicks heartbeats (one more if a chunk read off the node's thread came in late);
        // without FollowerHeard the waits double: 3, 6, 12, 24.
        Assert.Equal(4, waits.Count);
        Assert.All(waits, wait => Assert.InRange(wait, 1, SnapshotSendWindow.StallTicks + 1));
    }

    public static TheoryData<string> InstallSteps() => new() { "snapshot.staged", "snapshot.renamed", "snapshot.saved", "wal.write", "none" };

    /// <summary>
    /// A follower holding three uncommitted entries gets the leader's snapshot through entry 5 in
    /// three chunks (and a duplicate): each is acknowledged once durable, and the last makes it install the snapshot
    /// (its log lacks entry 5: the log is discarded). A crash at each step of saving it: the
    /// restarted node has the old log and no snapshot, or the snapshot, its state and its client
    /// sessions — a retried command the snapshot answered is not applied again.
    /// </summary>
    [Theory]
    [MemberData(nameof(InstallSteps))]
    public void ACrashAtAnyStepOfInstallingASnapshot_LeavesANodeThatRestartsConsistent(string crashAt)
    {
        var storage = OpenStorage();
        var stateMachine = new SnapshotListStateMachine();
        var (node, peers) = StartNode(storage, WithSnapshots(entriesThreshold: 1000), stateMachineFactory: () => stateMachine);
        var leader = peers["n2"];

        // Three entries of leader n2 (term 1), not committed.
        node.Tell(new AppendEntries(1, "n2", 0, 0, [Entry(1, "x"), Entry(2, "y"), Entry(3, "z")], LeaderCommit: 0, Sequence: 1));
        Assert.True(leader.ExpectMsg<AppendEntriesResult>(Bound).Success);

        // The leader's snapshot through entry 5: items a, b, c, and the result of client c's command 1.
        var content = SnapshotBytes(["a", "b", "c"], ("client-c", 1, new CommandApplied(4, "c#3")));
        var (first, second) = (content.Length / 3, 2 * content.Length / 3);
        node.Tell(new InstallSnapshot(1, "n2", 5, 1, 0, content[..first], Done: false));
        Assert.Equal(first, leader.ExpectMsg<InstallSnapshotResult>(Bound).NextOffset);
        node.Tell(new InstallSnapshot(1, "n2", 5, 1, first, content[first..second], Done: false));
        Assert.Equal(second, leader.ExpectMsg<InstallSnapshotResult>(Bound).NextOffset);
        node.Tell(new InstallSnapshot(1, "n2", 5, 1, first, content[first..second], Done: false)); // a duplicate: reported, not written
        Assert.Equal(second, leader.ExpectMsg<InstallSnapshotResult>(Bound).NextOffset);

        var crashed = false;
        storage.Step = step =>
        {
            if (step == crashAt)
            {
                crashed = true;
                throw new IOException($"crash at {step}");
            }
        };
        Watch(node);
        node.Tell(new InstallSnapshot(1, "n2", 5, 1, second, content[second..], Done: true));
        if (crashAt == "none")
        {
            Assert.True(leader.ExpectMsg<InstallSnapshotResult>(Bound).Done);
            AwaitCondition(() => Settle(node).LastApplied == 5, Bound);
            Assert.Equal(["a", "b", "c"], stateMachine.Items);
        }
        else
        {
            AwaitCondition(() => Settle(node).StorageFailure is not null, Bound); // it takes part in nothing more
        }

        Sys.Stop(node);
        ExpectTerminated(node, Bound);
        Assert.Equal(crashAt != "none", crashed);

        // Restart on what is on disk.
        storage.Dispose();
        var reopened = OpenStorage();
        var restarted = new SnapshotListStateMachine();
        var installed = reopened.Snapshot != LogPosition.Empty;
        Assert.Equal(crashAt is not "snapshot.staged", installed);
        var (again, peersAgain) = StartNode(reopened, WithSnapshots(entriesThreshold: 1000), name: "n1-again", stateMachineFactory: () => restarted);
        if (!installed)
        {
            Assert.Equal([1L, 2, 3], reopened.Entries.Select(e => e.Index));
            Assert.Equal(0, Settle(again).LastApplied);
            Assert.Empty(restarted.Items);
            return;
        }

        Assert.Equal(new LogPosition(5, 1), reopened.Snapshot);
        Assert.Empty(reopened.Entries);
        AwaitCondition(() => Settle(again).LastApplied == 5, Bound);
        Assert.Equal((5L, 1L), (Settle(again).SnapshotIndex, Settle(again).SnapshotTerm));
        Assert.Equal(["a", "b", "c"], restarted.Items);

        // It leads; client c retries command 1: the snapshot's sessions answer it, nothing is applied.
        TimeOutElection(again);
        again.Tell(new RequestVoteResult(2, "n2", true));
        AwaitCondition(() => Settle(again).Role == RaftRole.Leader, Bound);
        AcknowledgeAll(again, peersAgain["n2"]); // the no-op
        var client = CreateTestProbe();
        again.Tell(Command("c-retried", "client-c", 1), client.Ref);
        AcknowledgeAll(again, peersAgain["n2"]);
        Assert.Equal(new CommandApplied(4, "c#3"), client.ExpectMsg<CommandApplied>(Bound));
        Assert.Equal(["a", "b", "c"], restarted.Items);
    }

    public static TheoryData<string> TakeSteps() => new() { "snapshot.staged", "snapshot.renamed", "snapshot.saved", "compact.memory", "compact.segments-deleted" };

    /// <summary>
    /// A leader snapshotting every four entries crashes at a step of saving a snapshot and
    /// compacting its log. Restarted, it restores whatever snapshot is on disk and, leading again,
    /// applies the log after it: every acknowledged command exactly once, in order.
    /// </summary>
    [Theory]
    [MemberData(nameof(TakeSteps))]
    public void ACrashAtAnyStepOfTakingASnapshot_LeavesANodeThatAppliesNothingTwice(string crashAt)
    {
        var storage = OpenStorage();
        var (node, peers, _) = StartLeaderOn(storage, new SnapshotListStateMachine(), WithSnapshots(entriesThreshold: 4));
        var crashed = false;
        storage.Step = step =>
        {
            if (step == crashAt && !crashed)
            {
                crashed = true;
                throw new IOException($"crash at {step}");
            }
        };
        Watch(node);
        var client = CreateTestProbe();
        var acknowledged = new List<string>();
        for (var i = 0; i < 60 && !crashed; i++)
        {
            node.Tell(Command($"item-{i}-{new string('x', 20)}"), client.Ref);
            try
            {
                AcknowledgeAll(node, peers["n2"]);
            }
            catch (Xunit.Sdk.XunitException) when (crashed)
            {
                break; // its storage failed before it sent the command on
            }

            // A command handed to the applier when the storage failed gets no answer: its outcome is unknown.
            var reply = client.ReceiveOne(Bound);
            Assert.True(reply is IClientReply || crashed, $"no answer to command {i}, and no crash");
            if (reply is CommandApplied)
                acknowledged.Add($"item-{i}-{new string('x', 20)}");
        }

        Assert.True(crashed, $"the step {crashAt} never came");
        AwaitCondition(() => Settle(node).StorageFailure is not null, Bound);
        Sys.Stop(node);
        ExpectTerminated(node, Bound);
        storage.Dispose();

        var reopened = OpenStorage();
        var restarted = new SnapshotListStateMachine();
        var (again, peersAgain) = StartNode(reopened, WithSnapshots(entriesThreshold: 4), name: "n1-again", stateMachineFactory: () => restarted);
        AwaitCondition(() => Settle(again).LastApplied == reopened.Snapshot.Index, Bound);
        Assert.Equal(restarted.Items, acknowledged.Take(restarted.Items.Count)); // the snapshot's state: a prefix of what was applied

        TimeOutElection(again);
        again.Tell(new RequestVoteResult(2, "n2", true));
        AcknowledgeAll(again, peersAgain["n2"]); // the new term's no-op commits the log
        AwaitCondition(() => Settle(again).LastApplied == Settle(again).LastLogIndex, Bound);
        Assert.Equal(restarted.Items.Distinct(), restarted.Items);
        Assert.Equal(acknowledged, restarted.Items.Take(acknowledged.Count));
    }

    /// <summary>
    /// A snapshot of the state machine that cannot be written (the disk is full) loses nothing: the
    /// node logs the error and goes on, the log is not compacted, no partial file stays, and a
    /// snapshot is taken again once as many entries are applied again.
    /// </summary>
    [Theory]
    [InlineData("write")]
    [InlineData("fsync")]
    public void ASnapshotThatCannotBeWritten_LeavesTheLogWhole_AndIsTakenAgainLater(string operation)
    {
        var storage = OpenStorage();
        var (node, peers, _) = StartLeaderOn(storage, new SnapshotListStateMachine(), WithSnapshots(entriesThreshold: 4));
        storage.Fault = DiskFaults.FailFrom(operation == "write" ? DiskOperation.Write : DiskOperation.Fsync, "snapshot-");
        var client = CreateTestProbe();
        void Commit(int from, int count)
        {
            for (var i = from; i < from + count; i++)
            {
                node.Tell(Command($"item-{i}"), client.Ref);
                AcknowledgeAll(node, peers["n2"]);
                client.ExpectMsg<CommandApplied>(Bound);
            }
        }

        EventFilter.Error(contains: "Writing a snapshot through entry").Expect(2, Bound, () => Commit(0, 8));

        SettleWithApplier(node);
        Assert.Null(Settle(node).StorageFailure);
        Assert.Equal(LogPosition.Empty, storage.Snapshot);
        Assert.Equal(1, storage.Entries[0].Index);
        Assert.Empty(Directory.GetFiles(_dir.Path, "snapshot-*"));

        storage.Fault = null;
        Commit(8, 4);
        // Compacted: the log starts after entry 1, or is empty when the snapshot covers all of it.
        AwaitCondition(() => storage.Snapshot.Index >= 9 && storage.Entries is not [{ Index: 1 }, ..], Bound);
        Assert.Equal(13, Settle(node).LastApplied);
    }

    /// <summary>
    /// A snapshot from the leader that cannot be written is not acknowledged and leaves the log as
    /// it was; the leader sends it again, and once the disk takes it, it is installed.
    /// </summary>
    [Fact]
    public void ASnapshotFromTheLeaderThatCannotBeWritten_IsNotAcknowledged_AndInstalledWhenSentAgain()
    {
        var storage = OpenStorage();
        var stateMachine = new SnapshotListStateMachine();
        var (node, peers) = StartNode(storage, WithSnapshots(entriesThreshold: 1000), stateMachineFactory: () => stateMachine);
        var leader = peers["n2"];
        node.Tell(new AppendEntries(1, "n2", 0, 0, [Entry(1, "x"), Entry(2, "y"), Entry(3, "z")], LeaderCommit: 0, Sequence: 1));
        Assert.True(leader.ExpectMsg<AppendEntriesResult>(Bound).Success);
        var content = SnapshotBytes(["a", "b", "c"]);
        storage.Fault = DiskFaults.FailFrom(DiskOperation.Write, "snapshot-");

        EventFilter.Warning(contains: "Writing a snapshot chunk from n2 failed").ExpectOne(Bound, () =>
            node.Tell(new InstallSnapshot(1, "n2", 5, 1, 0, content, Done: true)));

        Assert.False(leader.HasMessages);
        Assert.Null(Settle(node).StorageFailure);
        Assert.Equal(LogPosition.Empty, storage.Snapshot);
        Assert.Equal([1L, 2, 3], storage.Entries.Select(e => e.Index));
        AwaitCondition(() => Directory.GetFiles(_dir.Path, "snapshot-*").Length == 0, Bound);

        storage.Fault = null;
        node.Tell(new InstallSnapshot(1, "n2", 5, 1, 0, content, Done: true));
        Assert.True(leader.ExpectMsg<InstallSnapshotResult>(Bound).Done);
        AwaitCondition(() => Settle(node).LastApplied == 5, Bound);
        Assert.Equal(new LogPosition(5, 1), storage.Snapshot);
        Assert.Equal(["a", "b", "c"], stateMachine.Items);
    }

    // ---- backups (ExportSnapshot) ----

    [Fact]
    public async Task ALeaderExports_EveryCommandAcknowledgedBeforeTheRequest_OnceAMajorityConfirmedItsLeadership()
    {
        var storage = new InMemoryRaftStorage();
        var (node, peers, _) = StartLeaderOn(storage, new SnapshotListStateMachine(), Settings());
        var client = CreateTestProbe();
        node.Tell(Command("a", "c1", 1), client.Ref);
        AcknowledgeAll(node, peers["n2"]);
        Assert.Equal(new CommandApplied(2, "a#1"), client.ExpectMsg<CommandApplied>(Bound));
        node.Tell(Command("b"), client.Ref);
        AcknowledgeAll(node, peers["n2"]);
        client.ExpectMsg<CommandApplied>(Bound);
        SettleWithApplier(node);
        DrainAll(peers.Values);

        var path = _dir.File("backup.snap");
        node.Tell(new ExportSnapshot(path), client.Ref);

        // ReadIndex: nothing is written until a majority answers a round sent after the request.
        var round = peers["n2"].ExpectMsg<AppendEntries>(Bound);
        SettleWithApplier(node);
        Assert.False(client.HasMessages);
        Assert.False(File.Exists(path));
        Acknowledge(node, "n2", round);

        var exported = client.ExpectMsg<SnapshotExported>(Bound);
        Assert.Equal((path, new LogPosition(3, 1)), (exported.Path, exported.Position));
        var file = SnapshotArchive.Verify(path);
        Assert.Equal((exported.Position, exported.Size), (file.Position, file.Size));
        Assert.Equal(["n1", "n2", "n3"], file.Configuration!.Voters);
        using (var content = SnapshotFile.OpenContent(path))
        {
            // The sessions: a retry of c1's command gets its first result, without a second effect.
            var sessions = await SnapshotContent.ReadSessionsAsync(content, RaftExtension.Get(Sys).ProtocolSerializer, CancellationToken.None);
            var retry = new LogEntry(4, 1, new EntryCommand(0, "", [], "c1", 1));
            Assert.Equal(new CommandApplied(2, "a#1"), sessions.Apply(retry, (_, _) => throw new InvalidOperationException("the retry was applied again")));
            var restored = new SnapshotListStateMachine();
            await restored.RestoreAsync(content, CancellationToken.None);
            Assert.Equal(["a", "b"], restored.Items);
        }

        // A copy for the asker: the node's own store, snapshots and log, is as it was; no temporary file is left.
        Assert.Equal(LogPosition.Empty, storage.Snapshot);
        Assert.Equal(3, storage.Entries.Count);
        Assert.Equal(["backup.snap"], Directory.GetFiles(_dir.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void AFollowerAnswersAnExportWithNotLeader_AndDoesNotForwardIt()
    {
        var settings = new RaftSettings(ElectionMin, ElectionMax, Heartbeat, 1, forwardToLeader: true);
        var (node, peers) = StartNode(new InMemoryRaftStorage(), settings, stateMachineFactory: () => new SnapshotListStateMachine());
        node.Tell(new AppendEntries(1, "n2", 0, 0, [], 0));
        Assert.Equal("n2", Settle(node).LeaderId);
        var client = CreateTestProbe();

        node.Tell(new ExportSnapshot(_dir.File("backup.snap")), client.Ref);

        Assert.Equal(new NotLeader("n2", peers["n2"].Ref.Path), client.ExpectMsg<NotLeader>(Bound));
        Settle(node);
        Assert.DoesNotContain(DrainAll(peers.Values), m => m is ExportSnapshot);
        Assert.Empty(Directory.GetFiles(_dir.Path));
    }

    [Fact]
    public void AnExportFromAStateMachineThatCannotSnapshot_IsRejected()
    {
        var (node, peers, _) = StartLeaderOn(new InMemoryRaftStorage(), new ListStateMachine(), Settings());
        DrainAll(peers.Values);
        var client = CreateTestProbe();

        node.Tell(new ExportSnapshot(_dir.File("backup.snap")), client.Ref);
        Acknowledge(node, "n2", peers["n2"].ExpectMsg<AppendEntries>(Bound));

        Assert.Contains(nameof(ISnapshotStateMachine), client.ExpectMsg<RequestRejected>(Bound).Reason);
        Assert.Empty(Directory.GetFiles(_dir.Path));
    }

    /// <summary>Takes every message already sent to the probes.</summary>
    private static List<object> DrainAll(IEnumerable<TestProbe> probes)
    {
        var messages = new List<object>();
        foreach (var probe in probes)
        {
            while (probe.HasMessages)
                messages.Add(probe.ReceiveOne(TimeSpan.Zero)!);
        }

        return messages;
    }

    /// <summary>Starts n1 and makes it leader of term 1 over <paramref name="storage"/>, its no-op acknowledged by n2.</summary>
    private (TestFSMRef<RaftNode, RaftRole, RaftStatus> Node, Dictionary<string, TestProbe> Peers, AppendEntries NoOp) StartLeaderOn(
        IRaftStorage storage, IRaftStateMachine stateMachine, RaftSettings settings)
    {
        var (node, peers) = StartNode(storage, settings, stateMachineFactory: () => stateMachine);
        TimeOutElection(node);
        node.Tell(new RequestVoteResult(1, "n2", true));
        var noOp = peers["n2"].FishForMessage<AppendEntries>(_ => true, Bound);
        Acknowledge(node, "n2", noOp);
        AwaitCondition(() => Settle(node).CommitIndex == 1, Bound);
        return (node, peers, noOp);
    }

    /// <summary>n2 acknowledges every AppendEntries it has been sent.</summary>
    private void AcknowledgeAll(IActorRef node, TestProbe n2)
    {
        var append = n2.FishForMessage<AppendEntries>(a => a.Entries.Count > 0, Bound);
        Acknowledge(node, "n2", append);
    }

    private LogEntry Entry(long index, string text) => new(index, 1, EntryOf(text));

    /// <summary>A node's snapshot: the client sessions, then the list state machine's items.</summary>
    private byte[] SnapshotBytes(string[] items, params (string Client, long Sequence, IClientReply Reply)[] sessions)
    {
        var table = new ClientSessions();
        foreach (var (clientId, sequence, reply) in sessions)
            table.Remember(clientId, sequence, reply);
        var machine = new SnapshotListStateMachine();
        foreach (var item in items)
            machine.Apply(0, Encoding.UTF8.GetBytes(item));
        using var bytes = new MemoryStream();
        SnapshotContent.WriteAsync(bytes, table, RaftExtension.Get(Sys).ProtocolSerializer, machine, CancellationToken.None).GetAwaiter().GetResult();
        return bytes.ToArray();
    }

    private static byte[] ReadAll(Stream stream)
    {
        var bytes = new MemoryStream();
        stream.CopyTo(bytes);
        return bytes.ToArray();
    }
}

/// <summary>
/// A list of items (each command's UTF-8 bytes) that can be snapshotted: the result of a command
/// is "item#n", n the list's length after it, so an item applied twice shows.
/// </summary>
public sealed class SnapshotListStateMachine : ISnapshotStateMachine
{
    private readonly object _lock = new();
    private List<string> _items = new();

    public IReadOnlyList<string> Items
    {
        get
        {
            lock (_lock)
                return _items.ToArray();
        }
    }

    public object? Apply(long index, object command)
    {
        lock (_lock)
        {
            _items.Add(Encoding.UTF8.GetString((byte[])command));
            return $"{_items[^1]}#{_items.Count}";
        }
    }

    public object? Query(object query) => string.Join(",", Items);

    public async Task WriteSnapshotAsync(Stream destination, CancellationToken cancellationToken)
    {
        foreach (var item in Items)
        {
            var bytes = Encoding.UTF8.GetBytes(item + "\n");
            await destination.WriteAsync(bytes, cancellationToken);
        }
    }

    public async Task RestoreAsync(Stream source, CancellationToken cancellationToken)
    {
        using var reader = new StreamReader(source, Encoding.UTF8, leaveOpen: true);
        var text = await reader.ReadToEndAsync(cancellationToken);
        lock (_lock)
            _items = text.Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList();
    }
}
