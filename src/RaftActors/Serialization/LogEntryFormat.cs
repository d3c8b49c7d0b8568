using System.Buffers;
using System.Text;
using RaftActors.Core;

namespace RaftActors.Serialization;

/// <summary>
/// The compact binary encoding of one <see cref="LogEntry"/>, shared by the write-ahead log and
/// (later) the network serializer, so an entry has a single byte form wherever it travels.
/// </summary>
/// <remarks>
/// <para>Layout, in order. "varint" is an unsigned LEB128 integer of at most 10 bytes (7 bits a
/// byte, low group first, high bit set on every byte but the last); a <see cref="long"/> is
/// written as the varint of its two's-complement bits, so every value round-trips and the
/// usual small non-negative ones take one or two bytes.</para>
/// <code>
/// flags        1 byte   bit 0: a command follows (clear: the no-op entry)
///                       bit 1: the command has a client id (only with bit 0)
///                       bit 2: a cluster configuration follows (never with bit 0)
///                       bit 3: the leader's time stamp follows
///                       bit 4: a client session policy follows
///                       bit 5: the policy has a minimum idle age (only with bit 4)
///                       bits 6..7: zero (reserved; a reader refuses anything else)
/// index        varint
/// term         varint
/// -- only when bit 0 is set --
/// serializerId varint   zigzag-encoded int (negative ids stay short)
/// manifest     varint byte count, then that many bytes of UTF-8 (may be empty)
/// data         varint byte count, then the bytes (may be empty)
/// clientId     varint byte count, then UTF-8; present only when bit 1 is set
/// sequence     varint
/// -- only when bit 2 is set: the configuration --
/// count        varint   number of members, then for each, in id order:
///   flags      1 byte   bit 0: votes; bit 1: an address follows; bits 2..7: zero
///   id         varint byte count, then UTF-8
///   address    varint byte count, then UTF-8; present only when bit 1 is set
/// -- only when bit 3 is set --
/// timestamp    varint   cluster time in Unix milliseconds, as the leader stamped it
/// -- only when bit 4 is set: the session policy --
/// expiry       varint   milliseconds, at least 1
/// max          varint   sessions, 1 to 2^31-1
/// minIdle      varint   milliseconds, 1 to expiry; present only when bit 5 is set (absent: 0)
/// </code>
/// <para>Bits 3, 4 and 5 are optional: an entry without them (the no-op of an older leader, any
/// entry of an older log) is as valid as ever. A policy without a minimum idle age is written
/// without bit 5, byte for byte as before bit 5 existed, so a leader whose cluster includes a node
/// that does not read bit 5 writes its policy without one (<c>RaftProtocol.SessionMinIdle</c>).</para>
/// <para>The encoding carries no length of its own and no checksum: the container (a WAL record,
/// a message frame) delimits and guards it. <see cref="Read(ReadOnlySpan{byte})"/> takes exactly
/// one encoding; <see cref="Read(ReadOnlySpan{byte}, out int)"/> reads one from the front of a
/// longer buffer. Malformed input of any kind raises <see cref="FormatException"/> naming what
/// is wrong and at which byte offset, never an index or overflow exception.</para>
/// </remarks>
internal static class LogEntryFormat
{
    private const byte HasCommand = 1;
    private const byte HasClientId = 2;
    private const byte HasConfiguration = 4;
    private const byte HasTimestamp = 8;
    private const byte HasSessionPolicy = 16;
    private const byte HasSessionMinIdle = 32;
    private const byte KnownFlags = HasCommand | HasClientId | HasConfiguration | HasTimestamp | HasSessionPolicy | HasSessionMinIdle;
    private const byte MemberVotes = 1;
    private const byte MemberHasAddress = 2;
    private const byte KnownMemberFlags = MemberVotes | MemberHasAddress;

    /// <summary>The longest a varint gets: 64 bits in groups of 7.</summary>
    public const int MaxVarintLength = 10;

