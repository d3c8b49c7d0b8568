using System.Diagnostics;
using System.Text;
using Akka.Actor;
using RaftActors.Core;
using RaftActors.Messages;
using RaftActors.Serialization;
using RaftActors.StateMachine;
using Xunit.Abstractions;

namespace RaftActors.Tests.StateMachine;

/// <summary>
/// The client sessions table's expiry (thesis §6.3): time from the leaders' stamps only, monotone;
/// idle sessions and the least recently used beyond the maximum forgotten at the same index on
/// every replica; a command of a forgotten session refused, not applied; snapshots of the table
/// in the current format and the one before it.
/// </summary>
public sealed class ClientSessionsTests : IDisposable
{
    private const long Start = 1_767_225_600_000; // a Unix time in milliseconds
    private static readonly SessionPolicy Minute = new(TimeSpan.FromMinutes(1), 1000);

    private readonly ITestOutputHelper _output;
    private readonly ActorSystem _system = ActorSystem.Create("sessions", "akka.loglevel = WARNING\nakka.stdout-loglevel = WARNING");
    private readonly RaftProtocolSerializer _serializer;

    public ClientSessionsTests(ITestOutputHelper output)
    {
        _output = output;
        _serializer = RaftExtension.Get(_system).ProtocolSerializer;
    }

    public void Dispose() => _system.Terminate().Wait(TimeSpan.FromSeconds(10));

    [Fact]
    public void A_session_idle_longer_than_the_expiry_by_the_stamps_is_forgotten_and_its_next_command_refused()
    {
        var table = new ClientSessions();
        Apply(table, NoOp(1, Start, Minute));
        Assert.IsType<CommandApplied>(Apply(table, Command(2, Start, "a", 1)));
        Assert.IsType<CommandApplied>(Apply(table, Command(3, Start + 1, "b", 1)));

        // Exactly the expiry idle is not longer than it: "a" survives this entry; its retry answers as before.
        Assert.Equal(new CommandApplied(2, null), Apply(table, Command(4, Start + 60_000, "a", 1)));

        // "b" was last active at Start + 1: one millisecond later it is gone, at this entry.
        Apply(table, NoOp(5, Start + 60_002));
        Assert.Equal(1, table.Count);
        var refused = Assert.IsType<SessionExpired>(Apply(table, Command(6, Start + 60_002, "b", 2)));
        Assert.Equal(6, refused.Index);
        Assert.Contains("client session b", refused.Reason, StringComparison.Ordinal);

        // Its retry of command 1 (a new session as far as the table knows) applies: keys live as long as the expiry.
        Assert.Equal(new CommandApplied(7, null), Apply(table, Command(7, Start + 60_002, "b", 1)));
    }

    [Fact]
    public void Time_never_moves_backwards_when_a_leader_with_a_slower_clock_stamps_entries()
    {
        var table = new ClientSessions();
        Apply(table, NoOp(1, Start + 100_000, Minute));
        Apply(table, Command(2, Start + 100_000, "a", 1));

        // The next leader's clock is 90 s behind: its stamps do not turn time back, so "a" is
        // stamped active at the table's time, not at the slower clock's.
        Apply(table, Command(3, Start + 10_000, "a", 2));
        Assert.Equal(Start + 100_000, table.Now);
        Apply(table, NoOp(4, Start + 160_000));
        Assert.Equal(1, table.Count);
        Apply(table, NoOp(5, Start + 160_001));
        Assert.Equal(0, table.Count);
    }

    [Fact]
    public void Without_stamps_nothing_expires_and_the_first_stamp_starts_every_session_s_idle_time()
    {
        var table = new ClientSessions();
        Apply(table, NoOp(1, null, Minute));
        Apply(table, Command(2, null, "old", 1));
        Assert.Null(table.Now);

        // Activity before the first stamp counts as at the first stamp.
        Apply(table, NoOp(3, Start));
        Apply(table, NoOp(4, Start + 60_000));
        Assert.Equal(1, table.Count);
        Apply(table, NoOp(5, Start + 60_001));
        Assert.Equal(0, table.Count);
    }

