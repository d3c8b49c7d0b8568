using System.Buffers.Binary;
using System.Runtime.Serialization;

namespace RaftActors.StateMachine;

/// <summary>
/// What a node's snapshot holds, front to back: the node's client sessions, then the state
/// machine's own bytes to the end of the stream. RaftNode's snapshots and the simulator's are both
/// written and read here.
/// </summary>
/// <remarks>
/// <code>
/// magic "RAFTSM\0" (7) | sessions format version (1) | sessions length i32 (4)
/// | sessions (<see cref="ClientSessions.ToBinary"/>) | the state machine's bytes (<see cref="ISnapshotStateMachine.WriteSnapshotAsync"/>)
/// </code>
/// <para>The version byte is <see cref="ClientSessions.WriteVersion"/> when written; every
/// version up to it is read (<see cref="ClientSessions.FromBinary"/>).</para>
/// </remarks>
internal static class SnapshotContent
{
    private const int HeaderSize = 12;

    private static ReadOnlySpan<byte> Magic => "RAFTSM\0"u8;

    public static async Task WriteAsync(
        Stream destination, ClientSessions sessions, IClientReplyFormat replies, ISnapshotStateMachine stateMachine, CancellationToken cancellationToken)
    {
        var table = sessions.ToBinary(replies);
        var header = new byte[HeaderSize];
        Magic.CopyTo(header);
        header[7] = sessions.WriteVersion;
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(8), table.Length);
        await destination.WriteAsync(header, cancellationToken).ConfigureAwait(false);
        await destination.WriteAsync(table, cancellationToken).ConfigureAwait(false);
        await stateMachine.WriteSnapshotAsync(destination, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reads the client sessions; <paramref name="source"/> is left at the state machine's bytes.</summary>
    /// <exception cref="SerializationException">The content is not a node's snapshot.</exception>
    public static async Task<ClientSessions> ReadSessionsAsync(Stream source, IClientReplyFormat replies, CancellationToken cancellationToken)
    {
        var header = new byte[HeaderSize];
        if (await source.ReadAtLeastAsync(header, HeaderSize, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false) < HeaderSize ||
            !header.AsSpan(0, 7).SequenceEqual(Magic))
            throw new SerializationException("the snapshot does not start with a RaftActors snapshot header");
        var length = BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(8));
        if (length < 0)
            throw new SerializationException($"the snapshot's client sessions claim {length} bytes");
        var table = new byte[length];
        if (await source.ReadAtLeastAsync(table, length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false) < length)
            throw new SerializationException($"the snapshot ends inside its client sessions ({length} bytes)");
        return ClientSessions.FromBinary(table, replies, version: header[7]);
    }
}
