using System.Buffers;
using System.Text;
using RaftActors.Core;
using RaftActors.Serialization;

namespace RaftActors.Tests.Storage;

/// <summary>
/// The binary codec of a log entry, shared by the write-ahead log and the network: every entry
/// round-trips exactly, the layout is pinned, and malformed bytes of any kind raise a
/// FormatException that says what is wrong, never an index or overflow exception.
/// </summary>
public class LogEntryFormatTests
{
    public static TheoryData<string, LogEntry> Entries() => new()
    {
        { "no-op", new LogEntry(1, 1, null) },
        { "a configuration", new LogEntry(7, 3, null, new ClusterConfiguration([
            new ClusterMember("n1", "akka.tcp://raft@127.0.0.1:4051/user/raft", true),
            new ClusterMember("n2", null, true),
            new ClusterMember("n4", "akka.tcp://raft@127.0.0.1:4054/user/raft", false)])) },
        { "an empty configuration", new LogEntry(2, 1, null, ClusterConfiguration.Empty) },
        { "no-op at zero", new LogEntry(0, 0, null) },
        { "no-op at the largest index and term", new LogEntry(long.MaxValue, long.MaxValue, null) },
        { "negative index and term (the codec does not judge)", new LogEntry(-1, long.MinValue, null) },
        { "command with session", new LogEntry(7, 3, new EntryCommand(42, "kv.Put", [1, 2, 3], "client-1", 17)) },
        { "empty manifest", new LogEntry(2, 1, new EntryCommand(1, "", [9], "c", 1)) },
        { "null client id", new LogEntry(3, 1, new EntryCommand(1, "m", [9], null, 0)) },
        { "null client id with a sequence", new LogEntry(3, 1, new EntryCommand(1, "m", [9], null, 99)) },
        { "empty client id", new LogEntry(3, 1, new EntryCommand(1, "m", [9], "", 5)) },
        { "empty data", new LogEntry(4, 2, new EntryCommand(5, "Empty", [], "c", 1)) },
        { "negative serializer id", new LogEntry(5, 2, new EntryCommand(-3, "m", [1], null)) },
        { "smallest serializer id", new LogEntry(5, 2, new EntryCommand(int.MinValue, "m", [1], null)) },
        { "largest serializer id", new LogEntry(5, 2, new EntryCommand(int.MaxValue, "m", [1], null)) },
        { "largest sequence", new LogEntry(6, 2, new EntryCommand(1, "m", [1], "c", long.MaxValue)) },
        { "negative sequence", new LogEntry(6, 2, new EntryCommand(1, "m", [1], "c", -1)) },
        { "unicode strings", new LogEntry(8, 4, new EntryCommand(1, "Ключ.Ädd-节点-🙂", [0xFF], "клиент-🙂", 3)) },
        { "large data", new LogEntry(9, 4, new EntryCommand(1, "Blob", Bytes(1 << 20, seed: 1), "c", 1)) },
        { "long manifest", new LogEntry(10, 4, new EntryCommand(1, new string('m', 300), [1], new string('c', 200), 1)) },
        { "stamped no-op with a session policy", new LogEntry(11, 5, null) { Timestamp = 1_767_225_600_000, SessionPolicy = new SessionPolicy(TimeSpan.FromMinutes(10), 100_000) } },
        { "stamped command", new LogEntry(12, 5, new EntryCommand(42, "kv.Put", [1, 2], "http:key", 1)) { Timestamp = 1_767_225_600_001 } },
        { "stamped configuration", new LogEntry(13, 5, null, ClusterConfiguration.OfVoters(["n1", "n2"])) { Timestamp = 0 } },
        { "largest session policy", new LogEntry(14, 5, null) { SessionPolicy = new SessionPolicy(TimeSpan.FromMilliseconds(long.MaxValue / TimeSpan.TicksPerMillisecond), int.MaxValue) } },
        { "session policy with a minimum idle age", new LogEntry(15, 5, null) { Timestamp = 7, SessionPolicy = new SessionPolicy(TimeSpan.FromMinutes(10), 200_000, TimeSpan.FromSeconds(15)) } },
        { "minimum idle age equal to the expiry", new LogEntry(16, 5, null) { SessionPolicy = new SessionPolicy(TimeSpan.FromSeconds(15), 1, TimeSpan.FromSeconds(15)) } },
    };