    [Fact]
    public void Beyond_the_maximum_the_least_recently_used_session_is_evicted()
    {
        var table = new ClientSessions();
        Apply(table, NoOp(1, Start, new SessionPolicy(TimeSpan.FromHours(1), 3)));
        Apply(table, Command(2, Start, "a", 1));
        Apply(table, Command(3, Start, "b", 1));
        Apply(table, Command(4, Start, "c", 1));

        // A retry is activity too: "a" becomes the most recently used, so "b" goes when "d" opens.
        Apply(table, Command(5, Start, "a", 1));
        Apply(table, Command(6, Start, "d", 1));
        Assert.Equal(3, table.Count);
        Assert.IsType<SessionExpired>(Apply(table, Command(7, Start, "b", 2)));
        Assert.IsType<CommandApplied>(Apply(table, Command(8, Start, "a", 2)));
        Assert.IsType<CommandApplied>(Apply(table, Command(9, Start, "c", 2)));

        // A smaller maximum from the log applies at its entry: the two least recently used go.
        Apply(table, NoOp(10, Start, new SessionPolicy(TimeSpan.FromHours(1), 1)));
        Assert.Equal(1, table.Count);
        Assert.IsType<CommandApplied>(Apply(table, Command(11, Start, "c", 3)));
    }

    [Fact]
    public void A_session_idle_less_than_the_minimum_idle_age_survives_the_cap()
    {
        var table = new ClientSessions();
        Apply(table, NoOp(1, Start, new SessionPolicy(TimeSpan.FromHours(1), 2, TimeSpan.FromSeconds(15))));
        Apply(table, Command(2, Start, "a", 1));
        Apply(table, Command(3, Start + 10_000, "b", 1));

        // "a" is old enough (15 s idle) and goes when "c" opens; "b" (5 s idle) is not, and stays.
        Assert.IsType<CommandApplied>(Apply(table, Command(4, Start + 15_000, "c", 1)));
        Assert.Equal(2, table.Count);
        Assert.IsType<SessionExpired>(Apply(table, Command(5, Start + 15_000, "a", 2)));
        Assert.Equal(new CommandApplied(3, null), Apply(table, Command(6, Start + 15_000, "b", 1)));

        // A smaller maximum from the log evicts only the sessions old enough: none yet.
        Apply(table, NoOp(7, Start + 15_000, new SessionPolicy(TimeSpan.FromHours(1), 1, TimeSpan.FromSeconds(15))));
        Assert.Equal(2, table.Count);
        Apply(table, NoOp(8, Start + 30_000));
        Assert.Equal(1, table.Count); // both are old enough now: "c", the least recently used, goes
        Assert.IsType<CommandApplied>(Apply(table, Command(9, Start + 30_000, "b", 2)));
    }

    [Fact]
    public void A_full_table_of_young_sessions_refuses_a_new_session_definitely_and_applies_nothing()
    {
        var table = new ClientSessions();
        Apply(table, NoOp(1, Start, new SessionPolicy(TimeSpan.FromHours(1), 2, TimeSpan.FromSeconds(15))));
        Apply(table, Command(2, Start, "a", 1));
        Apply(table, Command(3, Start + 1_000, "b", 1));
        var executed = 0;

        var reply = table.Apply(Command(4, Start + 14_999, "c", 1), (_, _) =>
        {
            executed++;
            return new CommandApplied(4, null);
        });

        var refused = Assert.IsType<TooManySessions>(reply);
        Assert.Equal(4, refused.Index);
        Assert.Contains("raft.sessions.min-idle", refused.Reason, StringComparison.Ordinal);
        Assert.Equal((0, 2), (executed, table.Count));
        Assert.Equal(new CommandApplied(2, null), Apply(table, Command(5, Start + 14_999, "a", 1))); // nothing evicted

        // Once the oldest is old enough, the same command opens its session (after "a" was used again, "b" is the oldest).
        Assert.Equal(new CommandApplied(6, null), Apply(table, Command(6, Start + 16_000, "c", 1)));
        Assert.IsType<SessionExpired>(Apply(table, Command(7, Start + 16_000, "b", 2)));
    }

    [Fact]
    public void Two_copies_of_a_first_command_separated_by_eviction_pressure_apply_once()
    {
        // A client's first command, logged once by a leader that lost its leadership before
        // answering, and again (the client's retry) by the next leader, with other clients opening
        // sessions in between: the cap must not evict the session between the copies.
        var table = new ClientSessions();
        Apply(table, NoOp(1, Start, new SessionPolicy(TimeSpan.FromMinutes(10), 3, TimeSpan.FromSeconds(15))));
        var executed = new List<long>();
        IClientReply Run(LogEntry entry) => table.Apply(entry, (_, _) =>
        {
            executed.Add(entry.Index);
            return new CommandApplied(entry.Index, null);
        })!;

        var first = Run(Command(2, Start, "retrying", 1));
        var others = new[] { "o1", "o2", "o3", "o4" }.Select((id, i) => Run(Command(3 + i, Start + 100 * (i + 1), id, 1))).ToList();
        var second = Run(Command(7, Start + 5_000, "retrying", 1));

        Assert.Equal(new CommandApplied(2, null), first);
        Assert.Equal(new CommandApplied(2, null), second); // the first result, not a second effect
        Assert.Equal(2, others.Count(o => o is CommandApplied));
        Assert.Equal(2, others.Count(o => o is TooManySessions));
        Assert.Equal([2L, 3, 4], executed);
    }

