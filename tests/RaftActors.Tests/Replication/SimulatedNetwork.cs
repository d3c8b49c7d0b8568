using Akka.Actor;
using RaftActors.Messages;

namespace RaftActors.Tests.Replication;

/// <summary>
/// What the network does to each message it carries. Every choice is drawn from the network's
/// seeded <see cref="Random"/>.
/// </summary>
public sealed record NetworkFaults
{
    /// <summary>Probability that a message (a request or a reply: each is a message of its own here) is lost.</summary>
    public double DropRate { get; init; }

    /// <summary>
    /// Probability that a reply (RequestVoteResult, AppendEntriesResult) is lost, on top of
    /// <see cref="DropRate"/>: asymmetric loss, where requests get through and answers do not.
    /// </summary>
    public double ReplyDropRate { get; init; }

    /// <summary>Each delivered copy waits a delay drawn uniformly from [MinDelayMs, MaxDelayMs) ms; random delays reorder messages.</summary>
    public int MinDelayMs { get; init; }

    public int MaxDelayMs { get; init; }

    /// <summary>Probability that a message is delivered twice (each copy is then dropped and delayed on its own).</summary>
    public double DuplicateRate { get; init; }

    /// <summary>
    /// MIT labrpc's "long reordering": about 2/3 of the replies are held back 200 to 2,200 ms
    /// (200 + rand(1 + rand(2000)) ms, as labrpc draws it).
    /// </summary>
    public bool LongReordering { get; init; }

    public static readonly NetworkFaults Reliable = new();

    /// <summary>
    /// MIT labrpc's unreliable network: every message delayed 0-26 ms, 10% of requests and 10% of
    /// replies lost. On top of labrpc, 1% of messages arrive twice (labrpc never duplicates).
    /// </summary>
    public static readonly NetworkFaults Unreliable = new() { DropRate = 0.1, MinDelayMs = 0, MaxDelayMs = 27, DuplicateRate = 0.01 };

    public override string ToString() =>
        $"drop {DropRate:P0}{(ReplyDropRate > 0 ? $" (+{ReplyDropRate:P0} of replies)" : "")}, delay {MinDelayMs}-{Math.Max(MinDelayMs, MaxDelayMs - 1)} ms, duplicate {DuplicateRate:P0}{(LongReordering ? ", long reordering" : "")}";
}

/// <summary>
/// The network between the nodes of an in-process cluster, under the test's control. Every
/// node's peers are the per-link proxy actors of the <see cref="NetworkActor"/>
/// (<c>/user/net/n1-to-n2</c>), so every protocol message crosses this network, which can lose,
/// delay, reorder and duplicate it, and cut nodes off (MIT's disconnect: a node is connected or
/// not; a link works when both ends are connected) or split the nodes into partitions.
/// A crashed node's incarnation is unregistered: nothing it sent is delivered any more, and what
/// was sent to it is not delivered to its successor (which has a new actor, like MIT's new endpoints).
/// Thread-safe: the network actor routes, the test (and delayed deliveries) change and read it, all under one lock.
/// </summary>
public sealed class SimulatedNetwork
{
    private readonly object _lock = new();
    private readonly Random _random;
    private readonly Slot[] _slots;
    private readonly Dictionary<string, int> _indexOf;
    private readonly Dictionary<string, long> _sentByType = new(StringComparer.Ordinal);
    private readonly Queue<string> _trace = new();
    private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();
    private NetworkFaults _faults = NetworkFaults.Reliable;
    private long _rpcs;
    private long _bytes;
    private long _sent;
    private long _delivered;
    private long _dropped;
    private long _cutOff;
    private long _fromDead;
    private long _lateDropped;
    private long _duplicated;

    public SimulatedNetwork(IReadOnlyList<string> ids, int seed)
    {
        Ids = ids;
        _random = new Random(seed);
        _slots = ids.Select(_ => new Slot()).ToArray();
        _indexOf = ids.Select((id, i) => (id, i)).ToDictionary(p => p.id, p => p.i, StringComparer.Ordinal);
    }

    public IReadOnlyList<string> Ids { get; }

