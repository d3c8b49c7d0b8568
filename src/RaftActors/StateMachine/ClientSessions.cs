using RaftActors.Messages;
using RaftActors.Serialization;

namespace RaftActors.StateMachine;

/// <summary>
/// The client sessions table (Ongaro's thesis §6.3): per client, the results of its most recent
/// commands, so that a retried command gets its first result instead of a second effect. It is
/// part of the replicated state — every node skips the same duplicates — and so part of every
/// snapshot: a node restored from a snapshot must not apply a retry the snapshot already holds.
/// </summary>
internal sealed class ClientSessions
{
    /// <summary>Results kept per client session, for retries of its most recent commands.</summary>
    public const int RememberedResultsPerClient = 64;

    private readonly Dictionary<string, Session> _sessions = new(StringComparer.Ordinal);

    public int Count => _sessions.Count;

    /// <summary>
    /// What a command of <paramref name="clientId"/> numbered <paramref name="sequence"/> gets without
    /// being applied: its earlier result when it is a retry, an unknown outcome when it is older than
    /// the results kept; null when it is to be applied.
    /// </summary>
    public IClientReply? Known(string clientId, long sequence)
    {
        if (!_sessions.TryGetValue(clientId, out var session))
            return null;
        if (session.Results.TryGetValue(sequence, out var earlier))
            return earlier;
        if (sequence <= session.HighestSequence - RememberedResultsPerClient)
        {
            // It may have been applied long ago, its result since forgotten: not applied now,
            // but whether it ever was cannot be told.
            return new CommandOutcomeUnknown(
                $"command {sequence} of client {clientId} is older than the last {RememberedResultsPerClient} this cluster remembers; it was not applied again");
        }

        return null;
    }

    public void Remember(string clientId, long sequence, IClientReply reply)
    {
        if (!_sessions.TryGetValue(clientId, out var session))
            _sessions[clientId] = session = new Session();
        session.Remember(sequence, reply);
    }

    /// <summary>
    /// The table in the snapshot format: varint session count, then per session its client id,
    /// highest sequence, varint result count and each result as its sequence, its manifest and its
    /// bytes in the protocol serializer's form. A result the serializer cannot write (its payload
    /// has no serializer) is kept as an unknown outcome: a retry then learns the command may have
    /// been applied, never that it was not.
    /// </summary>
    public byte[] ToBinary(RaftProtocolSerializer serializer)
    {
        var w = new WireWriter(64 + _sessions.Count * 32);
        w.Varint((ulong)_sessions.Count);
        foreach (var (clientId, session) in _sessions)
        {
            w.String(clientId, "client id");
            w.Long(session.HighestSequence);
            w.Varint((ulong)session.Results.Count);
            foreach (var (sequence, reply) in session.Results)
            {
                w.Long(sequence);
                byte[] bytes;
                string manifest;
                try
                {
                    bytes = serializer.ToBinary(reply);
                    manifest = serializer.Manifest(reply);
                }
                catch (Exception e)
                {
                    var unknown = new CommandOutcomeUnknown($"the result of command {sequence} could not be kept in a snapshot ({e.Message}); it was applied once");
                    bytes = serializer.ToBinary(unknown);
                    manifest = serializer.Manifest(unknown);
                }

                w.String(manifest, "result manifest");
                w.Bytes(bytes);
            }
        }

        return w.ToArray();
    }

    /// <summary>Reads a table that <see cref="ToBinary"/> wrote.</summary>
    /// <exception cref="System.Runtime.Serialization.SerializationException">The bytes are not such a table.</exception>
    public static ClientSessions FromBinary(byte[] bytes, RaftProtocolSerializer serializer)
    {
        var r = new WireReader(bytes, "the snapshot's client sessions");
        var sessions = new ClientSessions();
        var count = r.Count("session count", minItemSize: 3);
        for (var i = 0; i < count; i++)
        {
            var session = new Session();
            sessions._sessions[r.RequiredString("client id")] = session;
            session.HighestSequence = r.Long("highest sequence");
            var results = r.Count("result count", minItemSize: 3);
            for (var k = 0; k < results; k++)
            {
                var sequence = r.Long("sequence");
                var manifest = r.RequiredString("result manifest");
                var reply = serializer.FromBinary(r.Bytes("result").ToArray(), manifest) as IClientReply
                            ?? throw r.Malformed($"the result of command {sequence} is not a client reply (manifest '{manifest}')");
                session.Results[sequence] = reply;
            }
        }

        r.End();
        return sessions;
    }

    private sealed class Session
    {
        public long HighestSequence { get; set; }

        public Dictionary<long, IClientReply> Results { get; } = new();

        public void Remember(long sequence, IClientReply reply)
        {
            Results[sequence] = reply;
            if (sequence <= HighestSequence)
                return;

            // Forget what falls out of the window as it moves. Everything kept lies in the old
            // window (previous highest - window, previous highest], so that is all there is to scan.
            var forgetFrom = Math.Max(1, HighestSequence - RememberedResultsPerClient + 1);
            var forgetTo = Math.Min(sequence - RememberedResultsPerClient, HighestSequence);
            HighestSequence = sequence;
            for (var old = forgetFrom; old <= forgetTo; old++)
                Results.Remove(old);
        }
    }
}