    [Fact]
    public void Without_a_minimum_idle_age_the_cap_evicts_as_before_and_the_second_copy_applies_again()
    {
        // The behaviour every log and snapshot written before the minimum idle age keeps: the gap
        // the minimum closes, shown here so that the test above cannot pass by accident.
        var table = new ClientSessions();
        Apply(table, NoOp(1, Start, new SessionPolicy(TimeSpan.FromMinutes(10), 3)));
        Apply(table, Command(2, Start, "retrying", 1));
        foreach (var (id, i) in new[] { "o1", "o2", "o3" }.Select((id, i) => (id, i)))
            Assert.IsType<CommandApplied>(Apply(table, Command(3 + i, Start + 100, id, 1)));

        Assert.Equal(new CommandApplied(6, null), Apply(table, Command(6, Start + 5_000, "retrying", 1)));
    }

    [Fact]
    public void The_snapshot_keeps_the_minimum_idle_age_in_format_3_and_a_policy_without_one_in_format_2()
    {
        var withMinIdle = new ClientSessions();
        var policy = new SessionPolicy(TimeSpan.FromMinutes(1), 2, TimeSpan.FromSeconds(15));
        Apply(withMinIdle, NoOp(1, Start, policy));
        Apply(withMinIdle, Command(2, Start, "a", 1));
        var without = new ClientSessions();
        Apply(without, NoOp(1, Start, Minute));
        Apply(without, Command(2, Start, "a", 1));

        Assert.Equal((3, 2), (withMinIdle.WriteVersion, without.WriteVersion));
        Assert.Equal(policy, RoundTrip(withMinIdle).Policy);
        Assert.Equal(Minute, RoundTrip(without).Policy);
    }

    [Fact]
    public async Task A_snapshot_in_format_2_is_still_read_with_no_minimum_idle_age()
    {
        // The table as format 2 wrote it: time, the policy as expiry and maximum only, then the
        // sessions with their last activity; and the snapshot header's version byte 2.
        var w = new WireWriter();
        w.Bool(true);
        w.Long(Start + 5);
        w.Long(60_000);
        w.Varint(2);
        w.Varint(2);
        foreach (var (id, active) in new[] { ("a", Start), ("b", Start + 5) })
        {
            w.String(id, "client id");
            w.Long(active);
            w.Long(1);
            w.Varint(1);
            WriteResult(w, 1, new CommandApplied(active - Start + 2, null));
        }

        var content = SnapshotContentOf(2, w.ToArray(), []);

        var sessions = await SnapshotContent.ReadSessionsAsync(content, _serializer, CancellationToken.None);

        Assert.Equal((Start + 5, new SessionPolicy(TimeSpan.FromMinutes(1), 2), 2), (sessions.Now, sessions.Policy, sessions.Count));
        Assert.Equal(new CommandApplied(7, null), Apply(sessions, Command(10, Start + 5, "b", 1)));

        // No minimum idle age: the cap evicts "a", 5 ms idle, for a new session, as format 2's writer did.
        Assert.IsType<CommandApplied>(Apply(sessions, Command(11, Start + 5, "c", 1)));
        Assert.IsType<SessionExpired>(Apply(sessions, Command(12, Start + 5, "a", 2)));
        Assert.Equal(2, sessions.WriteVersion);
    }

    [Fact]
    public void A_command_numbered_above_1_on_an_unknown_session_is_refused_and_not_applied()
    {
        var table = new ClientSessions();
        var executed = 0;

        var reply = table.Apply(Command(1, Start, "never-opened", 5), (_, _) =>
        {
            executed++;
            return new CommandApplied(1, null);
        });

        Assert.IsType<SessionExpired>(reply);
        Assert.Equal(0, executed);
        Assert.Equal(0, table.Count);
    }