    public static string LinkName(string from, string to) => $"{from}-to-{to}";

    public NetworkFaults Faults
    {
        get
        {
            lock (_lock)
                return _faults;
        }
        set
        {
            lock (_lock)
                _faults = value;
        }
    }

    /// <summary>Messages of the type named <paramref name="typeName"/> sent so far, by all nodes.</summary>
    public long SentOfType(string typeName)
    {
        lock (_lock)
            return _sentByType.GetValueOrDefault(typeName);
    }

    /// <summary>RPCs sent by all nodes (RequestVote, AppendEntries and InstallSnapshot, the requests; replies are not counted), as labrpc counts them.</summary>
    public long RpcCount
    {
        get
        {
            lock (_lock)
                return _rpcs;
        }
    }

    /// <summary>
    /// Bytes of all messages sent, as they would be on the wire, roughly: 8 bytes per number,
    /// the ids' characters, and each log entry's <see cref="Core.LogEntry.ApproximateSize"/>
    /// (24 bytes plus the command's serialized bytes, manifest and client id).
    /// </summary>
    public long ByteCount
    {
        get
        {
            lock (_lock)
                return _bytes;
        }
    }

    /// <summary>Makes <paramref name="node"/> the live incarnation of node <paramref name="index"/>; it starts disconnected, as after MIT's start1.</summary>
    public void Register(int index, IActorRef node, int incarnation)
    {
        lock (_lock)
        {
            var slot = _slots[index];
            slot.Node = node;
            slot.Incarnation = incarnation;
            slot.Connected = false;
        }
    }

    /// <summary>The node crashed: it is disconnected and nothing from or to its incarnation is delivered any more.</summary>
    public void Kill(int index)
    {
        lock (_lock)
        {
            _slots[index].Node = null;
            _slots[index].Connected = false;
        }
    }

    public void Connect(int index)
    {
        lock (_lock)
            _slots[index].Connected = true;
    }

    public void Disconnect(int index)
    {
        lock (_lock)
            _slots[index].Connected = false;
    }

    /// <summary>Whether the node is alive and connected (MIT's <c>cfg.connected[i]</c>, for a live node).</summary>
    public bool IsConnected(int index)
    {
        lock (_lock)
            return _slots[index].Connected && _slots[index].Node is not null;
    }

    /// <summary>Splits the nodes into groups: a link works only inside a group. Nodes not named form one more group.</summary>
    public void Partition(params int[][] groups)
    {
        lock (_lock)
        {
            foreach (var slot in _slots)
                slot.Group = 0;
            for (var g = 0; g < groups.Length; g++)
            {
                foreach (var index in groups[g])
                    _slots[index].Group = g + 1;
            }
        }
    }

    /// <summary>Ends every partition and connects every live node.</summary>
    public void Heal()
    {
        lock (_lock)
        {
            foreach (var slot in _slots)
            {
                slot.Group = 0;
                slot.Connected = true;
            }
        }
    }

    /// <summary>Whether a message from <paramref name="from"/> to <paramref name="to"/> would get through now (ignoring random loss).</summary>
    public bool LinkWorks(int from, int to)
    {
        lock (_lock)
            return LinkUp(from, to);
    }

