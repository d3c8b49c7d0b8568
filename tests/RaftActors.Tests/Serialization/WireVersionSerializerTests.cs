using System.Runtime.Serialization;
using Akka.Actor;
using RaftActors.Core;
using RaftActors.Messages;
using RaftActors.Serialization;
using RaftActors.Tests.Serialization.Legacy;

namespace RaftActors.Tests.Serialization;

/// <summary>
/// Wire versions in the protocol serializer: peer messages in the versioned envelope round-trip
/// with the sender's announcement; a version above this build's is refused by a message naming
/// both versions; and version 1 stays byte for byte what the previous release
/// (<see cref="WireVersion1Serializer"/>) writes and reads.
/// </summary>
public sealed class WireVersionSerializerTests : IDisposable
{
    private readonly ActorSystem _system;
    private readonly RaftProtocolSerializer _serializer;
    private readonly WireVersion1Serializer _previous;

    public WireVersionSerializerTests()
    {
        _system = ActorSystem.Create("wire", "akka.loglevel = WARNING\nakka.stdout-loglevel = WARNING");
        _serializer = RaftExtension.Get(_system).ProtocolSerializer;
        _previous = new WireVersion1Serializer((ExtendedActorSystem)_system);
    }

    public void Dispose() => _system.Terminate().Wait(TimeSpan.FromSeconds(10));

    public static TheoryData<string, object> PeerMessages()
    {
        var data = new TheoryData<string, object>();
        foreach (var row in SerializationTestData.Messages())
        {
            if (row[1] is IRaftProtocolMessage)
                data.Add((string)row[0], row[1]);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(PeerMessages))]
    public void A_peer_message_in_version_2_round_trips_with_the_senders_highest_version(string name, object message)
    {
        var versioned = new VersionedPeerMessage((IRaftProtocolMessage)message, WireVersions.Announced, WireVersions.Highest);
        Assert.Same(_serializer, _system.Serialization.FindSerializerFor(versioned));

        var manifest = _serializer.Manifest(versioned);
        var back = _system.Serialization.Deserialize(_serializer.ToBinary(versioned), _serializer.Identifier, manifest);

        Assert.Equal("V2", manifest);
        Assert.Equal(versioned, back);
        Assert.True(back is VersionedPeerMessage, name);
    }

    /// <summary>The peer messages the previous release had: no entry with the session fields, which came later (gated by the cluster version).</summary>
    public static TheoryData<string, object> PreviousReleasePeerMessages()
    {
        var data = new TheoryData<string, object>();
        foreach (var row in PeerMessages())
        {
            if (row[1] is not AppendEntries { Entries: var entries } || entries.All(e => e.Timestamp is null && e.SessionPolicy is null))
                data.Add((string)row[0], row[1]);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(PreviousReleasePeerMessages))]
    public void Version_1_is_what_the_previous_release_writes_and_reads(string name, object message)
    {
        var manifest = _serializer.Manifest(message);
        var bytes = _serializer.ToBinary(message);

        Assert.Equal(_previous.Manifest(message), manifest);
        Assert.True(_previous.ToBinary(message).AsSpan().SequenceEqual(bytes), name);
        Assert.Equal(message, _previous.FromBinary(bytes, manifest));
        Assert.Equal(message, _serializer.FromBinary(_previous.ToBinary(message), manifest));
    }

    [Theory]
    [InlineData(WireVersions.Highest + 1)]
    [InlineData(200)]
    public void A_message_in_a_newer_version_is_refused_naming_its_version_and_this_nodes(int version)
    {
        var bytes = _serializer.ToBinary(new VersionedPeerMessage(new TimeoutNow(4, "n2"), WireVersions.Announced, version));

        var e = Assert.Throws<SerializationException>(() => _serializer.FromBinary(bytes, $"V{version}"));

        Assert.Contains($"wire version {version}", e.Message);
        Assert.Contains($"reads wire versions 1 to {WireVersions.Highest}", e.Message);
    }

    [Theory]
    [InlineData("V1")]
    [InlineData("V0")]
    [InlineData("V-1")]
    [InlineData("V")]
    public void A_manifest_naming_no_versioned_format_is_refused(string manifest)
    {
        var bytes = _serializer.ToBinary(new VersionedPeerMessage(new TimeoutNow(4, "n2"), WireVersions.Announced, WireVersions.Highest));
        Assert.Throws<SerializationException>(() => _serializer.FromBinary(bytes, manifest));
    }

    [Fact]
    public void Only_messages_between_peers_travel_in_the_envelope()
    {
        var w = new WireWriter();
        w.Varint(2);
        w.String("RR", "manifest");
        w.String("no", "reason");

        var e = Assert.Throws<SerializationException>(() => _serializer.FromBinary(w.ToArray(), "V2"));

        Assert.Contains("not a message between Raft peers", e.Message);
    }

    [Fact]
    public void The_serializer_writes_only_the_versions_it_knows()
    {
        Assert.Throws<ArgumentException>(() => _serializer.ToBinary(new VersionedPeerMessage(new TimeoutNow(4, "n2"), WireVersions.Highest + 1, WireVersions.Highest)));
        Assert.Throws<ArgumentException>(() => _serializer.ToBinary(new VersionedPeerMessage(new TimeoutNow(4, "n2"), WireVersions.Unversioned, WireVersions.Highest)));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void An_announcement_round_trips_and_a_later_version_may_add_fields_to_it(bool answer)
    {
        var announcement = new WireVersionAnnouncement("n3", 7, answer);
        var bytes = _serializer.ToBinary(announcement);

        Assert.Equal("WV", _serializer.Manifest(announcement));
        Assert.Equal(announcement, _serializer.FromBinary(bytes, "WV"));
        Assert.Equal(announcement, _serializer.FromBinary([.. bytes, 0x2A, 0x01], "WV"));
    }

    [Fact]
    public void The_previous_release_refuses_entries_with_the_session_fields()
    {
        var stamped = new AppendEntries(3, "n1", 0, 0, [new LogEntry(1, 3, null) { Timestamp = 1_000 }], 0, 1);
        Assert.Throws<SerializationException>(() => _previous.FromBinary(_serializer.ToBinary(stamped), "AE"));
    }

    [Fact]
    public void The_previous_release_cannot_read_or_write_the_versioned_messages()
    {
        var versioned = new VersionedPeerMessage(new TimeoutNow(4, "n2"), WireVersions.Announced, WireVersions.Highest);
        var announcement = new WireVersionAnnouncement("n2", WireVersions.Highest);

        Assert.Throws<SerializationException>(() => _previous.ToBinary(versioned));
        Assert.Throws<SerializationException>(() => _previous.ToBinary(announcement));
        Assert.Throws<SerializationException>(() => _previous.FromBinary(_serializer.ToBinary(versioned), "V2"));
        Assert.Throws<SerializationException>(() => _previous.FromBinary(_serializer.ToBinary(announcement), "WV"));
    }
}
