using Akka.Actor;
using RaftActors.Core;
using RaftActors.Messages;

namespace RaftActors.Tests.Serialization;

/// <summary>A user command, bound to Akka's default (JSON) serializer: a payload of a client message.</summary>
public sealed record TestCommand(string Key, int Value);

/// <summary>Every message the protocol serializer handles, with edge values, and the byte forms they take.</summary>
public static class SerializationTestData
{
    public static byte[] Bytes(int count, int seed)
    {
        var bytes = new byte[count];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    public static List<LogEntry> Entries(int count, long firstIndex = 1, long term = 3) =>
        Enumerable.Range(0, count)
            .Select(i => new LogEntry(firstIndex + i, term, i % 3 == 0 ? null : new EntryCommand(9572, "", Bytes(i % 50, i), i % 2 == 0 ? null : $"c{i}", i)))
            .ToList();

    /// <summary>(name, message): every type, its optional fields null and not, extreme numbers, non-ASCII strings.</summary>
    public static TheoryData<string, object> Messages() => new()
    {
        { "RequestVote", new RequestVote(7, "n1", 12, 6) },
        { "RequestVote at zero", new RequestVote(0, "n1", 0, 0) },
        { "RequestVote extremes", new RequestVote(long.MaxValue, "kandidát-节点-🙂", long.MaxValue, long.MaxValue) },
        { "RequestVote negative", new RequestVote(-1, "", long.MinValue, -5) },
        { "RequestVoteResult granted", new RequestVoteResult(long.MaxValue, "nœud-2", VoteGranted: true) },
        { "RequestVoteResult refused", new RequestVoteResult(1, "n2", VoteGranted: false) },
        { "RequestVote pre-vote", new RequestVote(8, "n1", 12, 6, PreVote: true) },
        { "RequestVoteResult pre-vote granted", new RequestVoteResult(8, "n2", VoteGranted: true, PreVote: true) },
        { "RequestVoteResult pre-vote refused", new RequestVoteResult(7, "n3", VoteGranted: false, PreVote: true) },
        { "AppendEntries heartbeat", new AppendEntries(9, "n3", 4, 8, new List<LogEntry>(), LeaderCommit: 5, Sequence: 3) },
        { "AppendEntries heartbeat from an empty log", new AppendEntries(1, "n1", 0, 0, new List<LogEntry>(), 0) },
        {
            "AppendEntries at the largest indexes",
            new AppendEntries(
                long.MaxValue,
                "лидер",
                long.MaxValue - 2,
                long.MaxValue,
                new List<LogEntry>
                {
                    new(long.MaxValue - 1, long.MaxValue, Command: null),
                    new(long.MaxValue, long.MaxValue, new EntryCommand(int.MinValue, "Ключ.Ädd-🙂", [0, 1, 254, 255], "клиент-🙂", long.MaxValue)),
                },
                LeaderCommit: long.MaxValue,
                Sequence: long.MaxValue)
        },
        {
            "AppendEntries with stamped entries and a session policy",
            new AppendEntries(3, "n1", 0, 0, [
                new LogEntry(1, 3, null) { Timestamp = 1_767_225_600_000, SessionPolicy = new SessionPolicy(TimeSpan.FromMinutes(10), 100_000) },
                new LogEntry(2, 3, new EntryCommand(1, "m", [1], "c", 1)) { Timestamp = 1_767_225_600_002 }], 0, 1)
        },
        { "AppendEntries with 1000 entries", new AppendEntries(3, "n1", 0, 0, Entries(1000), 500, 77) },
        { "AppendEntries with a 1 MiB command", new AppendEntries(3, "n1", 9, 3, [new LogEntry(10, 3, new EntryCommand(1, "Blob", Bytes(1 << 20, 7), "c", 1))], 9, 1) },
        { "AppendEntriesResult success", new AppendEntriesResult(9, "n2", Success: true, MatchIndex: long.MaxValue, Sequence: 5) },
        { "AppendEntriesResult refusal with a hint", new AppendEntriesResult(9, "n2", Success: false, MatchIndex: 0, ConflictIndex: 3, ConflictTerm: 2, Sequence: 4) },
        { "AppendEntriesResult negative numbers", new AppendEntriesResult(-9, "ü", false, -1, long.MinValue, -3, -4) },
        { "InstallSnapshot first chunk", new InstallSnapshot(4, "n1", 1200, 3, 0, Bytes(1000, 11), Done: false) },
        { "InstallSnapshot last chunk", new InstallSnapshot(4, "n1", 1200, 3, 65536, Bytes(17, 12), Done: true) },
        { "InstallSnapshot of an empty snapshot", new InstallSnapshot(1, "n2", 1, 1, 0, [], Done: true) },
        { "InstallSnapshot with a 64 KiB chunk", new InstallSnapshot(9, "узел", long.MaxValue, long.MaxValue, long.MaxValue - 65536, Bytes(65536, 13), true) },
        { "InstallSnapshotResult acknowledging a chunk", new InstallSnapshotResult(4, "n2", 1200, 3, 65536, Done: false) },
        { "InstallSnapshotResult done", new InstallSnapshotResult(long.MaxValue, "nœud-2", long.MaxValue, long.MaxValue, long.MaxValue, Done: true) },
        { "InstallSnapshotResult starting over", new InstallSnapshotResult(4, "n2", 1200, 3, 0, Done: false) },
        { "ReadIndexRequest", new ReadIndexRequest(7, "n3", 1) },
        { "ReadIndexRequest extremes", new ReadIndexRequest(long.MaxValue, "узел-3", long.MaxValue) },
        { "ReadIndexResult", new ReadIndexResult(7, "n1", 1, 1234) },
        { "ReadIndexResult extremes", new ReadIndexResult(long.MaxValue, "nœud-1", long.MinValue, long.MaxValue) },
        { "ClientCommand with a session", new ClientCommand(new TestCommand("ключ", 42), "client-🙂", long.MaxValue) },
        { "ClientCommand without a session", new ClientCommand("put x 1") },
        { "ClientCommand with an empty client id", new ClientCommand(new TestCommand("", 0), "", 0) },
        { "ClientQuery", new ClientQuery(new TestCommand("get", -1)) },
        { "ClientQuery of a string", new ClientQuery("get x") },
        { "CommandApplied with a result", new CommandApplied(long.MaxValue, new TestCommand("r", 1)) },
        { "CommandApplied with a null result", new CommandApplied(1, null) },
        { "CommandApplied with a string result", new CommandApplied(2, "ok ✓") },
        { "CommandFailed", new CommandFailed(3, "division by zero — деление") },
        { "CommandFailed with an empty reason", new CommandFailed(0, "") },
        { "QueryResult", new QueryResult(new TestCommand("x", 3)) },
        { "QueryResult null", new QueryResult(null) },
        { "NotLeader knowing the leader", new NotLeader("n2", ActorPath.Parse("akka.tcp://raft@127.0.0.1:4052/user/raft")) },
        { "NotLeader knowing the leader's id only", new NotLeader("n2", null) },
        { "NotLeader knowing nothing", new NotLeader(null, null) },
        { "NotLeader with a non-ASCII path", new NotLeader("узел", ActorPath.Parse("akka.tcp://raft@10.0.0.1:4052/user/r%C3%A4ft")) },
        { "RequestRejected", new RequestRejected("too many requests") },
        { "RequestRejected non-ASCII", new RequestRejected("переполнено 🙂") },
        { "CommandOutcomeUnknown", new CommandOutcomeUnknown("leadership lost before the command was committed") },
        { "SessionExpired", new SessionExpired(42, "client session c is unknown; command 7 was not applied") },
        { "TooManySessions", new TooManySessions(43, "the cluster holds 3 client sessions, none idle for 15000 ms; client session d was not opened") },
        { "ExportSnapshot", new ExportSnapshot("/var/backups/raft-é.snap") },
        { "SnapshotExported", new SnapshotExported("/var/backups/raft.snap", new LogPosition(1234, 7), 1L << 33) },
    };
}