    /// <summary>
    /// A node sent <paramref name="message"/> to <paramref name="toId"/> through its proxy; the
    /// proxy saw <paramref name="sender"/> as the Akka sender. Called by the network actor.
    /// </summary>
    public void Route(string fromId, string toId, object message, IActorRef sender)
    {
        var from = _indexOf[fromId];
        var to = _indexOf[toId];
        lock (_lock)
        {
            _sent++;
            var type = message.GetType().Name;
            _sentByType[type] = _sentByType.GetValueOrDefault(type) + 1;
            if (message is RequestVote or AppendEntries or InstallSnapshot)
                _rpcs++;
            _bytes += WireSize(message);

            // A message from a stopped incarnation (or from anyone but the node registered) is lost.
            if (!Equals(_slots[from].Node, sender))
            {
                _fromDead++;
                Trace(fromId, toId, message, "from a stopped node: lost");
                return;
            }

            if (!LinkUp(from, to))
            {
                _cutOff++;
                Trace(fromId, toId, message, "cut off");
                return;
            }

            var faults = _faults;
            var copies = faults.DuplicateRate > 0 && _random.NextDouble() < faults.DuplicateRate ? 2 : 1;
            if (copies == 2)
                _duplicated++;
            for (var copy = 0; copy < copies; copy++)
            {
                if ((faults.DropRate > 0 && _random.NextDouble() < faults.DropRate) ||
                    (faults.ReplyDropRate > 0 && IsReply(message) && _random.NextDouble() < faults.ReplyDropRate))
                {
                    _dropped++;
                    Trace(fromId, toId, message, "lost");
                    continue;
                }

                var delay = faults.MaxDelayMs > faults.MinDelayMs ? _random.Next(faults.MinDelayMs, faults.MaxDelayMs) : faults.MinDelayMs;
                if (faults.LongReordering && IsReply(message) && _random.Next(900) < 600)
                    delay += 200 + _random.Next(1 + _random.Next(2000));

                if (delay == 0)
                {
                    // Told under the lock: a crash or disconnect that returned has taken effect for every later delivery.
                    _slots[to].Node!.Tell(message, ActorRefs.NoSender);
                    _delivered++;
                    Trace(fromId, toId, message, "delivered");
                }
                else
                {
                    Trace(fromId, toId, message, $"delayed {delay} ms");
                    var fromIncarnation = _slots[from].Incarnation;
                    var toIncarnation = _slots[to].Incarnation;
                    Task.Delay(delay).ContinueWith(
                        _ => DeliverLate(from, fromIncarnation, to, toIncarnation, message),
                        CancellationToken.None,
                        TaskContinuationOptions.ExecuteSynchronously,
                        TaskScheduler.Default);
                }
            }
        }
    }

    /// <summary>A delayed message arrives: only if both incarnations still live and the link still works.</summary>
    private void DeliverLate(int from, int fromIncarnation, int to, int toIncarnation, object message)
    {
        lock (_lock)
        {
            if (_slots[from].Node is null || _slots[from].Incarnation != fromIncarnation ||
                _slots[to].Node is null || _slots[to].Incarnation != toIncarnation || !LinkUp(from, to))
            {
                _lateDropped++;
                Trace(Ids[from], Ids[to], message, "arrived late: lost to a crash or disconnect");
                return;
            }

            _slots[to].Node!.Tell(message, ActorRefs.NoSender);
            _delivered++;
            Trace(Ids[from], Ids[to], message, "delivered late");
        }
    }

    /// <summary>The last messages the network handled, and what it did with each, oldest first.</summary>
    public IReadOnlyList<string> RecentTrace()
    {
        lock (_lock)
            return _trace.ToArray();
    }

    private void Trace(string from, string to, object message, string fate)
    {
        const int kept = 300;
        if (_trace.Count == kept)
            _trace.Dequeue();
        _trace.Enqueue($"+{_clock.Elapsed.TotalMilliseconds,8:F1}ms {from}->{to} {Summarize(message)}: {fate}");
    }

    private static string Summarize(object message) => message switch
    {
        AppendEntries a => $"AppendEntries(term {a.Term}, prev {a.PrevLogIndex}:{a.PrevLogTerm}, {a.Entries.Count} entries" +
                           $"{(a.Entries.Count > 0 ? $" {a.Entries[0].Index}..{a.Entries[^1].Index}" : "")}, commit {a.LeaderCommit}, seq {a.Sequence})",
        AppendEntriesResult r => $"AppendEntriesResult(term {r.Term}, {(r.Success ? $"ok, match {r.MatchIndex}" : $"refused, conflict {r.ConflictIndex}:{r.ConflictTerm}")}, seq {r.Sequence})",
        RequestVote v => $"RequestVote(term {v.Term}, last {v.LastLogIndex}:{v.LastLogTerm})",
        RequestVoteResult v => $"RequestVoteResult(term {v.Term}, {(v.VoteGranted ? "granted" : "refused")})",
        InstallSnapshot c => $"InstallSnapshot(term {c.Term}, through {c.LastIncludedIndex}:{c.LastIncludedTerm}, bytes {c.Offset}..{c.Offset + c.Data.Length}{(c.Done ? ", done" : "")})",
        InstallSnapshotResult r => $"InstallSnapshotResult(term {r.Term}, through {r.LastIncludedIndex}, {(r.Done ? "done" : $"holds {r.NextOffset} bytes")})",
        _ => message.GetType().Name,
    };

