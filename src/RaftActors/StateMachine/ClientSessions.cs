using RaftActors.Core;
using RaftActors.Messages;
using RaftActors.Serialization;

namespace RaftActors.StateMachine;

/// <summary>
/// How a <see cref="ClientSessions"/> table writes the results it keeps into a snapshot: RaftNode
/// uses its protocol serializer (whose methods these are), the simulator a format of its own.
/// </summary>
internal interface IClientReplyFormat
{
    string Manifest(object o);

    byte[] ToBinary(object obj);

    object FromBinary(byte[] bytes, string manifest);
}

/// <summary>
/// The client sessions table (Ongaro's thesis §6.3): per client, the results of its most recent
/// commands, so that a retried command gets its first result instead of a second effect. It is
/// part of the replicated state — every node skips the same duplicates — and so part of every
/// snapshot: a node restored from a snapshot must not apply a retry the snapshot already holds.
/// </summary>
/// <remarks>
/// <para>Sessions do not live forever, and every replica forgets the same ones at the same index:
/// time is the highest leader stamp applied so far (<see cref="LogEntry.Timestamp"/>; monotone, so a
/// leader with a slower clock cannot move it backwards), a session idle longer than the
/// policy's expiry by that time is forgotten, and beyond the policy's maximum the least recently
/// used are — but never one idle less than the policy's minimum idle age, since a client may
/// still be retrying into it. The policy itself comes from the log (<see cref="LogEntry.SessionPolicy"/>),
/// never from this node's settings.</para>
/// <para>A command numbered 1 on an unknown session opens it; any other number on an unknown
/// session is refused with <see cref="SessionExpired"/>, certainly not applied, since its session
/// may have been forgotten with the results that would tell a retry from a new command. A
/// command that would open a session while the table is full of sessions too young to evict is
/// refused with <see cref="TooManySessions"/>, certainly not applied: were an older session
/// evicted instead, a retry of that session's first command, logged twice (once by each of two
/// leaders), would open it again and apply twice.</para>
/// <para>It does no I/O and knows no state machine: RaftNode's applier and the simulator's
/// key-value store both keep their sessions in it.</para>
/// </remarks>
internal sealed class ClientSessions
{
    /// <summary>Results kept per client session, for retries of its most recent commands.</summary>
    public const int RememberedResultsPerClient = 64;

    /// <summary>
    /// The table's newest snapshot format: 1 had neither time nor policy; 2 has both; 3 adds the
    /// policy's minimum idle age. A table whose policy has none is written in format 2 (<see cref="WriteVersion"/>),
    /// which nodes of the previous release read.
    /// </summary>
    public const byte FormatVersion = 3;

    private readonly Dictionary<string, LinkedListNode<Session>> _sessions = new(StringComparer.Ordinal);

    // Least recently used first. Activity is stamped with Now, which never decreases, so this
    // order is also the order of last activity: expiry and the cap both take from the front.
    private readonly LinkedList<Session> _byActivity = new();

    public int Count => _sessions.Count;

    /// <summary>The highest leader stamp applied so far, in Unix milliseconds; null before the first.</summary>
    public long? Now { get; private set; }

    /// <summary>The policy in force: the last one the log carried, or the built-in default.</summary>
    public SessionPolicy Policy { get; private set; } = SessionPolicy.Initial;

    /// <summary>The format <see cref="ToBinary"/> writes: the oldest that holds the policy.</summary>
    public byte WriteVersion => Policy.MinIdle == TimeSpan.Zero ? (byte)2 : FormatVersion;

    /// <summary>
    /// Applies a committed entry, in log order: first its time stamp and policy (and the expiry they
    /// bring), then, for a command, <paramref name="execute"/> (with its index) — unless its session answers for it:
    /// a retry gets its first result, a command of an unknown session <see cref="SessionExpired"/>,
    /// a command that would open a session the table has no room for <see cref="TooManySessions"/>.
    /// </summary>
    /// <returns>The command's answer; null for an entry without a command.</returns>
    public IClientReply? Apply(LogEntry entry, Func<long, EntryCommand, IClientReply> execute)
    {
        Advance(entry);
        if (entry.Command is not { } command)
            return null;
        if (command.ClientId is not { } clientId)
            return execute(entry.Index, command);
        if (Known(clientId, command.Sequence, entry.Index) is { } known)
            return known;
        var reply = execute(entry.Index, command);
        Remember(clientId, command.Sequence, reply);
        return reply;
    }

    /// <summary>
    /// Brings time forward with the entry's stamp and sets the policy it carries; then the sessions
    /// idle too long or beyond the maximum are forgotten.
    /// </summary>
    private void Advance(LogEntry entry)
    {
        if (entry.SessionPolicy is { } policy)
            Policy = policy;
        if (entry.Timestamp is { } stamp && (Now is null || stamp > Now))
        {
            // Activity before the first stamp (an older log, an older snapshot) has no time of its
            // own: it counts as at the first stamp, so those sessions get a full expiry too.
            if (Now is null)
            {
                foreach (var session in _byActivity)
                    session.LastActive = stamp;
            }

            Now = stamp;
        }

        var idleSince = Now - Policy.ExpiryMilliseconds;
        while (_byActivity.First is { } oldest && (oldest.Value.LastActive < idleSince || (_sessions.Count > Policy.MaxSessions && Evictable(oldest))))
            Forget(oldest);
    }

