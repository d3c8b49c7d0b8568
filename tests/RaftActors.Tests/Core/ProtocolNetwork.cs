using RaftActors.Core;
using RaftActors.Messages;

namespace RaftActors.Tests.Core;

/// <summary>
/// A few <see cref="RaftProtocol"/> nodes wired together, like etcd's <c>network</c> in its tests:
/// messages between the nodes it holds are delivered in order, one at a time; messages to
/// members it does not hold are dropped (etcd's <c>nopStepper</c>). Disks are instant: every
/// PersistEntries is reported durable right after the effects that asked for it. Timers are not
/// run: the test calls the timeouts it wants. A snapshot travels as one chunk, installed as soon
/// as it arrives, carrying the configuration the sender applied last at or before its index (as
/// the real applier tracks it).
/// </summary>
internal sealed class ProtocolNetwork
{
    private readonly Dictionary<string, RaftProtocol> _nodes = new(StringComparer.Ordinal);
    private readonly Queue<(string To, IRaftProtocolMessage Message)> _inFlight = new();
    private readonly Dictionary<string, List<LogEntry>> _applied = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<RaftEffect>> _effects = new(StringComparer.Ordinal);
    private readonly HashSet<(string From, string To)> _cut = new();

    public ProtocolNetwork(params RaftProtocol[] nodes)
    {
        foreach (var node in nodes)
            Add(node);
    }

    /// <summary>
    /// Adds a node to the network, running or not (a server joining the cluster, or a node
    /// restarted in place of the one of the same id); it is not started.
    /// </summary>
    public void Add(RaftProtocol node)
    {
        _nodes[node.NodeId] = node;
        _applied.TryAdd(node.NodeId, new List<LogEntry>());
        _effects.TryAdd(node.NodeId, new List<RaftEffect>());
    }

    /// <summary>Every effect node <paramref name="id"/> produced so far, in order (its messages included).</summary>
    public IReadOnlyList<RaftEffect> EffectsOf(string id) => _effects[id];

    /// <summary>Puts <paramref name="message"/> in flight to <paramref name="to"/>, as if its sender had just sent it.</summary>
    public void Send(string to, IRaftProtocolMessage message) => _inFlight.Enqueue((to, message));

    /// <summary>etcd's <c>cut</c>: messages between the two nodes are lost, both ways, until <see cref="Recover"/>.</summary>
    public void Cut(string one, string other)
    {
        _cut.Add((one, other));
        _cut.Add((other, one));
    }

    /// <summary>etcd's <c>isolate</c>: every message to or from the node is lost until <see cref="Recover"/>.</summary>
    public void Isolate(string id)
    {
        foreach (var other in _nodes.Keys.Where(n => n != id))
            Cut(id, other);
    }

    /// <summary>etcd's <c>recover</c>: heals every cut (and clears <see cref="Drop"/>).</summary>
    public void Recover()
    {
        _cut.Clear();
        Drop = null;
    }

    /// <summary>When set, a message for which it returns true is lost instead of delivered.</summary>
    public Func<string, IRaftProtocolMessage, bool>? Drop { get; set; }

    /// <summary>Every message handed to the network, in order, and what became of it: for failure messages.</summary>
    public List<string> Trace { get; } = new();

    /// <summary>The last <paramref name="count"/> lines of <see cref="Trace"/>.</summary>
    public string TraceTail(int count = 40) => string.Join(Environment.NewLine, Trace.TakeLast(count));

    /// <summary>Messages delivered so far.</summary>
    public int Delivered { get; private set; }

    /// <summary>Messages lost: their recipient is not in the network, or <see cref="Drop"/> took them.</summary>
    public int Dropped { get; private set; }

    /// <summary>What each node has handed to its state machine, in order.</summary>
    public IReadOnlyList<LogEntry> AppliedBy(string id) => _applied[id];

    /// <summary>Runs <paramref name="input"/> on node <paramref name="id"/> and takes in its effects.</summary>
    public void Do(string id, Action<RaftProtocol> input)
    {
        input(_nodes[id]);
        Collect(id);
    }

