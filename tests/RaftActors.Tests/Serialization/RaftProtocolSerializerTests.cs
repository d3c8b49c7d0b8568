using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Serialization;
using RaftActors.Core;
using RaftActors.Messages;
using RaftActors.Serialization;
using Xunit.Abstractions;

namespace RaftActors.Tests.Serialization;

/// <summary>
/// The protocol serializer as Akka uses it: in a plain ActorSystem whose only Raft setup is
/// loading <see cref="RaftExtension"/>, <c>Serialization.FindSerializerFor</c> picks it for every
/// message, every message round-trips equal through Akka's own serialize/deserialize calls, and
/// malformed bytes of any kind raise <see cref="SerializationException"/> only.
/// </summary>
public sealed class RaftProtocolSerializerTests : IDisposable
{
    private readonly ITestOutputHelper _output;
    private readonly ActorSystem _system;
    private readonly Akka.Serialization.Serialization _serialization;

    public RaftProtocolSerializerTests(ITestOutputHelper output)
    {
        _output = output;
        // The test payloads travel in Akka's JSON fallback, which creates only allowed types.
        _system = ActorSystem.Create("plain", "akka.loglevel = WARNING\nakka.stdout-loglevel = WARNING\n" +
                                              "raft.serialization.allowed-command-types = [ \"RaftActors.Tests.Serialization.TestCommand, RaftActors.Tests\" ]");
        RaftExtension.Get(_system);
        _serialization = _system.Serialization;
    }

    public void Dispose() => _system.Terminate().Wait(TimeSpan.FromSeconds(10));

    public static TheoryData<string, object> Messages() => SerializationTestData.Messages();

    [Theory]
    [MemberData(nameof(Messages))]
    public void Every_message_round_trips_through_Akka_serialization_with_the_Raft_serializer(string name, object message)
    {
        var serializer = _serialization.FindSerializerFor(message);
        Assert.IsType<RaftProtocolSerializer>(serializer);
        Assert.Equal(RaftProtocolSerializer.SerializerId, serializer.Identifier);

        var manifest = Akka.Serialization.Serialization.ManifestFor(serializer, message);
        var bytes = serializer.ToBinary(message);
        var back = _serialization.Deserialize(bytes, serializer.Identifier, manifest);

        _output.WriteLine($"{name}: manifest {manifest}, {bytes.Length} bytes");
        Assert.True(manifest.Length <= 3, $"manifest '{manifest}' is not short");
        Assert.IsType(message.GetType(), back);
        Assert.Equal(message, back);
        if (message is InstallSnapshot chunk)
            Assert.Equal(chunk.Data, ((InstallSnapshot)back).Data);
        if (message is AppendEntries sent)
            Assert.Equal(sent.Entries.Select(e => e.Command?.Data), ((AppendEntries)back).Entries.Select(e => e.Command?.Data));
    }

    [Fact]
    public void Every_client_and_protocol_message_type_has_its_own_short_manifest()
    {
        var types = new[]
        {
            typeof(RequestVote), typeof(RequestVoteResult), typeof(AppendEntries), typeof(AppendEntriesResult),
            typeof(InstallSnapshot), typeof(InstallSnapshotResult), typeof(ClientCommand),
            typeof(ClientQuery), typeof(CommandApplied), typeof(CommandFailed), typeof(QueryResult), typeof(NotLeader),
            typeof(RequestRejected), typeof(CommandOutcomeUnknown), typeof(SessionExpired), typeof(TooManySessions), typeof(TimeoutNow),
            typeof(ReadIndexRequest), typeof(ReadIndexResult),
            typeof(AddMember), typeof(RemoveMember), typeof(TransferLeadership), typeof(GetClusterConfiguration),
            typeof(MembershipChanged), typeof(MembershipRefused), typeof(LeadershipTransferred), typeof(CurrentConfiguration),
            typeof(ExportSnapshot), typeof(SnapshotExported),
        };
        var replyTypes = typeof(IClientReply).Assembly.GetTypes().Where(t => typeof(IClientReply).IsAssignableFrom(t) && !t.IsInterface);
        var protocolTypes = typeof(IRaftProtocolMessage).Assembly.GetTypes().Where(t => typeof(IRaftProtocolMessage).IsAssignableFrom(t) && !t.IsInterface);

        Assert.Subset(types.ToHashSet(), replyTypes.Concat(protocolTypes).ToHashSet());
        Assert.Equal(types.ToHashSet(), RaftProtocolSerializer.Manifests.Keys.ToHashSet());
        Assert.Equal(types.Length, RaftProtocolSerializer.Manifests.Values.Distinct().Count());
        foreach (var type in types)
            Assert.IsType<RaftProtocolSerializer>(_serialization.FindSerializerForType(type));
    }

