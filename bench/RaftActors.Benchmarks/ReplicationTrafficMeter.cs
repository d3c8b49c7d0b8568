using Akka.Actor;
using Akka.Serialization;
using RaftActors.Messages;
using RaftActors.Serialization;

namespace RaftActors.Benchmarks;

/// <summary>
/// Counts the bytes of replication as the library's real wire serializer writes them: every
/// AppendEntries a node sends to another (with the entries it carries) and every reply to one.
/// It sits in front of <see cref="RaftProtocolSerializer"/> in each ActorSystem, bound to those two
/// message types (bare, or in the <see cref="VersionedPeerMessage"/> envelope peers use once they
/// know each other's wire version), and hands every call on unchanged; Akka.Remote calls it only for messages that
/// leave the process's ActorSystem for another, so what it counts is what went over the wire,
/// minus Akka.Remote's envelope (recipient and sender paths, serializer id, manifest) and TCP's framing.
/// </summary>
public sealed class ReplicationTrafficMeter
{
    private long _appendMessages;
    private long _appendBytes;
    private long _entries;
    private long _replies;
    private long _replyBytes;

    public void Install(ActorSystem system)
    {
        var metered = new MeteredSerializer((ExtendedActorSystem)system, RaftExtension.Get(system).ProtocolSerializer, this);
        system.Serialization.AddSerializer(RaftProtocolSerializer.SerializerName, metered);
        system.Serialization.AddSerializationMap(typeof(AppendEntries), metered);
        system.Serialization.AddSerializationMap(typeof(AppendEntriesResult), metered);
        system.Serialization.AddSerializationMap(typeof(VersionedPeerMessage), metered);
    }

    public Traffic Read() => new(
        Interlocked.Read(ref _appendMessages),
        Interlocked.Read(ref _appendBytes),
        Interlocked.Read(ref _entries),
        Interlocked.Read(ref _replies),
        Interlocked.Read(ref _replyBytes));

    private void Count(object message, int bytes)
    {
        switch (message is VersionedPeerMessage versioned ? versioned.Message : message)
        {
            case AppendEntries append:
                Interlocked.Increment(ref _appendMessages);
                Interlocked.Add(ref _appendBytes, bytes);
                Interlocked.Add(ref _entries, append.Entries.Count);
                break;
            case AppendEntriesResult:
                Interlocked.Increment(ref _replies);
                Interlocked.Add(ref _replyBytes, bytes);
                break;
        }
    }

    /// <summary>Counters at one moment; subtract two to get a window's traffic.</summary>
    public sealed record Traffic(long AppendMessages, long AppendBytes, long Entries, long Replies, long ReplyBytes)
    {
        public static Traffic operator -(Traffic later, Traffic earlier) => new(
            later.AppendMessages - earlier.AppendMessages,
            later.AppendBytes - earlier.AppendBytes,
            later.Entries - earlier.Entries,
            later.Replies - earlier.Replies,
            later.ReplyBytes - earlier.ReplyBytes);

        /// <summary>Bytes of AppendEntries (heartbeats included) and of their replies, per entry sent to a follower.</summary>
        public double BytesPerEntry => Entries == 0 ? double.NaN : (double)(AppendBytes + ReplyBytes) / Entries;
    }

    private sealed class MeteredSerializer(ExtendedActorSystem system, RaftProtocolSerializer inner, ReplicationTrafficMeter meter)
        : SerializerWithStringManifest(system)
    {
        public override int Identifier => inner.Identifier;

        public override string Manifest(object o) => inner.Manifest(o);

        public override byte[] ToBinary(object obj)
        {
            var bytes = inner.ToBinary(obj);
            meter.Count(obj, bytes.Length);
            return bytes;
        }

        public override object FromBinary(byte[] bytes, string manifest) => inner.FromBinary(bytes, manifest);
    }
}