    [Theory]
    [MemberData(nameof(Entries))]
    public void Entry_RoundTrips_ThroughASpan(string name, LogEntry entry)
    {
        var size = LogEntryFormat.GetSize(entry);
        var buffer = new byte[size + 5];

        var written = LogEntryFormat.Write(buffer, entry);
        var read = LogEntryFormat.Read(buffer.AsSpan(0, written));

        Assert.Equal(size, written);
        Assert.True(entry == read, $"{name}: {entry} read back as {read}");
        Assert.Equal(entry.Command?.Data, read.Command?.Data);
    }

    [Theory]
    [MemberData(nameof(Entries))]
    public void Entry_RoundTrips_ThroughABufferWriter_FollowedByMore(string name, LogEntry entry)
    {
        var writer = new ArrayBufferWriter<byte>();
        var next = new LogEntry(entry.Index + 1, entry.Term, null);

        var first = LogEntryFormat.Write(writer, entry);
        var second = LogEntryFormat.Write(writer, next);

        var bytes = writer.WrittenSpan;
        Assert.Equal(first + second, bytes.Length);
        Assert.Equal(entry, LogEntryFormat.Read(bytes, out var consumed));
        Assert.Equal(first, consumed);
        Assert.Equal(next, LogEntryFormat.Read(bytes[consumed..]));
        Assert.Equal(LogEntryFormat.ToArray(entry), bytes[..first].ToArray());
        _ = name;
    }

    // The layout documented on LogEntryFormat, pinned so that a change of format is a deliberate one.
    [Fact]
    public void Encoding_FollowsTheDocumentedLayout()
    {
        Assert.Equal(new byte[] { 0, 1, 1 }, LogEntryFormat.ToArray(new LogEntry(1, 1, null)));
        Assert.Equal(new byte[] { 0, 0xAC, 0x02, 0x80, 0x01 }, LogEntryFormat.ToArray(new LogEntry(300, 128, null)));

        Assert.Equal(
            new byte[]
            {
                0b11,               // flags: command, client id
                5, 2,               // index 5, term 2
                3,                  // serializer id -2, zigzag
                2, (byte)'k', (byte)'v',
                3, 7, 8, 9,         // data
                1, (byte)'c',       // client id
                0x81, 0x01,         // sequence 129
            },
            LogEntryFormat.ToArray(new LogEntry(5, 2, new EntryCommand(-2, "kv", [7, 8, 9], "c", 129))));

        Assert.Equal(
            new byte[] { 0b01, 5, 2, 84, 0, 0, 0 },
            LogEntryFormat.ToArray(new LogEntry(5, 2, new EntryCommand(42, "", [], null, 0))));

        Assert.Equal(
            new byte[]
            {
                0b11000,            // flags: time stamp, session policy
                5, 2,               // index 5, term 2
                0xE8, 0x07,         // timestamp 1000 ms
                0xE0, 0xD4, 0x03,   // expiry 60000 ms
                0x0A,               // at most 10 sessions
            },
            LogEntryFormat.ToArray(new LogEntry(5, 2, null) { Timestamp = 1000, SessionPolicy = new SessionPolicy(TimeSpan.FromMinutes(1), 10) }));

        Assert.Equal(
            new byte[]
            {
                0b111000,           // flags: time stamp, session policy, its minimum idle age
                5, 2,               // index 5, term 2
                0xE8, 0x07,         // timestamp 1000 ms
                0xE0, 0xD4, 0x03,   // expiry 60000 ms
                0x0A,               // at most 10 sessions
                0x98, 0x75,         // none evicted before 15000 ms idle
            },
            LogEntryFormat.ToArray(new LogEntry(5, 2, null) { Timestamp = 1000, SessionPolicy = new SessionPolicy(TimeSpan.FromMinutes(1), 10, TimeSpan.FromSeconds(15)) }));
    }

