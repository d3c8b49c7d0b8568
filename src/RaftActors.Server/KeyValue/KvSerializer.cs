using System.Runtime.Serialization;
using System.Text;
using Akka.Actor;
using Akka.Serialization;

namespace RaftActors.Server.KeyValue;

/// <summary>
/// The key-value store's messages in a compact binary form: a one-letter manifest names the
/// record, the payload is its fields in order, each string as a presence byte, a 7-bit encoded
/// byte length and strict UTF-8. Only the records of <see cref="IKvMessage"/> can come out of it,
/// so a peer cannot make a node instantiate anything else. Malformed input raises
/// <see cref="SerializationException"/>.
/// </summary>
public sealed class KvSerializer(ExtendedActorSystem system) : SerializerWithStringManifest(system)
{
    /// <summary>The serializer's id, unique within the ActorSystem.</summary>
    public const int Id = 4242;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public override int Identifier => Id;

    public override string Manifest(object o) => o switch
    {
        Put => "P",
        Delete => "D",
        Cas => "C",
        Get => "G",
        DeleteResult => "d",
        CasResult => "c",
        GetResult => "g",
        _ => throw new ArgumentException($"{nameof(KvSerializer)} cannot serialize {o.GetType().FullName}"),
    };

    public override byte[] ToBinary(object obj)
    {
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, StrictUtf8, leaveOpen: true))
        {
            switch (obj)
            {
                case Put put:
                    Write(writer, put.Key);
                    Write(writer, put.Value);
                    break;
                case Delete delete:
                    Write(writer, delete.Key);
                    break;
                case Cas cas:
                    Write(writer, cas.Key);
                    Write(writer, cas.Expected);
                    Write(writer, cas.Value);
                    break;
                case Get get:
                    Write(writer, get.Key);
                    break;
                case DeleteResult deleted:
                    writer.Write(deleted.Existed);
                    break;
                case CasResult result:
                    writer.Write(result.Ok);
                    Write(writer, result.Current);
                    break;
                case GetResult result:
                    Write(writer, result.Value);
                    break;
                default:
                    throw new ArgumentException($"{nameof(KvSerializer)} cannot serialize {obj.GetType().FullName}");
            }
        }

        return stream.ToArray();
    }

    public override object FromBinary(byte[] bytes, string manifest)
    {
        try
        {
            using var reader = new BinaryReader(new MemoryStream(bytes, writable: false), StrictUtf8);
            object result = manifest switch
            {
                "P" => new Put(ReadRequired(reader), ReadRequired(reader)),
                "D" => new Delete(ReadRequired(reader)),
                "C" => new Cas(ReadRequired(reader), Read(reader), ReadRequired(reader)),
                "G" => new Get(ReadRequired(reader)),
                "d" => new DeleteResult(ReadBool(reader)),
                "c" => new CasResult(ReadBool(reader), Read(reader)),
                "g" => new GetResult(Read(reader)),
                _ => throw new SerializationException($"unknown key-value manifest '{manifest}'"),
            };
            if (reader.BaseStream.Position != bytes.Length)
                throw new SerializationException($"{bytes.Length - reader.BaseStream.Position} bytes left over after a key-value '{manifest}'");
            return result;
        }
        catch (Exception e) when (e is EndOfStreamException or IOException or DecoderFallbackException or FormatException)
        {
            throw new SerializationException($"malformed key-value '{manifest}' ({bytes.Length} bytes): {e.Message}", e);
        }
    }

    private static void Write(BinaryWriter writer, string? value)
    {
        writer.Write(value is not null);
        if (value is not null)
            writer.Write(value);
    }

    private static string? Read(BinaryReader reader) => ReadBool(reader) ? reader.ReadString() : null;

    private static string ReadRequired(BinaryReader reader) =>
        Read(reader) ?? throw new SerializationException("a required string is missing");

    private static bool ReadBool(BinaryReader reader) => reader.ReadByte() switch
    {
        0 => false,
        1 => true,
        var b => throw new SerializationException($"a boolean byte must be 0 or 1, got {b}"),
    };
}