    // Strict: invalid UTF-16 in a string or invalid UTF-8 in the bytes raises rather than being
    // silently replaced, which would break the round trip.
    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>The exact number of bytes <paramref name="entry"/> encodes to.</summary>
    /// <exception cref="ArgumentException">A string of the entry is not valid UTF-16, or a field is null.</exception>
    public static int GetSize(LogEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        long size = 1 + VarintSize((ulong)entry.Index) + VarintSize((ulong)entry.Term);
        if (entry.Command is { } command)
        {
            CheckCommand(command);
            var manifest = ByteCount(command.Manifest, "manifest");
            size += VarintSize(ZigZag(command.SerializerId))
                    + VarintSize((uint)manifest) + manifest
                    + VarintSize((uint)command.Data.Length) + command.Data.Length
                    + VarintSize((ulong)command.Sequence);
            if (command.ClientId is { } clientId)
            {
                var client = ByteCount(clientId, "client id");
                size += VarintSize((uint)client) + client;
            }
        }

        if (entry.Configuration is { } configuration)
            size += GetConfigurationSize(configuration);
        if (entry.Timestamp is { } timestamp)
            size += VarintSize((ulong)timestamp);
        if (entry.SessionPolicy is { } policy)
        {
            size += VarintSize((ulong)policy.ExpiryMilliseconds) + VarintSize((ulong)policy.MaxSessions);
            if (policy.MinIdleMilliseconds > 0)
                size += VarintSize((ulong)policy.MinIdleMilliseconds);
        }

        if (size > Array.MaxLength)
            throw new ArgumentException($"entry {entry.Index} would encode to {size} bytes, more than an array holds");
        return (int)size;
    }

    /// <summary>Encodes <paramref name="entry"/> at the start of <paramref name="destination"/>.</summary>
    /// <returns>The number of bytes written, <see cref="GetSize"/>'s answer.</returns>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than the encoding, or the entry cannot be encoded.</exception>
    public static int Write(Span<byte> destination, LogEntry entry)
    {
        var size = GetSize(entry);
        if (destination.Length < size)
            throw new ArgumentException($"the entry takes {size} bytes but the destination holds only {destination.Length}", nameof(destination));

        var command = entry.Command;
        var flags = command is null ? (byte)0 : command.ClientId is null ? HasCommand : (byte)(HasCommand | HasClientId);
        if (entry.Configuration is not null)
            flags |= HasConfiguration;
        if (entry.Timestamp is not null)
            flags |= HasTimestamp;
        if (entry.SessionPolicy is not null)
            flags |= HasSessionPolicy;
        if (entry.SessionPolicy is { MinIdleMilliseconds: > 0 })
            flags |= HasSessionMinIdle;
        destination[0] = flags;
        var at = 1;
        at += WriteVarint(destination[at..], (ulong)entry.Index);
        at += WriteVarint(destination[at..], (ulong)entry.Term);
        if (command is not null)
        {
            at += WriteVarint(destination[at..], ZigZag(command.SerializerId));
            at += WriteString(destination[at..], command.Manifest);
            at += WriteVarint(destination[at..], (uint)command.Data.Length);
            command.Data.CopyTo(destination[at..]);
            at += command.Data.Length;
            if (command.ClientId is not null)
                at += WriteString(destination[at..], command.ClientId);
            at += WriteVarint(destination[at..], (ulong)command.Sequence);
        }

        if (entry.Configuration is { } configuration)
            at += WriteConfiguration(destination[at..], configuration);
        if (entry.Timestamp is { } timestamp)
            at += WriteVarint(destination[at..], (ulong)timestamp);
        if (entry.SessionPolicy is { } policy)
        {
            at += WriteVarint(destination[at..], (ulong)policy.ExpiryMilliseconds);
            at += WriteVarint(destination[at..], (ulong)policy.MaxSessions);
            if (policy.MinIdleMilliseconds > 0)
                at += WriteVarint(destination[at..], (ulong)policy.MinIdleMilliseconds);
        }

        return at;
    }