    [Fact]
    public void A_session_policy_written_before_the_minimum_idle_age_reads_as_one_without()
    {
        // The bytes of a leader of the previous release: no bit 5, no minimum idle age.
        var entry = LogEntryFormat.Read([0b11000, 5, 2, 0xE8, 0x07, 0xE0, 0xD4, 0x03, 0x0A]);

        Assert.Equal(new SessionPolicy(TimeSpan.FromMinutes(1), 10, TimeSpan.Zero), entry.SessionPolicy);
    }

    [Fact]
    public void Encoding_IsCompact_ForATypicalCommand()
    {
        var entry = new LogEntry(1_000_000, 12, new EntryCommand(42, "kv.Put", new byte[128], "client-1", 5000));

        // 1 flags + 3 index + 1 term + 1 serializer + 7 manifest + 2+128 data + 9 client + 2 sequence
        Assert.Equal(154, LogEntryFormat.GetSize(entry));
    }

    [Fact]
    public void Write_ToATooSmallSpan_IsRefused_WithoutWriting()
    {
        var entry = new LogEntry(5, 2, new EntryCommand(1, "m", [1, 2, 3], "c", 1));
        var buffer = new byte[LogEntryFormat.GetSize(entry) - 1];

        var e = Assert.Throws<ArgumentException>(() => LogEntryFormat.Write(buffer, entry));

        Assert.Contains("bytes", e.Message, StringComparison.Ordinal);
        Assert.All(buffer, b => Assert.Equal(0, b));
    }

    [Fact]
    public void Write_OfAStringThatIsNotValidUtf16_IsRefused()
    {
        var loneSurrogate = new LogEntry(1, 1, new EntryCommand(1, "bad\uD800", [1]));

        Assert.Throws<ArgumentException>(() => LogEntryFormat.GetSize(loneSurrogate));
        Assert.Throws<ArgumentException>(() => LogEntryFormat.ToArray(loneSurrogate));
    }

    [Fact]
    public void Read_OfExactlyOneEntry_RefusesTrailingBytes()
    {
        var bytes = LogEntryFormat.ToArray(new LogEntry(1, 1, null));

        var e = Assert.Throws<FormatException>(() => LogEntryFormat.Read([.. bytes, 0]));

        Assert.Contains("unexpected", e.Message, StringComparison.Ordinal);
    }

    // Every prefix of a valid encoding — what a reader sees of a cut-off buffer — is refused.
    [Theory]
    [MemberData(nameof(Entries))]
    public void Read_OfEveryProperPrefix_ThrowsFormatException(string name, LogEntry entry)
    {
        var bytes = LogEntryFormat.ToArray(entry);
        var lengths = bytes.Length < 2000
            ? Enumerable.Range(0, bytes.Length)
            : Enumerable.Range(0, 1000).Concat(Enumerable.Range(bytes.Length - 1000, 1000));

        foreach (var length in lengths)
        {
            var e = Record.Exception(() => LogEntryFormat.Read(bytes.AsSpan(0, length)));
            Assert.True(e is FormatException, $"{name}, prefix of {length}/{bytes.Length} bytes: {e?.GetType().Name ?? "no exception"}");
        }
    }