    /// <summary>Delivers messages until none is in flight; fails when that takes more than <paramref name="maxMessages"/>.</summary>
    public void RunUntilQuiet(int maxMessages = 10_000)
    {
        var budget = maxMessages;
        while (_inFlight.Count > 0)
        {
            Assert.True(budget-- > 0, $"the network was not quiet after {maxMessages} messages:{Environment.NewLine}{TraceTail()}");
            var (to, message) = _inFlight.Dequeue();
            if (_cut.Contains((message.From, to)) || Drop?.Invoke(to, message) == true)
            {
                Dropped++;
                Trace.Add($"LOST {message.From}->{to} {Describe(message)}");
                continue;
            }

            Trace.Add($"     {message.From}->{to} {Describe(message)}");
            Delivered++;
            Do(to, node =>
            {
                // A node ignores only answers from servers it does not know (no longer a member).
                if (!node.Step(message))
                {
                    Assert.False(node.Configuration.IsMember(message.From), $"{to} ignored {message}");
                    Trace.Add($"     (ignored by {to}: {message.From} is not a member)");
                }
            });
        }
    }

    private static string Describe(IRaftProtocolMessage message) => message switch
    {
        AppendEntries a => $"AppendEntries(t{a.Term} prev {a.PrevLogIndex}/{a.PrevLogTerm} [{string.Join(" ", a.Entries.Select(e => e.Index))}] commit {a.LeaderCommit} #{a.Sequence})",
        RequestVote { PreVote: true } v => $"PreVote(t{v.Term} last {v.LastLogIndex}/{v.LastLogTerm})",
        RequestVoteResult { PreVote: true } v => $"PreVoteAnswer(t{v.Term} {(v.VoteGranted ? "granted" : "refused")})",
        AppendEntriesResult r => r.Success
            ? $"Ack(t{r.Term} match {r.MatchIndex} #{r.Sequence})"
            : $"Refuse(t{r.Term} conflict {r.ConflictIndex}/{r.ConflictTerm} #{r.Sequence})",
        _ => message.ToString()!,
    };

    /// <summary>Node <paramref name="id"/>'s latest snapshot in one chunk (no state-machine bytes: the tests' machines have none).</summary>
    private InstallSnapshot SnapshotOf(string id)
    {
        var node = _nodes[id];
        var configuration = _applied[id].LastOrDefault(e => e.Index <= node.Snapshot.Index && e.Configuration is not null)?.Configuration;
        return new InstallSnapshot(node.Term, id, node.Snapshot.Index, node.Snapshot.Term, 0, [], Done: true, configuration);
    }

    private void Collect(string id)
    {
        var node = _nodes[id];
        while (true)
        {
            var effects = node.DrainEffects();
            if (effects.Count == 0)
                return;
            _effects[id].AddRange(effects);
            foreach (var effect in effects)
            {
                switch (effect)
                {
                    case SendMessage send when _nodes.ContainsKey(send.To):
                        _inFlight.Enqueue((send.To, send.Message));
                        break;
                    case SendMessage:
                        Dropped++;
                        break;
                    case SendSnapshot snapshot when _nodes.ContainsKey(snapshot.To):
                        _inFlight.Enqueue((snapshot.To, SnapshotOf(id)));
                        break;
                    case SendSnapshot:
                        Dropped++;
                        break;
                    case ApplyEntries apply:
                        _applied[id].AddRange(apply.Entries);
                        break;
                }
            }

            // An instant disk: each log write is durable once the effects that asked for it are
            // done, and a snapshot received is whole and durable as soon as its chunk arrives.
            foreach (var change in effects.OfType<LogChange>())
            {
                if (change.LastAfterChange is { } last)
                    node.Persisted(last);
            }

            foreach (var accept in effects.OfType<AcceptSnapshotChunk>())
                node.SnapshotReceived(accept.Chunk);
        }
    }
}
