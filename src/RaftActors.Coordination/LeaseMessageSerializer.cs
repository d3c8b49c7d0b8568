using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Configuration;
using Akka.Serialization;

namespace RaftActors.Coordination;

/// <summary>
/// The lease's commands, query and answers in a few bytes each: a one-letter manifest and the
/// fields in order, strings as length-prefixed UTF-8, times as Unix milliseconds. Bound by exact
/// type, so no type name travels and nothing else can be created from the bytes. Both sides
/// need it: the Raft nodes that run <see cref="LeaseStateMachine"/> (put <see cref="Config"/> in
/// their configuration) and the systems that use <see cref="RaftLease"/>, which adds it itself.
/// </summary>
public sealed class LeaseMessageSerializer : SerializerWithStringManifest
{
    /// <summary>This serializer's identifier on the wire and in the log.</summary>
    public const int SerializerId = 9573;

    /// <summary>The serializer, its bindings and identifier, as configuration.</summary>
    public static readonly Config Config = ConfigurationFactory.ParseString($$"""
        akka.actor {
          serializers.raft-lease = "{{typeof(LeaseMessageSerializer).FullName}}, {{typeof(LeaseMessageSerializer).Assembly.GetName().Name}}"
          serialization-bindings {
            {{string.Join("\n", new[] { typeof(AcquireLease), typeof(ReleaseLease), typeof(ReadLease), typeof(LeaseRecord), typeof(LeaseResult) }
                .Select(t => $"\"{t.FullName}, {t.Assembly.GetName().Name}\" = raft-lease"))}}
          }
          serialization-identifiers."{{typeof(LeaseMessageSerializer).FullName}}, {{typeof(LeaseMessageSerializer).Assembly.GetName().Name}}" = {{SerializerId}}
        }
        """);

    public LeaseMessageSerializer(ExtendedActorSystem system)
        : base(system)
    {
    }

    /// <summary>Adds the serializer to <paramref name="system"/>'s configuration, once.</summary>
    public static void Register(ActorSystem system) => system.Settings.InjectTopLevelFallback(Config);

    public override int Identifier => SerializerId;

    public override string Manifest(object o) => o switch
    {
        AcquireLease => "A",
        ReleaseLease => "R",
        ReadLease => "Q",
        LeaseRecord => "H",
        LeaseResult => "S",
        _ => throw new ArgumentException($"{o.GetType()} is not a lease message", nameof(o)),
    };

    public override byte[] ToBinary(object obj)
    {
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream))
        {
            switch (obj)
            {
                case AcquireLease acquire:
                    writer.Write(acquire.Name);
                    writer.Write(acquire.Owner);
                    writer.Write((long)acquire.TimeToLive.TotalMilliseconds);
                    break;
                case ReleaseLease release:
                    writer.Write(release.Name);
                    writer.Write(release.Owner);
                    break;
                case ReadLease read:
                    writer.Write(read.Name);
                    break;
                case LeaseRecord record:
                    Write(writer, record);
                    break;
                case LeaseResult result:
                    writer.Write(result.Succeeded);
                    writer.Write(result.Holder is not null);
                    if (result.Holder is { } holder)
                        Write(writer, holder);
                    break;
                default:
                    throw new ArgumentException($"{obj.GetType()} is not a lease message", nameof(obj));
            }
        }

        return stream.ToArray();
    }

    public override object FromBinary(byte[] bytes, string manifest)
    {
        try
        {
            using var reader = new BinaryReader(new MemoryStream(bytes));
            object message = manifest switch
            {
                "A" => new AcquireLease(reader.ReadString(), reader.ReadString(), TimeSpan.FromMilliseconds(reader.ReadInt64())),
                "R" => new ReleaseLease(reader.ReadString(), reader.ReadString()),
                "Q" => new ReadLease(reader.ReadString()),
                "H" => ReadRecord(reader),
                "S" => new LeaseResult(reader.ReadBoolean(), reader.ReadBoolean() ? ReadRecord(reader) : null),
                _ => throw new SerializationException($"unknown lease message manifest '{manifest}'"),
            };
            if (reader.BaseStream.Position != bytes.Length)
                throw new SerializationException($"{bytes.Length - reader.BaseStream.Position} bytes left after a lease message '{manifest}'");
            return message;
        }
        catch (Exception e) when (e is EndOfStreamException or IOException or FormatException or ArgumentException)
        {
            throw new SerializationException($"malformed lease message '{manifest}': {e.Message}", e);
        }
    }

    internal static void Write(BinaryWriter writer, LeaseRecord record)
    {
        writer.Write(record.Name);
        writer.Write(record.Owner);
        writer.Write(record.FencingToken);
        writer.Write(record.ExpiresAt.ToUnixTimeMilliseconds());
    }

    internal static LeaseRecord ReadRecord(BinaryReader reader) =>
        new(reader.ReadString(), reader.ReadString(), reader.ReadInt64(), DateTimeOffset.FromUnixTimeMilliseconds(reader.ReadInt64()));
}