    [Fact]
    public void The_extension_overrides_a_binding_Akka_had_already_chosen_and_cached()
    {
        using var fresh = new PlainSystem("fresh");
        var before = fresh.System.Serialization.FindSerializerFor(new RequestVote(1, "n1", 0, 0));
        Assert.IsNotType<RaftProtocolSerializer>(before); // JSON, the System.Object default, cached for the type

        RaftExtension.Get(fresh.System);

        Assert.IsType<RaftProtocolSerializer>(fresh.System.Serialization.FindSerializerFor(new RequestVote(1, "n1", 0, 0)));
        Assert.Same(RaftExtension.Get(fresh.System), RaftExtension.Get(fresh.System));
        Assert.Equal("150ms", fresh.System.Settings.Config.GetString("raft.election-timeout-min")); // the defaults are injected too
    }

    [Fact]
    public void A_local_leader_path_travels_with_the_address_of_its_system()
    {
        var local = new RootActorPath(((ExtendedActorSystem)_system).Provider.DefaultAddress) / "user" / "raft";
        var message = new NotLeader("n1", local);

        var back = (NotLeader)RoundTrip(message);

        Assert.Equal(local, back.LeaderPath);
        Assert.Equal(local.ToStringWithAddress(), back.LeaderPath!.ToStringWithAddress());
    }

    [Fact]
    public void A_byte_array_payload_round_trips_through_its_own_serializer()
    {
        var back = (ClientCommand)RoundTrip(new ClientCommand(new byte[] { 1, 2, 3 }, "c", 1));

        Assert.Equal(new byte[] { 1, 2, 3 }, back.Command);
    }

    [Theory]
    [MemberData(nameof(Messages))]
    public void Every_truncation_of_every_message_raises_SerializationException(string name, object message)
    {
        var serializer = (RaftProtocolSerializer)_serialization.FindSerializerFor(message);
        var bytes = serializer.ToBinary(message);
        var manifest = serializer.Manifest(message);
        var step = bytes.Length > 4096 ? bytes.Length / 997 + 1 : 1; // the 1 MiB message: ~1000 offsets, the boundaries included

        for (var length = 0; length < bytes.Length; length += step)
            AssertMalformed(bytes[..length], manifest, $"{name} cut to {length} of {bytes.Length} bytes");
        foreach (var length in new[] { bytes.Length - 1, bytes.Length - 2, 1, 2, 3 }.Where(l => l >= 0 && l < bytes.Length))
            AssertMalformed(bytes[..length], manifest, $"{name} cut to {length} of {bytes.Length} bytes");
    }

    [Theory]
    [MemberData(nameof(Messages))]
    public void Bytes_after_the_message_raise_SerializationException(string name, object message)
    {
        var serializer = (RaftProtocolSerializer)_serialization.FindSerializerFor(message);
        var bytes = serializer.ToBinary(message);

        var exception = AssertMalformed([.. bytes, 0], serializer.Manifest(message), name);

        Assert.Contains("unexpected bytes", exception.Message);
    }