    /// <summary>Whether the cap may evict <paramref name="node"/>: it has been idle at least the policy's minimum idle age.</summary>
    private bool Evictable(LinkedListNode<Session> node) => (Now ?? 0) - node.Value.LastActive >= Policy.MinIdleMilliseconds;

    /// <summary>
    /// What a command of <paramref name="clientId"/> numbered <paramref name="sequence"/>, at
    /// <paramref name="index"/>, gets without being applied: its earlier result when it is a retry,
    /// an unknown outcome when it is older than the results kept, <see cref="SessionExpired"/> when
    /// its session is unknown and it does not open one, <see cref="TooManySessions"/> when it would
    /// open one but the table is full of sessions too young to evict; null when it is to be
    /// applied. A command of a known session counts as its activity.
    /// </summary>
    private IClientReply? Known(string clientId, long sequence, long index)
    {
        if (!_sessions.TryGetValue(clientId, out var node))
        {
            if (sequence > 1)
                return new SessionExpired(index, $"client session {clientId} is unknown (expired, evicted, or never opened); command {sequence} was not applied");
            if (_sessions.Count >= Policy.MaxSessions && !Evictable(_byActivity.First!))
            {
                return new TooManySessions(index,
                    $"the cluster holds {_sessions.Count} client sessions (raft.sessions.max {Policy.MaxSessions}), none idle for {Policy.MinIdleMilliseconds} ms " +
                    $"(raft.sessions.min-idle); client session {clientId} was not opened and its command not applied");
            }

            return null;
        }

        Touch(node);
        var session = node.Value;
        if (session.TryGetResult(sequence, out var earlier))
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

    /// <summary>
    /// Records the result of a command just applied, opening its session if it is new (and evicting
    /// beyond the maximum the sessions old enough to be evicted: <see cref="Known"/> made sure there is room).
    /// </summary>
    public void Remember(string clientId, long sequence, IClientReply reply)
    {
        if (!_sessions.TryGetValue(clientId, out var node))
        {
            while (_sessions.Count >= Policy.MaxSessions && _byActivity.First is { } oldest && Evictable(oldest))
                Forget(oldest);
            node = _byActivity.AddLast(new Session(clientId));
            _sessions[clientId] = node;
        }

        Touch(node);
        node.Value.Remember(sequence, reply);
    }

    private void Touch(LinkedListNode<Session> node)
    {
        node.Value.LastActive = Now ?? 0;
        if (node != _byActivity.Last)
        {
            _byActivity.Remove(node);
            _byActivity.AddLast(node);
        }
    }

    private void Forget(LinkedListNode<Session> node)
    {
        _byActivity.Remove(node);
        _sessions.Remove(node.Value.ClientId);
    }

    /// <summary>
    /// The table in the snapshot format <see cref="WriteVersion"/>: whether time has begun and
    /// then the time, the policy (expiry in milliseconds, maximum, and in format 3 the minimum idle
    /// age in milliseconds), varint session count, then per
    /// session from least to most recently used its client id, its last activity, highest sequence,
    /// varint result count and each result as its sequence, its manifest and its bytes in the
    /// reply format's form. A result the format cannot write (its payload has no serializer)
    /// is kept as an unknown outcome: a retry then learns the command may have been
    /// applied, never that it was not.
    /// </summary>
    public byte[] ToBinary(IClientReplyFormat format)
    {
        var w = new WireWriter(64 + _sessions.Count * 32);
        w.Bool(Now is not null);
        if (Now is { } now)
            w.Long(now);
        w.Long(Policy.ExpiryMilliseconds);
        w.Varint((ulong)Policy.MaxSessions);
        if (WriteVersion >= 3)
            w.Long(Policy.MinIdleMilliseconds);
        w.Varint((ulong)_sessions.Count);
        foreach (var session in _byActivity)
        {
            w.String(session.ClientId, "client id");
            w.Long(session.LastActive);
            w.Long(session.HighestSequence);
            w.Varint((ulong)session.ResultCount);
            // In sequence order, so that equal tables give equal bytes whatever their history.
            foreach (var (sequence, reply) in session.Results())
            {
                w.Long(sequence);
                byte[] bytes;
                string manifest;
                try
                {
                    bytes = format.ToBinary(reply);
                    manifest = format.Manifest(reply);
                }
                catch (Exception e)
                {
                    var unknown = new CommandOutcomeUnknown($"the result of command {sequence} could not be kept in a snapshot ({e.Message}); it was applied once");
                    bytes = format.ToBinary(unknown);
                    manifest = format.Manifest(unknown);
                }

                w.String(manifest, "result manifest");
                w.Bytes(bytes);
            }
        }

        return w.ToArray();
    }

    /// <summary>
    /// Reads a table that <see cref="ToBinary"/> wrote, in <paramref name="version"/>'s format:
    /// version 1 (written before sessions expired) has no time, no policy and no activity; its
    /// sessions count as active at the first stamp applied after it, under the initial policy.
    /// Version 2 has no minimum idle age: its policy has none.
    /// </summary>
    /// <exception cref="System.Runtime.Serialization.SerializationException">The bytes are not such a table.</exception>
    public static ClientSessions FromBinary(byte[] bytes, IClientReplyFormat format, byte version)
    {
        var r = new WireReader(bytes, "the snapshot's client sessions");
        var sessions = new ClientSessions();
        if (version is < 1 or > FormatVersion)
            throw r.Malformed($"format version {version} is not one this node reads (1 to {FormatVersion}); it was written by a newer version");
        if (version >= 2)
        {
            sessions.Now = r.Bool("whether time has begun") ? r.Long("now") : null;
            var expiry = r.Long("session expiry");
            var max = r.Varint("session maximum");
            var minIdle = version >= 3 ? r.Long("session minimum idle age") : 0;
            try
            {
                sessions.Policy = new SessionPolicy(
                    TimeSpan.FromTicks(checked(expiry * TimeSpan.TicksPerMillisecond)), checked((int)max), TimeSpan.FromTicks(checked(minIdle * TimeSpan.TicksPerMillisecond)));
            }
            catch (Exception e) when (e is ArgumentOutOfRangeException or OverflowException)
            {
                throw r.Malformed($"the session policy ({expiry} ms, at most {max}, minimum idle {minIdle} ms) is out of range", e);
            }
        }

        var count = r.Count("session count", minItemSize: 3);
        for (var i = 0; i < count; i++)
        {
            var session = new Session(r.RequiredString("client id"));
            if (version >= 2)
                session.LastActive = r.Long("last activity");
            session.HighestSequence = r.Long("highest sequence");
            var results = r.Count("result count", minItemSize: 3);
            for (var k = 0; k < results; k++)
            {
                var sequence = r.Long("sequence");
                var manifest = r.RequiredString("result manifest");
                var reply = format.FromBinary(r.Bytes("result").ToArray(), manifest) as IClientReply
                            ?? throw r.Malformed($"the result of command {sequence} is not a client reply (manifest '{manifest}')");
                session.Restore(sequence, reply);
            }

            if (sessions._sessions.ContainsKey(session.ClientId))
                throw r.Malformed($"client session {session.ClientId} appears twice");
            sessions._sessions[session.ClientId] = sessions._byActivity.AddLast(session);
        }

        r.End();
        return sessions;
    }

    /// <summary>
    /// One client's session. Most sessions hold one result (an HTTP write's session has one command),
    /// so the first result lives in two fields and a dictionary is made only for a second.
    /// </summary>
    private sealed class Session(string clientId)
    {
        private long _onlySequence;
        private IClientReply? _only;
        private Dictionary<long, IClientReply>? _results;

        public string ClientId { get; } = clientId;

        /// <summary>The table's time (Unix milliseconds) at this session's last command.</summary>
        public long LastActive { get; set; }

        public long HighestSequence { get; set; }

        public int ResultCount => _results?.Count ?? (_only is null ? 0 : 1);

        public bool TryGetResult(long sequence, out IClientReply reply)
        {
            if (_results is not null)
                return _results.TryGetValue(sequence, out reply!);
            reply = _only!;
            return _only is not null && _onlySequence == sequence;
        }

        /// <summary>The results kept, in sequence order.</summary>
        public IEnumerable<KeyValuePair<long, IClientReply>> Results()
        {
            if (_results is not null)
                return _results.OrderBy(r => r.Key);
            return _only is null ? [] : [new(_onlySequence, _only)];
        }

        /// <summary>Keeps a result as read from a snapshot (the window was applied when it was written).</summary>
        public void Restore(long sequence, IClientReply reply)
        {
            if (_results is null && (_only is null || _onlySequence == sequence))
            {
                (_onlySequence, _only) = (sequence, reply);
                return;
            }

            _results ??= new Dictionary<long, IClientReply> { [_onlySequence] = _only! };
            _only = null;
            _results[sequence] = reply;
        }

        public void Remember(long sequence, IClientReply reply)
        {
            Restore(sequence, reply);
            if (sequence <= HighestSequence)
                return;

            // Forget what falls out of the window as it moves. Everything kept lies in the old
            // window (previous highest - window, previous highest], so that is all there is to scan.
            var forgetFrom = Math.Max(1, HighestSequence - RememberedResultsPerClient + 1);
            var forgetTo = Math.Min(sequence - RememberedResultsPerClient, HighestSequence);
            HighestSequence = sequence;
            for (var old = forgetFrom; old <= forgetTo; old++)
                ForgetResult(old);
        }

        private void ForgetResult(long sequence)
        {
            if (_results is not null)
                _results.Remove(sequence);
            else if (_only is not null && _onlySequence == sequence)
                _only = null;
        }
    }
}