    public static TheoryData<string, byte[], string> MalformedInputs() => new()
    {
        { "empty", [], "ends at byte offset 0" },
        { "unknown flag bit 6", [0x40, 1, 1], "unknown flags" },
        { "unknown flag bit 7", [0x80, 1, 1], "unknown flags" },
        { "timestamp missing", [0x08, 1, 1], "timestamp" },
        { "session policy cut short", [0x10, 1, 1, 5], "session maximum" },
        { "session expiry of zero", [0x10, 1, 1, 0, 5], "session expiry" },
        { "session maximum of zero", [0x10, 1, 1, 5, 0], "session maximum" },
        { "session maximum beyond 2^31-1", [0x10, 1, 1, 5, 0x80, 0x80, 0x80, 0x80, 0x08], "session maximum" },
        { "minimum idle age without a session policy", [0x20, 1, 1], "without a session policy" },
        { "minimum idle age cut short", [0x30, 1, 1, 5, 5], "session minimum idle age" },
        { "minimum idle age of zero", [0x30, 1, 1, 5, 5, 0], "minimum idle age" },
        { "minimum idle age beyond the expiry", [0x30, 1, 1, 5, 5, 6], "minimum idle age" },
        { "client id without a command", [0x02, 1, 1], "without a command" },
        { "a command and a configuration", [0x05, 1, 1], "both a command and a configuration" },
        { "configuration cut short", [0x04, 1, 1, 2, 1, 2, (byte)'n', (byte)'1', 1], "member id" },
        { "configuration member with unknown flags", [0x04, 1, 1, 1, 0x08, 2, (byte)'n', (byte)'1'], "unknown member flags" },
        { "configuration member without an id", [0x04, 1, 1, 1, 0x01, 0], "empty" },
        { "configuration naming a member twice", [0x04, 1, 1, 2, 1, 2, (byte)'n', (byte)'1', 1, 2, (byte)'n', (byte)'1'], "twice" },
        { "index varint longer than 64 bits", [0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02, 1], "overflows" },
        { "index varint that never ends", [0, 0xFF, 0xFF, 0xFF], "cut off" },
        { "serializer id beyond 32 bits", [1, 1, 1, 0x80, 0x80, 0x80, 0x80, 0x10, 0, 0, 0], "32 bits" },
        { "manifest longer than the input", [1, 1, 1, 2, 5, (byte)'a'], "declares 5 bytes" },
        { "manifest length beyond 2^31", [1, 1, 1, 2, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F], "declares" },
        { "data longer than the input", [1, 1, 1, 2, 0, 200, 1, 2], "data" },
        { "manifest that is not UTF-8", [1, 1, 1, 2, 2, 0xC3, 0x28, 0, 0], "UTF-8" },
        { "client id that is not UTF-8", [3, 1, 1, 2, 0, 0, 1, 0xFF, 0], "client id" },
        { "missing sequence", [1, 1, 1, 2, 0, 0], "sequence" },
    };

    [Theory]
    [MemberData(nameof(MalformedInputs))]
    public void Read_OfMalformedInput_ThrowsAFormatExceptionSayingWhy(string name, byte[] bytes, string expected)
    {
        var e = Record.Exception(() => LogEntryFormat.Read(bytes));

        var format = Assert.IsType<FormatException>(e);
        Assert.True(format.Message.Contains(expected, StringComparison.Ordinal), $"{name}: {format.Message}");
    }

    // Random bytes, and valid encodings with random damage: the reader returns an entry or throws
    // FormatException, nothing else.
    [Fact]
    public void Read_OfRandomBytes_OnlyEverThrowsFormatException()
    {
        var random = new Random(7);
        var samples = Entries().Select(row => LogEntryFormat.ToArray((LogEntry)row[1])).Where(b => b.Length < 1000).ToList();

        for (var i = 0; i < 20_000; i++)
        {
            byte[] bytes;
            if (i % 2 == 0)
            {
                bytes = new byte[random.Next(0, 40)];
                random.NextBytes(bytes);
                if (bytes.Length > 0)
                    bytes[0] &= 3; // valid flags, so the reader goes deeper
            }
            else
            {
                bytes = (byte[])samples[random.Next(samples.Count)].Clone();
                for (var k = random.Next(1, 4); k > 0; k--)
                    bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
            }

            var e = Record.Exception(() => LogEntryFormat.Read(bytes, out _));
            Assert.True(e is null or FormatException, $"input {Convert.ToHexString(bytes)}: {e}");
        }
    }

    private static byte[] Bytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    [Fact]
    public void Utf8_IsUsedForStrings()
    {
        var entry = new LogEntry(1, 1, new EntryCommand(1, "é", [], null));
        var bytes = LogEntryFormat.ToArray(entry);

        Assert.Equal(Encoding.UTF8.GetBytes("é"), bytes.AsSpan(5, 2).ToArray());
        Assert.Equal(2, bytes[4]);
    }
}