    private bool LinkUp(int from, int to)
    {
        var a = _slots[from];
        var b = _slots[to];
        return a.Node is not null && b.Node is not null && a.Connected && b.Connected && a.Group == b.Group;
    }

    private static bool IsReply(object message) => message is RequestVoteResult or AppendEntriesResult or InstallSnapshotResult;

    private static long WireSize(object message) => message switch
    {
        AppendEntries a => (8 * 6) + a.LeaderId.Length + a.Entries.Sum(e => (long)e.ApproximateSize),
        RequestVote r => (8 * 3) + r.CandidateId.Length,
        RequestVoteResult v => 8 + 1 + v.VoterId.Length,
        AppendEntriesResult r => (8 * 5) + 1 + r.FollowerId.Length,
        InstallSnapshot c => (8 * 5) + 1 + c.LeaderId.Length + c.Data.Length,
        InstallSnapshotResult r => (8 * 4) + 1 + r.FollowerId.Length,
        _ => 0,
    };

    public string Describe()
    {
        lock (_lock)
        {
            var state = string.Join(", ", Ids.Select((id, i) =>
                $"{id}: {(_slots[i].Node is null ? "down" : $"#{_slots[i].Incarnation} {(_slots[i].Connected ? "connected" : "disconnected")}")}{(_slots[i].Group != 0 ? $" group {_slots[i].Group}" : "")}"));
            var types = string.Join(", ", _sentByType.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key} {kv.Value}"));
            return $"network ({_faults}): {state}\n" +
                   $"  sent {_sent} ({types}), {_rpcs} RPCs, {_bytes} bytes; delivered {_delivered}; lost: {_dropped} at random, " +
                   $"{_cutOff} cut off, {_fromDead} from stopped nodes, {_lateDropped} delayed past a crash or disconnect; {_duplicated} duplicated";
        }
    }

    private sealed class Slot
    {
        public IActorRef? Node { get; set; }

        public int Incarnation { get; set; }

        public bool Connected { get; set; }

        public int Group { get; set; }
    }
}

/// <summary>
/// The network's actor, <c>/user/net</c>: it owns one proxy child per directed link, named
/// <c>from-to-to</c>, and routes what the proxies hand it through the <see cref="SimulatedNetwork"/>.
/// </summary>
public sealed class NetworkActor : ReceiveActor
{
    public NetworkActor(SimulatedNetwork network)
    {
        foreach (var from in network.Ids)
        {
            foreach (var to in network.Ids.Where(to => to != from))
                Context.ActorOf(Akka.Actor.Props.Create(() => new LinkProxy(from, to)), SimulatedNetwork.LinkName(from, to));
        }

        Receive<Envelope>(e => network.Route(e.From, e.To, e.Message, e.Sender));
        Receive<Ready>(_ => Sender.Tell(Ready.Instance));
    }

    public static Props Props(SimulatedNetwork network) => Akka.Actor.Props.Create(() => new NetworkActor(network));

    /// <summary>
    /// Answered once the actor runs, so its proxies exist: a node resolves its peers' paths when
    /// it starts, and a path resolved before its proxy exists would lead to dead letters forever.
    /// </summary>
    public sealed class Ready
    {
        public static readonly Ready Instance = new();
    }

    private sealed record Envelope(string From, string To, object Message, IActorRef Sender);

    /// <summary>Stands in for node <c>to</c> in node <c>from</c>'s membership: what it is told crosses the network.</summary>
    private sealed class LinkProxy : ReceiveActor
    {
        public LinkProxy(string from, string to) =>
            ReceiveAny(message => Context.Parent.Tell(new Envelope(from, to, message, Sender)));
    }
}
