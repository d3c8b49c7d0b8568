namespace RaftActors.Core;

/// <summary>
/// One entry of the replicated log: a client's <see cref="Command"/>, a new cluster
/// <see cref="Configuration"/> (thesis §4.1), or neither — the no-op a new leader appends to
/// commit the entries of earlier terms (§5.4.2, §8). Never both.
/// </summary>
public sealed record LogEntry
{
    // Named as the properties they set, as a positional record's would be.
    public LogEntry(long Index, long Term, EntryCommand? Command, ClusterConfiguration? Configuration = null)
    {
        if (Command is not null && Configuration is not null)
            throw new ArgumentException($"entry {Index} cannot hold both a command and a configuration");
        this.Index = Index;
        this.Term = Term;
        this.Command = Command;
        this.Configuration = Configuration;
    }

    public long Index { get; init; }

    public long Term { get; init; }

    public EntryCommand? Command { get; init; }

    /// <summary>The cluster's configuration from this entry on, when this entry changes it.</summary>
    public ClusterConfiguration? Configuration { get; init; }

    /// <summary>
    /// Cluster time when the leader appended this entry, in Unix milliseconds (see
    /// <see cref="RaftProtocol.Clock"/>: it continues from the previous leaders' stamps by a
    /// monotonic clock); null in entries written without one (older logs). The state machines take
    /// time from these stamps alone, so every replica sees the same time at the same index
    /// (thesis §6.3, session expiry).
    /// </summary>
    public long? Timestamp { get; init; }

    /// <summary>The client session policy from this entry on, when this entry sets it (a leader's no-op does).</summary>
    public SessionPolicy? SessionPolicy { get; init; }

    public LogPosition Position => new(Index, Term);

    /// <summary>Bytes this entry costs in a message or on disk, roughly: what batching limits count.</summary>
    public int ApproximateSize => 24 + (Command?.ApproximateSize ?? 0) + (Configuration?.Members.Sum(m => 8 + m.Id.Length + (m.Address?.Length ?? 0)) ?? 0);

}

/// <summary>
/// A client's command as stored in the log: serialized by Akka serialization (serializer id,
/// manifest, bytes), so any node can deserialize it, plus the client session that makes a
/// retried command apply at most once (Ongaro's thesis §6.3).
/// </summary>
public sealed class EntryCommand : IEquatable<EntryCommand>
{
    public EntryCommand(int serializerId, string manifest, byte[] data, string? clientId = null, long sequence = 0)
    {
        SerializerId = serializerId;
        Manifest = manifest;
        Data = data;
        ClientId = clientId;
        Sequence = sequence;
    }

    public int SerializerId { get; }

    public string Manifest { get; }

    public byte[] Data { get; }

    /// <summary>The client session's id, or null for a command outside any session.</summary>
    public string? ClientId { get; }

    /// <summary>The command's number within its client session; meaningful only with a <see cref="ClientId"/>.</summary>
    public long Sequence { get; }

    public int ApproximateSize => 16 + Manifest.Length + Data.Length + (ClientId?.Length ?? 0);

    public bool Equals(EntryCommand? other) =>
        other is not null && SerializerId == other.SerializerId && Manifest == other.Manifest &&
        ClientId == other.ClientId && Sequence == other.Sequence && Data.AsSpan().SequenceEqual(other.Data);

    public override bool Equals(object? obj) => Equals(obj as EntryCommand);

    public override int GetHashCode() => HashCode.Combine(SerializerId, Manifest, Data.Length, ClientId, Sequence);

    public override string ToString() => $"Command({Manifest}, {Data.Length} bytes{(ClientId is null ? "" : $", {ClientId}#{Sequence}")})";
}