    /// <summary>The exact number of bytes <paramref name="configuration"/> encodes to (the layout after an entry's bit 2).</summary>
    public static int GetConfigurationSize(ClusterConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var size = VarintSize((ulong)configuration.Members.Count);
        foreach (var member in configuration.Members)
        {
            var id = ByteCount(member.Id, "member id");
            size += 1 + VarintSize((uint)id) + id;
            if (member.Address is { } address)
            {
                var bytes = ByteCount(address, "member address");
                size += VarintSize((uint)bytes) + bytes;
            }
        }

        return size;
    }

    /// <summary>Encodes a configuration alone (in a snapshot's header, or a message).</summary>
    public static byte[] ConfigurationToArray(ClusterConfiguration configuration)
    {
        var bytes = new byte[GetConfigurationSize(configuration)];
        WriteConfiguration(bytes, configuration);
        return bytes;
    }

    /// <summary>Decodes a configuration that fills <paramref name="source"/> exactly.</summary>
    /// <exception cref="FormatException">The bytes are not one well-formed configuration.</exception>
    public static ClusterConfiguration ReadConfiguration(ReadOnlySpan<byte> source)
    {
        var reader = new Reader(source);
        var configuration = ReadConfiguration(ref reader);
        if (reader.Position != source.Length)
            throw new FormatException($"configuration: {source.Length - reader.Position} unexpected bytes after it, which ends at byte offset {reader.Position}");
        return configuration;
    }

    private static int WriteConfiguration(Span<byte> destination, ClusterConfiguration configuration)
    {
        var at = WriteVarint(destination, (ulong)configuration.Members.Count);
        foreach (var member in configuration.Members)
        {
            destination[at++] = (byte)((member.IsVoter ? MemberVotes : 0) | (member.Address is null ? 0 : MemberHasAddress));
            at += WriteString(destination[at..], member.Id);
            if (member.Address is not null)
                at += WriteString(destination[at..], member.Address);
        }

        return at;
    }

    private static ClusterConfiguration ReadConfiguration(ref Reader reader)
    {
        var start = reader.Position;
        var count = reader.Varint("member count");
        if (count > (ulong)(reader.Remaining / 2))
            throw new FormatException($"configuration: the member count at byte offset {start} ({count}) exceeds what the remaining bytes can hold");
        var members = new List<ClusterMember>((int)count);
        for (var i = 0UL; i < count; i++)
        {
            var at = reader.Position;
            var flags = reader.Byte("member flags");
            if ((flags & ~KnownMemberFlags) != 0)
                throw new FormatException($"configuration: unknown member flags 0x{flags:X2} at byte offset {at}");
            var id = reader.String("member id");
            if (string.IsNullOrWhiteSpace(id))
                throw new FormatException($"configuration: the member id at byte offset {at + 1} is empty");
            var address = (flags & MemberHasAddress) != 0 ? reader.String("member address") : null;
            members.Add(new ClusterMember(id, address, (flags & MemberVotes) != 0));
        }

        try
        {
            return new ClusterConfiguration(members);
        }
        catch (ArgumentException e)
        {
            throw new FormatException($"configuration at byte offset {start}: {e.Message}", e);
        }
    }

    /// <summary>Appends the encoding of <paramref name="entry"/> to <paramref name="writer"/>.</summary>
    /// <returns>The number of bytes written.</returns>
    public static int Write(IBufferWriter<byte> writer, LogEntry entry)
    {
        ArgumentNullException.ThrowIfNull(writer);
        var size = GetSize(entry);
        var written = Write(writer.GetSpan(size), entry);
        writer.Advance(written);
        return written;
    }

    /// <summary>Encodes <paramref name="entry"/> into a new array.</summary>
    public static byte[] ToArray(LogEntry entry)
    {
        var bytes = new byte[GetSize(entry)];
        Write(bytes, entry);
        return bytes;
    }