    /// <remarks>
    /// Fuzzed in a system whose payload serializers take bytes as they are (the JSON one is replaced): what is tested is this serializer's decoding. A user payload's own
    /// serializer is trusted with its bytes — and Akka's JSON serializer is not robust against
    /// corrupted input (some bit flips of a JSON payload recurse until the stack overflows).
    /// </remarks>
    [Fact]
    public async Task Random_garbage_and_corrupted_messages_raise_SerializationException_and_nothing_else()
    {
        var seed = Environment.GetEnvironmentVariable("RAFT_TEST_SEED") is { } s && int.TryParse(s, out var given) ? given : Random.Shared.Next();
        _output.WriteLine($"seed {seed} (replay with RAFT_TEST_SEED={seed})");
        var random = new Random(seed);
        var system = ActorSystem.Create("fuzz", """
            akka.loglevel = WARNING
            akka.stdout-loglevel = WARNING
            akka.actor.serializers.json = "RaftActors.Tests.Serialization.RaftProtocolSerializerTests+BytesOnlySerializer, RaftActors.Tests"
            """);
        try
        {
            var serializer = new RaftProtocolSerializer((ExtendedActorSystem)system);
            var manifests = RaftProtocolSerializer.Manifests.Values.ToArray();
            var samples = SerializationTestData.Messages().Select(row => row[1])
                .Where(m => m is not (ClientCommand or ClientQuery or CommandApplied or QueryResult))
                .Concat([
                    new ClientCommand(new byte[] { 1, 2, 3 }, "client", 9), new ClientQuery(new byte[] { 4 }), new CommandApplied(5, new byte[] { 6, 7 }),
                    new CommandApplied(5, null), new QueryResult(new byte[] { 8 }),
                ])
                .Where(m => serializer.ToBinary(m).Length < 10_000)
                .ToArray();
            int refused = 0, decoded = 0;

            for (var i = 0; i < 20_000; i++)
            {
                byte[] bytes;
                string manifest;
                if (i % 2 == 0)
                {
                    bytes = new byte[random.Next(0, 64)];
                    random.NextBytes(bytes);
                    if (i % 4 == 0 && bytes.Length > 0)
                        bytes[0] = (byte)random.Next(0, 4); // a plausible first varint, so decoding goes deeper
                    manifest = manifests[random.Next(manifests.Length)];
                }
                else
                {
                    var sample = samples[random.Next(samples.Length)];
                    bytes = serializer.ToBinary(sample);
                    manifest = serializer.Manifest(sample);
                    for (var flips = random.Next(1, 4); flips > 0 && bytes.Length > 0; flips--)
                        bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
                }

                try
                {
                    serializer.FromBinary(bytes, manifest);
                    decoded++;
                }
                catch (SerializationException)
                {
                    refused++;
                }
                catch (Exception e)
                {
                    Assert.Fail($"seed {seed}, case {i}: {manifest} [{Convert.ToHexString(bytes)}] raised {e.GetType().Name}: {e}");
                }
            }

            _output.WriteLine($"{refused} refused with SerializationException, {decoded} decoded as some message");
            Assert.True(refused > 10_000);
        }
        finally
        {
            await system.Terminate();
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("XX")]
    [InlineData("rv")]
    [InlineData("RaftActors.Messages.RequestVote, RaftActors")]
    public void An_unknown_manifest_raises_SerializationException(string manifest)
    {
        var bytes = _serialization.FindSerializerFor(new RequestVote(1, "n1", 0, 0)).ToBinary(new RequestVote(1, "n1", 0, 0));

        var direct = Assert.Throws<SerializationException>(() => new RaftProtocolSerializer((ExtendedActorSystem)_system).FromBinary(bytes, manifest));
        var viaAkka = Assert.Throws<SerializationException>(() => _serialization.Deserialize(bytes, RaftProtocolSerializer.SerializerId, manifest));

        Assert.Contains($"'{manifest}'", direct.Message);
        Assert.Contains("manifest", viaAkka.Message);
    }

    // The pre-vote flag is a field like any other: a vote request or answer without it (the format
    // before PreVote), or with a byte other than 0 or 1 in its place, is malformed.
    [Fact]
    public void A_missing_or_invalid_pre_vote_or_transfer_flag_raises_SerializationException()
    {
        var serializer = new RaftProtocolSerializer((ExtendedActorSystem)_system);
        foreach (var (message, flag) in new (object, string)[]
                 {
                     (new RequestVote(3, "n1", 4, 2, Transfer: true), "transfer"),
                     (new RequestVoteResult(3, "n2", VoteGranted: true, PreVote: true), "pre-vote"),
                 })
        {
            var bytes = serializer.ToBinary(message);
            Assert.Equal(1, bytes[^1]);
            Assert.Equal(message, serializer.FromBinary(bytes, serializer.Manifest(message)));
            Assert.Contains(flag, AssertMalformed(bytes[..^1], serializer.Manifest(message), "without the flag").Message);
            bytes[^1] = 2;
            Assert.Contains(flag, AssertMalformed(bytes, serializer.Manifest(message), "flag 2").Message);
        }

        var preVote = serializer.ToBinary(new RequestVote(3, "n1", 4, 2, PreVote: true));
        Assert.Equal(1, preVote[^2]);
        preVote[^2] = 2;
        Assert.Contains("pre-vote", AssertMalformed(preVote, "RV", "pre-vote flag 2").Message);
    }

    [Fact]
    public void A_negative_snapshot_offset_raises_SerializationException()
    {
        var serializer = new RaftProtocolSerializer((ExtendedActorSystem)_system);
        foreach (var message in new object[] { new InstallSnapshot(1, "n1", 9, 1, -1, [1], Done: false), new InstallSnapshotResult(1, "n2", 9, 1, -65536, Done: false) })
        {
            var exception = Assert.Throws<SerializationException>(() => serializer.FromBinary(serializer.ToBinary(message), serializer.Manifest(message)));
            Assert.Contains("negative", exception.Message);
        }
    }

    [Fact]
    public void A_payload_naming_a_serializer_this_node_lacks_raises_SerializationException()
    {
        // ClientQuery: payload tag zigzag(4242) + 1, empty manifest, 1 byte of data
        var tag = (4242 << 1) + 1;
        byte[] bytes = [(byte)(tag | 0x80), (byte)(tag >> 7), 1, 1, 7];

        var exception = Assert.Throws<SerializationException>(() => _serialization.Deserialize(bytes, RaftProtocolSerializer.SerializerId, "CQ"));

        Assert.Contains("4242", exception.Message);
        _output.WriteLine(exception.Message);
    }

    [Fact]
    public void A_null_command_or_a_null_required_id_is_malformed()
    {
        Assert.Contains("command is null", AssertMalformed([0, 0, 0], "CC", "null command").Message);
        Assert.Contains("candidate id", AssertMalformed([1, 0, 0, 0], "RV", "null candidate").Message);
        Assert.Contains("vote granted", AssertMalformed([1, 3, (byte)'n', (byte)'1', 2], "RVR", "vote byte 2").Message);
    }

    [Fact]
    public void An_entry_count_larger_than_the_bytes_can_hold_is_refused_before_any_allocation()
    {
        // term 1, leader "n", prev 0/0, commit 0, sequence 0, then a count of 2^62
        byte[] bytes = [1, 2, (byte)'n', 0, 0, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40];

        Assert.Contains("entry count", AssertMalformed(bytes, "AE", "huge count").Message);
    }

    [Fact]
    public void Messages_are_small_on_the_wire()
    {
        var heartbeat = new AppendEntries(12, "n1", 1_000, 12, new List<LogEntry>(), 1_000, 4_321);
        var requestVote = new RequestVote(12, "n1", 1_000, 12);
        var voteResult = new RequestVoteResult(12, "n2", true);
        var appendResult = new AppendEntriesResult(12, "n2", true, 1_001, Sequence: 4_321);
        var oneCommand = new AppendEntries(
            12, "n1", 1_000, 12, [new LogEntry(1_001, 12, new EntryCommand(RaftCommandSerializer.SerializerId, "", SerializationTestData.Bytes(128, 1), "client-1", 17))], 1_000, 4_322);
        var jsonManifestCommand = new AppendEntries(
            12, "n1", 1_000, 12, [new LogEntry(1_001, 12, new EntryCommand(1, "MyApp.Commands.Put, MyApp", SerializationTestData.Bytes(128, 1), "client-1", 17))], 1_000, 4_322);

        int Size(object m) => _serialization.FindSerializerFor(m).ToBinary(m).Length;
        _output.WriteLine($"heartbeat AppendEntries: {Size(heartbeat)} bytes");
        _output.WriteLine($"RequestVote: {Size(requestVote)} bytes");
        _output.WriteLine($"RequestVoteResult: {Size(voteResult)} bytes");
        _output.WriteLine($"AppendEntriesResult: {Size(appendResult)} bytes");
        _output.WriteLine($"AppendEntries with one 128-byte command (raft-hyperion, no manifest): {Size(oneCommand)} bytes");
        _output.WriteLine($"AppendEntries with one 128-byte command (a type-name manifest): {Size(jsonManifestCommand)} bytes");
        _output.WriteLine($"the heartbeat as Akka's default JSON: {new NewtonSoftJsonSerializer((ExtendedActorSystem)_system).ToBinary(heartbeat).Length} bytes");

        Assert.True(Size(heartbeat) < 40, $"heartbeat is {Size(heartbeat)} bytes");
        Assert.True(Size(requestVote) < 30, $"RequestVote is {Size(requestVote)} bytes");
        Assert.True(Size(oneCommand) < 200, $"one-command AppendEntries is {Size(oneCommand)} bytes");
        Assert.True(Size(jsonManifestCommand) < 200, $"one-command AppendEntries with a manifest is {Size(jsonManifestCommand)} bytes");
    }

    [Fact]
    public void A_message_it_does_not_handle_is_refused_on_serializing()
    {
        var serializer = new RaftProtocolSerializer((ExtendedActorSystem)_system);

        Assert.Throws<ArgumentException>(() => serializer.ToBinary("not a raft message"));
        Assert.Throws<ArgumentException>(() => serializer.Manifest(GetRaftStatus.Instance));
    }

    private object RoundTrip(object message)
    {
        var serializer = _serialization.FindSerializerFor(message);
        return _serialization.Deserialize(serializer.ToBinary(message), serializer.Identifier, Akka.Serialization.Serialization.ManifestFor(serializer, message));
    }

    private SerializationException AssertMalformed(byte[] bytes, string manifest, string what)
    {
        try
        {
            var decoded = _serialization.Deserialize(bytes, RaftProtocolSerializer.SerializerId, manifest);
            throw new Xunit.Sdk.XunitException($"{what}: decoded as {decoded} instead of raising SerializationException");
        }
        catch (SerializationException e)
        {
            Assert.False(string.IsNullOrWhiteSpace(e.Message));
            return e;
        }
        catch (Exception e) when (e is not Xunit.Sdk.XunitException)
        {
            throw new Xunit.Sdk.XunitException($"{what}: raised {e.GetType().Name} instead of SerializationException: {e}");
        }
    }

    /// <summary>Stands in for the JSON serializer (id 1) in the fuzzing system: payloads are opaque bytes.</summary>
    public sealed class BytesOnlySerializer : Akka.Serialization.Serializer
    {
        public BytesOnlySerializer(ExtendedActorSystem system)
            : base(system)
        {
        }

        public BytesOnlySerializer(ExtendedActorSystem system, Akka.Configuration.Config config)
            : base(system)
        {
        }

        public override int Identifier => 1;

        public override bool IncludeManifest => false;

        public override byte[] ToBinary(object obj) => (byte[])obj;

        public override object FromBinary(byte[] bytes, Type type) => bytes.ToArray();
    }

    /// <summary>A plain ActorSystem without Raft configuration, terminated on dispose.</summary>
    private sealed class PlainSystem(string name) : IDisposable
    {
        public ActorSystem System { get; } = ActorSystem.Create(name, "akka.loglevel = WARNING\nakka.stdout-loglevel = WARNING");

        public void Dispose() => System.Terminate().Wait(TimeSpan.FromSeconds(10));
    }
}
