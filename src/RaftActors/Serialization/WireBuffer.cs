using System.Buffers;
using System.Runtime.Serialization;
using System.Text;
using RaftActors.Core;

namespace RaftActors.Serialization;

/// <summary>
/// Writes the fields of one protocol message front to back: varints (LEB128, as
/// <see cref="LogEntryFormat"/> writes them), strings that may be null, raw bytes, log entries.
/// </summary>
internal sealed class WireWriter
{
    // Strict: a string that is not valid UTF-16 fails to encode rather than being altered.
    internal static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly ArrayBufferWriter<byte> _buffer;

    public WireWriter(int initialCapacity = 64) => _buffer = new ArrayBufferWriter<byte>(initialCapacity);

    public void Byte(byte value)
    {
        _buffer.GetSpan(1)[0] = value;
        _buffer.Advance(1);
    }

    public void Varint(ulong value)
    {
        var written = LogEntryFormat.WriteVarint(_buffer.GetSpan(LogEntryFormat.MaxVarintLength), value);
        _buffer.Advance(written);
    }

    /// <summary>A <see cref="long"/> as the varint of its two's-complement bits: small non-negative values are short.</summary>
    public void Long(long value) => Varint((ulong)value);

    public void Bool(bool value) => Byte(value ? (byte)1 : (byte)0);

    /// <summary>A string that may be null: varint (UTF-8 byte count + 1), 0 for null, then the bytes.</summary>
    public void String(string? text, string field)
    {
        if (text is null)
        {
            Byte(0);
            return;
        }

        int count;
        try
        {
            count = Utf8.GetByteCount(text);
        }
        catch (EncoderFallbackException e)
        {
            throw new SerializationException($"the {field} is not valid UTF-16 and cannot be encoded as UTF-8", e);
        }

        Varint((ulong)count + 1);
        var written = Utf8.GetBytes(text, _buffer.GetSpan(count));
        _buffer.Advance(written);
    }

    /// <summary>A byte string: varint length, then the bytes.</summary>
    public void Bytes(ReadOnlySpan<byte> bytes)
    {
        Varint((ulong)bytes.Length);
        bytes.CopyTo(_buffer.GetSpan(bytes.Length));
        _buffer.Advance(bytes.Length);
    }

    /// <summary>A cluster configuration (or null) as <see cref="WireReader.Configuration"/> reads it.</summary>
    public void Configuration(ClusterConfiguration? configuration) =>
        Bytes(configuration is null ? [] : LogEntryFormat.ConfigurationToArray(configuration));

    public void Entry(LogEntry entry, int position)
    {
        try
        {
            LogEntryFormat.Write(_buffer, entry);
        }
        catch (ArgumentException e)
        {
            throw new SerializationException($"entry {position} (index {entry?.Index}) cannot be encoded: {e.Message}", e);
        }
    }

    public byte[] ToArray() => _buffer.WrittenSpan.ToArray();
}

/// <summary>
/// Reads the fields of one protocol message front to back. Every kind of malformed input —
/// cut off, overlong varint, length beyond the end, invalid UTF-8, bytes left over — raises a
/// <see cref="SerializationException"/> naming the message, the field and the byte offset.
/// </summary>
internal ref struct WireReader(ReadOnlySpan<byte> source, string message)
{
    private readonly ReadOnlySpan<byte> _source = source;

    public int Position { get; private set; }

    public readonly int Remaining => _source.Length - Position;

    public byte Byte(string field)
    {
        if (Position >= _source.Length)
            throw Malformed($"the input ends at byte offset {Position} where the {field} needs 1 more byte");
        return _source[Position++];
    }

    public bool Bool(string field)
    {
        var start = Position;
        return Byte(field) switch
        {
            0 => false,
            1 => true,
            var b => throw Malformed($"the {field} at byte offset {start} is {b}, not 0 or 1"),
        };
    }

    public ulong Varint(string field)
    {
        var start = Position;
        ulong value = 0;
        for (var shift = 0; ; shift += 7)
        {
            if (Position >= _source.Length)
                throw Malformed($"the {field} varint starting at byte offset {start} is cut off at the end of the input ({_source.Length} bytes)");
            var b = _source[Position++];
            if (shift == 63 && b > 1)
                throw Malformed($"the {field} varint starting at byte offset {start} overflows 64 bits");
            value |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
                return value;
        }
    }

    public long Long(string field) => (long)Varint(field);

    /// <summary>A count of items that each take at least <paramref name="minItemSize"/> bytes: it cannot exceed what remains.</summary>
    public int Count(string field, int minItemSize)
    {
        var start = Position;
        var count = Varint(field);
        if (count > (ulong)(Remaining / minItemSize))
            throw Malformed($"the {field} at byte offset {start} is {count}, more than the {Remaining} remaining bytes can hold");
        return (int)count;
    }

    public string? String(string field)
    {
        var start = Position;
        var tag = Varint(field + " length");
        if (tag == 0)
            return null;
        var bytes = Take(tag - 1, field, start);
        try
        {
            return WireWriter.Utf8.GetString(bytes);
        }
        catch (DecoderFallbackException e)
        {
            throw new SerializationException($"{message}: the {field} at byte offset {start} is not valid UTF-8", e);
        }
    }

    /// <summary>A string the message requires: null is malformed.</summary>
    public string RequiredString(string field)
    {
        var start = Position;
        return String(field) ?? throw Malformed($"the {field} at byte offset {start} is missing (null)");
    }

    public ReadOnlySpan<byte> Bytes(string field)
    {
        var start = Position;
        var length = Varint(field + " length");
        return Take(length, field, start);
    }

    public LogEntry Entry(int position)
    {
        var start = Position;
        try
        {
            var entry = LogEntryFormat.Read(_source[Position..], out var consumed);
            Position += consumed;
            return entry;
        }
        catch (FormatException e)
        {
            throw new SerializationException($"{message}: entry {position}, starting at byte offset {start}, is malformed: {e.Message}", e);
        }
    }

    /// <summary>A cluster configuration in LogEntryFormat's layout, length-prefixed; an empty one stands for null.</summary>
    public ClusterConfiguration? Configuration(string field)
    {
        var start = Position;
        var bytes = Bytes(field);
        if (bytes.IsEmpty)
            return null;
        try
        {
            return LogEntryFormat.ReadConfiguration(bytes);
        }
        catch (FormatException e)
        {
            throw new SerializationException($"{message}: the {field} at byte offset {start} is malformed: {e.Message}", e);
        }
    }

    /// <summary>Checks that the message used every byte.</summary>
    public readonly void End()
    {
        if (Position != _source.Length)
            throw Malformed($"{_source.Length - Position} unexpected bytes after the message, which ends at byte offset {Position}");
    }

    public readonly SerializationException Malformed(string what, Exception? cause = null) => new($"{message}: {what}", cause);

    private ReadOnlySpan<byte> Take(ulong length, string field, int start)
    {
        if (length > (ulong)Remaining)
            throw Malformed($"the {field} at byte offset {start} declares {length} bytes but only {Remaining} remain");
        var bytes = _source.Slice(Position, (int)length);
        Position += (int)length;
        return bytes;
    }
}