    /// <summary>Decodes one entry that fills <paramref name="source"/> exactly.</summary>
    /// <exception cref="FormatException">The bytes are not one well-formed entry (also when bytes are left over).</exception>
    public static LogEntry Read(ReadOnlySpan<byte> source)
    {
        var entry = Read(source, out var consumed);
        if (consumed != source.Length)
            throw new FormatException($"log entry: {source.Length - consumed} unexpected bytes after the entry, which ends at byte offset {consumed}");
        return entry;
    }

    /// <summary>Decodes one entry from the front of <paramref name="source"/>.</summary>
    /// <param name="source">Bytes that start with an encoded entry; more may follow.</param>
    /// <param name="bytesConsumed">How many bytes the entry took.</param>
    /// <exception cref="FormatException">The bytes do not start with a well-formed entry.</exception>
    public static LogEntry Read(ReadOnlySpan<byte> source, out int bytesConsumed)
    {
        var reader = new Reader(source);
        var flags = reader.Byte("flags");
        if ((flags & ~KnownFlags) != 0)
            throw new FormatException($"log entry: unknown flags 0x{flags:X2} at byte offset 0 (not a log entry, or a newer format)");
        if ((flags & HasCommand) == 0 && (flags & HasClientId) != 0)
            throw new FormatException("log entry: flags at byte offset 0 give a client id to an entry without a command");
        if ((flags & HasCommand) != 0 && (flags & HasConfiguration) != 0)
            throw new FormatException("log entry: flags at byte offset 0 give one entry both a command and a configuration");
        if ((flags & HasSessionPolicy) == 0 && (flags & HasSessionMinIdle) != 0)
            throw new FormatException("log entry: flags at byte offset 0 give a minimum idle age to an entry without a session policy");

        var index = (long)reader.Varint("index");
        var term = (long)reader.Varint("term");
        EntryCommand? command = null;
        if ((flags & HasCommand) != 0)
        {
            var serializerId = reader.ZigZagInt32("serializer id");
            var manifest = reader.String("manifest");
            var data = reader.Bytes("data").ToArray();
            var clientId = (flags & HasClientId) != 0 ? reader.String("client id") : null;
            var sequence = (long)reader.Varint("sequence");
            command = new EntryCommand(serializerId, manifest, data, clientId, sequence);
        }

        var configuration = (flags & HasConfiguration) != 0 ? ReadConfiguration(ref reader) : null;
        long? timestamp = (flags & HasTimestamp) != 0 ? (long)reader.Varint("timestamp") : null;
        var policy = (flags & HasSessionPolicy) != 0 ? ReadSessionPolicy(ref reader, (flags & HasSessionMinIdle) != 0) : null;
        bytesConsumed = reader.Position;
        return new LogEntry(index, term, command, configuration) { Timestamp = timestamp, SessionPolicy = policy };
    }

    private static SessionPolicy ReadSessionPolicy(ref Reader reader, bool hasMinIdle)
    {
        var start = reader.Position;
        var expiry = reader.Varint("session expiry");
        var max = reader.Varint("session maximum");
        var minIdle = hasMinIdle ? reader.Varint("session minimum idle age") : 0;
        if (expiry is 0 or > long.MaxValue / TimeSpan.TicksPerMillisecond)
            throw new FormatException($"log entry: the session expiry at byte offset {start} ({expiry} ms) is out of range");
        if (max is 0 or > int.MaxValue)
            throw new FormatException($"log entry: the session maximum after byte offset {start} ({max}) is out of range");
        if (hasMinIdle && (minIdle == 0 || minIdle > expiry))
            throw new FormatException($"log entry: the session minimum idle age after byte offset {start} ({minIdle} ms) is not from 1 ms to the expiry ({expiry} ms)");
        return new SessionPolicy(
            TimeSpan.FromTicks((long)expiry * TimeSpan.TicksPerMillisecond), (int)max, TimeSpan.FromTicks((long)minIdle * TimeSpan.TicksPerMillisecond));
    }