    /// <summary>
    /// Replicas that apply the same log give every command the same answer and end with equal
    /// tables (equal snapshot bytes), whatever the stamps do (leaders' clocks jump back and forth)
    /// and wherever one of them restarts from a snapshot of another.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Replicas_applying_the_same_log_expire_the_same_sessions_at_the_same_index(int seed)
    {
        var log = RandomLog(new Random(seed), entries: 5000);
        var a = new ClientSessions();
        var b = new ClientSessions();
        ClientSessions? restored = null;
        var snapshotAt = log.Count / 2;
        var expired = 0;
        for (var i = 0; i < log.Count; i++)
        {
            var entry = log[i];
            var fromA = Apply(a, entry);
            var fromB = Apply(b, entry);
            Assert.True(Equals(fromA, fromB), $"seed {seed}: entry {entry.Index} answered {fromA} on one replica and {fromB} on another");
            if (restored is not null)
            {
                var fromRestored = Apply(restored, entry);
                Assert.True(Equals(fromA, fromRestored), $"seed {seed}: entry {entry.Index} answered {fromA}, and {fromRestored} on the replica restored at {snapshotAt}");
            }

            expired += fromA is SessionExpired ? 1 : 0;
            if (i == snapshotAt)
                restored = RoundTrip(a);
        }

        Assert.True(expired > 0, $"seed {seed}: the log should make some sessions expire");
        Assert.Equal(a.ToBinary(_serializer), b.ToBinary(_serializer));
        Assert.Equal(a.ToBinary(_serializer), restored!.ToBinary(_serializer));
        Assert.Equal((a.Now, a.Policy, a.Count), (restored.Now, restored.Policy, restored.Count));
    }

    [Fact]
    public void The_snapshot_keeps_time_the_policy_and_each_session_s_last_activity()
    {
        var table = new ClientSessions();
        Apply(table, NoOp(1, Start, Minute));
        Apply(table, Command(2, Start, "a", 1));
        Apply(table, Command(3, Start + 30_000, "b", 1));

        var restored = RoundTrip(table);

        Assert.Equal((Start + 30_000, Minute, 2), (restored.Now, restored.Policy, restored.Count));
        Apply(restored, NoOp(4, Start + 60_001));
        Assert.Equal(1, restored.Count); // "a" expired by its restored activity, "b" not
        Assert.Equal(new CommandApplied(3, null), Apply(restored, Command(5, Start + 60_001, "b", 1)));
    }

    [Fact]
    public async Task A_snapshot_written_before_sessions_expired_is_still_read()
    {
        // The table as the format before this one wrote it: count, then per session its id, highest
        // sequence and results; and the snapshot header's version byte 1.
        var w = new WireWriter();
        w.Varint(1);
        w.String("old-client", "client id");
        w.Long(3);
        w.Varint(1);
        var reply = new CommandApplied(40, null);
        WriteResult(w, 3, reply);
        var content = SnapshotContentOf(1, w.ToArray(), "state"u8);

        var sessions = await SnapshotContent.ReadSessionsAsync(content, _serializer, CancellationToken.None);

        Assert.Equal("state", Encoding.UTF8.GetString(content.ToArray()[(int)content.Position..]));
        Assert.Equal((null, SessionPolicy.Initial, 1), (sessions.Now, sessions.Policy, sessions.Count));
        Assert.Equal(reply, Apply(sessions, Command(41, Start, "old-client", 3)));

        // Its sessions count as active at the first stamp: they get a full expiry from there.
        Apply(sessions, NoOp(42, Start + (long)SessionPolicy.Initial.Expiry.TotalMilliseconds));
        Assert.Equal(1, sessions.Count);
        Apply(sessions, NoOp(43, Start + (long)SessionPolicy.Initial.Expiry.TotalMilliseconds + 1));
        Assert.Equal(0, sessions.Count);
    }

    [Fact]
    public async Task A_snapshot_of_a_newer_sessions_format_is_refused_naming_the_version()
    {
        var content = new MemoryStream();
        content.Write("RAFTSM\0\u0004"u8);
        content.Write(BitConverter.GetBytes(0));
        content.Position = 0;

        var e = await Assert.ThrowsAsync<System.Runtime.Serialization.SerializationException>(
            () => SnapshotContent.ReadSessionsAsync(content, _serializer, CancellationToken.None));

        Assert.Contains("format version 4", e.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// One million writes, each with a fresh idempotency key (as raftctl and HTTP clients send),
    /// leave the table and its snapshot bounded: by the maximum, and by the expiry when that is the
    /// tighter bound. The numbers printed are in docs/operations.md ("Client sessions").
    /// </summary>
    [Theory]
    [InlineData(600_000, 200_000, 15_000)] // the defaults, 1 ms between writes: the maximum binds
    [InlineData(60_000, 1_000_000, 0)] // a one-minute expiry: at most a minute of writes is kept
    public void A_million_writes_with_fresh_keys_leave_the_table_and_its_snapshot_bounded(int expiryMilliseconds, int max, int minIdleMilliseconds)
    {
        var policy = new SessionPolicy(TimeSpan.FromMilliseconds(expiryMilliseconds), max, TimeSpan.FromMilliseconds(minIdleMilliseconds));
        var bound = Math.Min(max, expiryMilliseconds + 1);
        var before = GC.GetTotalMemory(forceFullCollection: true);
        var table = new ClientSessions();
        var clock = Stopwatch.StartNew();
        Apply(table, NoOp(1, Start, policy));
        var largest = 0;
        for (var i = 0; i < 1_000_000; i++)
        {
            var index = i + 2L;
            table.Apply(Command(index, Start + i, $"http:raftctl-{i:x32}", 1), (_, _) => new CommandApplied(index, null));
            largest = Math.Max(largest, table.Count);
        }

        var applied = clock.Elapsed;
        var snapshot = table.ToBinary(_serializer);
        var heap = GC.GetTotalMemory(forceFullCollection: true);
        _output.WriteLine(
            $"{policy}: {largest} sessions at most, {table.Count} at the end; snapshot {snapshot.Length:N0} bytes " +
            $"({snapshot.Length / table.Count} per session); heap after GC {heap / (1 << 20)} MiB, {(heap - before) / table.Count} bytes per session; applied in {applied.TotalSeconds:F1} s");
        Assert.Equal(bound, largest);
        Assert.True(snapshot.Length <= bound * 80L, $"snapshot of {snapshot.Length} bytes for {table.Count} sessions");
        GC.KeepAlive(table);
    }

    private IClientReply? Apply(ClientSessions table, LogEntry entry) =>
        table.Apply(entry, (_, _) => new CommandApplied(entry.Index, null));

    /// <summary>A result as the table's formats write it: its sequence, manifest and bytes.</summary>
    private void WriteResult(WireWriter w, long sequence, IClientReply reply)
    {
        w.Long(sequence);
        w.String(_serializer.Manifest(reply), "result manifest");
        w.Bytes(_serializer.ToBinary(reply));
    }

    /// <summary>A node's snapshot content: the header with the sessions' format <paramref name="version"/>, the table, the state machine's bytes.</summary>
    private static MemoryStream SnapshotContentOf(byte version, byte[] table, ReadOnlySpan<byte> state)
    {
        var content = new MemoryStream();
        content.Write("RAFTSM\0"u8);
        content.WriteByte(version);
        content.Write(BitConverter.GetBytes(table.Length));
        content.Write(table);
        content.Write(state);
        content.Position = 0;
        return content;
    }

    private ClientSessions RoundTrip(ClientSessions table) => ClientSessions.FromBinary(table.ToBinary(_serializer), _serializer, table.WriteVersion);

    private static LogEntry NoOp(long index, long? stamp, SessionPolicy? policy = null) =>
        new(index, 1, null) { Timestamp = stamp, SessionPolicy = policy };

    private static LogEntry Command(long index, long? stamp, string clientId, long sequence) =>
        new(index, 1, new EntryCommand(0, "", [], clientId, sequence)) { Timestamp = stamp };

    /// <summary>
    /// A log of leaders' terms: each starts with a no-op carrying a policy and stamps with a clock
    /// that may run behind or ahead of the last; clients open sessions, retry, run ahead, and pause
    /// long enough to be forgotten.
    /// </summary>
    private static List<LogEntry> RandomLog(Random random, int entries)
    {
        var log = new List<LogEntry>();
        var clock = Start;
        var next = new long[40];
        for (var index = 1L; index <= entries; index++)
        {
            clock += random.Next(0, 2000);
            if (random.Next(200) == 0)
            {
                clock += random.Next(-30_000, 30_000); // a new leader, its clock off from the last one's
                log.Add(NoOp(index, clock, new SessionPolicy(TimeSpan.FromSeconds(random.Next(20, 60)), random.Next(5, 30))));
                continue;
            }

            var client = random.Next(next.Length);
            var sequence = random.Next(10) switch
            {
                0 => Math.Max(1, next[client]), // a retry
                1 => next[client] + 3, // ahead of what the table saw
                _ => ++next[client],
            };
            log.Add(random.Next(50) == 0 ? NoOp(index, random.Next(2) == 0 ? null : clock) : Command(index, clock, $"c{client}", sequence));
        }

        return log;
    }
}