    private static void CheckCommand(EntryCommand command)
    {
        if (command.Manifest is null)
            throw new ArgumentException("the command's manifest is null; use an empty string for none");
        if (command.Data is null)
            throw new ArgumentException("the command's data is null; use an empty array for none");
    }

    private static int ByteCount(string text, string what)
    {
        try
        {
            return Utf8.GetByteCount(text);
        }
        catch (EncoderFallbackException e)
        {
            throw new ArgumentException($"the {what} is not valid UTF-16 and cannot be encoded as UTF-8", e);
        }
    }

    private static int WriteString(Span<byte> destination, string text)
    {
        var count = Utf8.GetByteCount(text);
        var at = WriteVarint(destination, (uint)count);
        return at + Utf8.GetBytes(text, destination[at..]);
    }

    private static ulong ZigZag(int value) => (uint)((value << 1) ^ (value >> 31));

    internal static int VarintSize(ulong value)
    {
        var size = 1;
        while (value >= 0x80)
        {
            value >>= 7;
            size++;
        }

        return size;
    }

    internal static int WriteVarint(Span<byte> destination, ulong value)
    {
        var at = 0;
        while (value >= 0x80)
        {
            destination[at++] = (byte)(value | 0x80);
            value >>= 7;
        }

        destination[at++] = (byte)value;
        return at;
    }

    /// <summary>Reads fields front to back, turning every kind of malformed input into a <see cref="FormatException"/>.</summary>
    private ref struct Reader(ReadOnlySpan<byte> source)
    {
        private readonly ReadOnlySpan<byte> _source = source;

        public int Position { get; private set; }

        public readonly int Remaining => _source.Length - Position;

        public byte Byte(string field)
        {
            if (Position >= _source.Length)
                throw Truncated(field, 1);
            return _source[Position++];
        }

        public ulong Varint(string field)
        {
            var start = Position;
            ulong value = 0;
            for (var shift = 0; ; shift += 7)
            {
                if (Position >= _source.Length)
                    throw new FormatException(
                        $"log entry: the {field} varint starting at byte offset {start} is cut off at the end of the input ({_source.Length} bytes)");
                var b = _source[Position++];
                if (shift == 63 && b > 1)
                    throw new FormatException($"log entry: the {field} varint starting at byte offset {start} overflows 64 bits");
                value |= (ulong)(b & 0x7F) << shift;
                if ((b & 0x80) == 0)
                    return value;
            }
        }

        public int ZigZagInt32(string field)
        {
            var start = Position;
            var raw = Varint(field);
            if (raw > uint.MaxValue)
                throw new FormatException($"log entry: the {field} at byte offset {start} does not fit 32 bits ({raw})");
            var value = (uint)raw;
            return (int)(value >> 1) ^ -(int)(value & 1);
        }

        public ReadOnlySpan<byte> Bytes(string field)
        {
            var start = Position;
            var length = Varint(field + " length");
            var left = _source.Length - Position;
            if (length > (ulong)left)
                throw new FormatException(
                    $"log entry: the {field} at byte offset {start} declares {length} bytes but only {left} remain");
            var bytes = _source.Slice(Position, (int)length);
            Position += (int)length;
            return bytes;
        }

        public string String(string field)
        {
            var start = Position;
            var bytes = Bytes(field);
            try
            {
                return Utf8.GetString(bytes);
            }
            catch (DecoderFallbackException e)
            {
                throw new FormatException($"log entry: the {field} at byte offset {start} is not valid UTF-8", e);
            }
        }

        private readonly FormatException Truncated(string field, int needed) =>
            new($"log entry: the input ends at byte offset {Position} where the {field} needs {needed} more byte(s)");
    }
}
