using RaftActors.Core;
using RaftActors.Messages;

namespace RaftActors.Simulation;

/// <summary>
/// One deterministic run: N nodes (<see cref="SimulatedNode"/>, the real protocol hosted as
/// RaftNode hosts it) on a <see cref="VirtualNetwork"/>, clients invoking key-value operations, and
/// a <see cref="Nemesis"/> crashing, partitioning and storming — all driven by one event queue in
/// virtual time and one seed. <see cref="InvariantChecker"/> checks safety after every step; the
/// liveness check runs whenever a majority has been left alone for a while, and after the final heal
/// every client's last operation must succeed. The history goes to the linearizability checker.
/// </summary>
public sealed class ClusterSimulation
{
    /// <summary>The failure of a run where the protocol threw (one of its guards) rather than broke a property.</summary>
    public const string ProtocolError = "Protocol error";

    /// <summary>The failure of a run where the simulator itself found something amiss.</summary>
    public const string HarnessError = "Harness";

    private const int TraceLength = 400;
    private static readonly long MaxVirtualTime = Micros.Of(TimeSpan.FromMinutes(10));

    private readonly Random _random;
    private readonly string[][] _peers;
    private readonly SimulatedClient[] _clients;
    private readonly Nemesis _nemesis;
    private readonly List<KvCommand> _commands = new();
    private readonly string?[] _lastWritten;
    private readonly Queue<string>? _trace;
    private long _livenessEpoch;
    private int _clientsFinished;
    private ulong _fingerprint = 14695981039346656037UL;
    private long _events;
    private long _messagesSent;
    private long _messagesLost;
    private SnapshotCounts _snapshots;

    private ClusterSimulation(SimulationOptions options)
    {
        Options = options;
        _random = new Random(options.Seed);
        Queue = new EventQueue();
        var ids = Enumerable.Range(1, options.ClusterSize).Select(i => $"n{i}").ToArray();
        Nodes = ids.Select((id, i) => new SimulatedNode(this, i, id)).ToArray();
        _peers = ids.Select(id => ids.Where(p => p != id).ToArray()).ToArray();
        Checker = new InvariantChecker(this, options.ClusterSize);
        Network = new VirtualNetwork(new Random(_random.Next()), options.ClusterSize);
        _nemesis = new Nemesis(this, new Random(_random.Next()));
        _clients = Enumerable.Range(0, options.Clients).Select(i => new SimulatedClient(this, i, new Random(_random.Next()))).ToArray();
        _lastWritten = new string?[options.Keys];
        _trace = options.Trace ? new Queue<string>() : null;
    }

    internal SimulationOptions Options { get; }

    internal EventQueue Queue { get; }

    internal InvariantChecker Checker { get; }

    internal VirtualNetwork Network { get; }

    internal SimulatedNode[] Nodes { get; }

    internal IReadOnlyList<KvCommand> Commands => _commands;

    internal ClientHistory History { get; } = new();

    internal int ClientOperationsInvoked => History.Operations.Count;

    /// <summary>Runs the schedule of <paramref name="options"/> to its end or its first violation.</summary>
    public static SimulationResult Run(SimulationOptions options)
    {
        var simulation = new ClusterSimulation(options);
        SimulationFailure? failure = null;
        try
        {
            simulation.Execute();
            simulation.Checker.CheckMirrors();
        }
        catch (SimulationFailure e)
        {
            failure = e;
        }
        catch (Exception e)
        {
            // The protocol's own guards (e.g. a conflict with a committed entry), or a crash of the
            // protocol or the harness: a failure of this seed like any other, to be replayed.
            failure = new SimulationFailure(ProtocolError, e.ToString());
        }

        return simulation.Result(failure);
    }

    internal static int IndexOf(string nodeId) => int.Parse(nodeId.AsSpan(1)) - 1;

    internal string[] PeersOf(int node) => _peers[node];

    private void Execute()
    {
        foreach (var node in Nodes)
            node.Start(_random.Next());
        foreach (var client in _clients)
            Queue.After(Micros.Millis(_random.NextDouble() * 100), new SimEvent(EventKind.ClientNextOperation, client.Index));
        _nemesis.Start();

        while (_clientsFinished < _clients.Length && Queue.TryNext(out var e))
        {
            _events++;
            _fingerprint = (_fingerprint ^ (ulong)(((long)e.Kind << 56) ^ ((long)e.Target << 40) ^ Queue.Now)) * 1099511628211UL;
            if (Queue.Now > MaxVirtualTime)
                throw new SimulationFailure(HarnessError, $"the run did not end within {Micros.Format(MaxVirtualTime)} of virtual time");
            Dispatch(e);
        }
    }

    private void Dispatch(SimEvent e)
    {
        switch (e.Kind)
        {
            case EventKind.DeliverPeerMessage:
            {
                var node = Nodes[e.Target];
                var message = (IRaftProtocolMessage)e.Payload!;
                if (!node.Up || !Network.Connected(e.From, e.Target))
                {
                    _messagesLost++;
                    return;
                }

                Trace(e, message);
                node.OnPeerMessage(message);
                break;
            }

            case EventKind.ElectionTimer:
                if (Nodes[e.Target].Up)
                    Nodes[e.Target].OnElectionTimer(e.Generation);
                break;
            case EventKind.HeartbeatTimer:
                if (Nodes[e.Target].Up)
                    Nodes[e.Target].OnHeartbeatTimer(e.Generation);
                break;
            case EventKind.FlushReplication:
                if (Nodes[e.Target].Up)
                    Nodes[e.Target].OnFlush(e.Generation);
                break;
            case EventKind.WriteDurable:
                if (Nodes[e.Target].Up && Nodes[e.Target].Incarnation == e.Generation)
                {
                    Trace(e, "write durable");
                    Nodes[e.Target].OnWriteDurable((DurableWrite)e.Payload!);
                }

                break;
            case EventKind.ClientRequestArrives:
                if (Nodes[e.Target].Up)
                {
                    Trace(e, e.Payload!);
                    Nodes[e.Target].OnClientRequest((ClientRequest)e.Payload!);
                }

                break;
            case EventKind.ClientReplyArrives:
                Trace(e, e.Payload!);
                _clients[e.Target].OnReply((ClientReply)e.Payload!);
                break;
            case EventKind.ClientRequestTimeout:
                _clients[e.Target].OnRequestTimeout(e.Generation);
                break;
            case EventKind.ClientNextOperation:
                _clients[e.Target].OnNextOperation(e.Generation);
                break;
            case EventKind.Nemesis:
                _nemesis.On(e);
                break;
            case EventKind.NodeIo:
                if (Nodes[e.Target].Up && Nodes[e.Target].Incarnation == e.Generation)
                {
                    var io = (NodeIo)e.Payload!;
                    Trace(e, io.What);
                    io.Done();
                }

                break;
            case EventKind.LivenessCheck:
                if (e.Generation == _livenessEpoch)
                    CheckLiveness(e.Target);
                break;
        }
    }

    internal void SendToPeer(int from, string to, IRaftProtocolMessage message)
    {
        Checker.Sent(Nodes[from], to, message);
        _messagesSent++;
        var target = IndexOf(to);
        if (!Network.Connected(from, target) || Network.Lost())
        {
            _messagesLost++;
            return;
        }

        Queue.After(Network.Delay(), new SimEvent(EventKind.DeliverPeerMessage, target, Payload: message, From: from));
        if (Network.Duplicated())
            Queue.After(Network.Delay(), new SimEvent(EventKind.DeliverPeerMessage, target, Payload: message, From: from));
    }

    internal void SendToNode(int node, ClientRequest request, long after)
    {
        if (!Network.Lost())
            Queue.After(after + Network.Delay(), new SimEvent(EventKind.ClientRequestArrives, node, Payload: request));
    }

    internal void ReplyToClient(ClientRequest request, ClientReply reply)
    {
        if (!Network.Lost())
            Queue.After(Network.Delay(), new SimEvent(EventKind.ClientReplyArrives, request.Client, Payload: reply));
    }

    /// <summary>How long a write takes to become durable: mostly under 2 ms, sometimes tens of ms.</summary>
    internal long DiskLatency() => _random.NextDouble() < 0.05
        ? Micros.Millis(5 + _random.NextDouble() * 20)
        : Micros.Millis(0.05 + _random.NextDouble() * 2);

    internal void Crash(SimulatedNode node)
    {
        if (!node.Up)
            return;
        Trace($"nemesis: crash {node.Id} ({node.Protocol.Role}, term {node.Protocol.Term})");
        node.Crash(writeInFlightLands: _random.NextDouble() < 0.5);
    }

    internal void Restart(SimulatedNode node)
    {
        Trace($"nemesis: restart {node.Id}");
        node.Start(_random.Next());
    }

    internal KvCommand NextCommand(Random random, int client)
    {
        var key = random.Next(Options.Keys);
        var dice = random.NextDouble();
        var value = $"{client}.{_commands.Count}";
        KvCommand command;
        if (dice < 0.35)
        {
            command = new KvCommand(KvKind.Get, key, null, null);
        }
        else if (dice < 0.65)
        {
            command = new KvCommand(KvKind.Put, key, value, null);
        }
        else if (dice < 0.8)
        {
            command = new KvCommand(KvKind.Delete, key, null, null);
        }
        else
        {
            // Mostly the value last written, so that swaps succeed as often as they fail.
            var expected = random.NextDouble() < 0.7 ? _lastWritten[key] : null;
            command = new KvCommand(KvKind.CompareAndSet, key, value, expected);
        }

        if (command.Kind != KvKind.Get)
            _lastWritten[key] = command.Value;
        return command;
    }

    internal int Register(KvCommand command)
    {
        _commands.Add(command);
        return _commands.Count - 1;
    }

    internal void SnapshotTaken() => _snapshots = _snapshots with { Taken = _snapshots.Taken + 1 };

    internal void SnapshotInstalled()
    {
        _snapshots = _snapshots with { Installed = _snapshots.Installed + 1 };
        Trace("snapshot installed");
    }

    internal void RestartedFromSnapshot() => _snapshots = _snapshots with { RestartsFromSnapshot = _snapshots.RestartsFromSnapshot + 1 };

    internal void LeaderElected(SimulatedNode leader) => _nemesis.OnLeaderElected(leader);

    internal void RequestFinalOperations()
    {
        foreach (var client in _clients)
            client.RequestFinalOperation();
    }

    internal void ClientFinished() => _clientsFinished++;

    /// <summary>
    /// The faults changed (one began or ended). If a majority is up and connected in fair weather,
    /// the liveness check runs once it has stayed so for the bound; any later change cancels it.
    /// </summary>
    internal void FaultsChanged()
    {
        _livenessEpoch++;
        if (Network.Stormy)
            return;
        var groupSizes = new int[Nodes.Length];
        foreach (var node in Nodes)
        {
            if (node.Up)
                groupSizes[Network.GroupOf(node.Index)]++;
        }

        for (var group = 0; group < groupSizes.Length; group++)
        {
            if (groupSizes[group] >= Quorum.Majority(Nodes.Length))
                Queue.After(Micros.Of(Options.LivenessBound), new SimEvent(EventKind.LivenessCheck, group, _livenessEpoch));
        }
    }

    private void CheckLiveness(int group)
    {
        SimulatedNode? leader = null;
        foreach (var node in Nodes)
        {
            if (node.Up && Network.GroupOf(node.Index) == group && node.Protocol.Role == RaftRole.Leader &&
                (leader is null || node.Protocol.Term > leader.Protocol.Term))
                leader = node;
        }

        var window = $"{Options.LivenessBound.TotalSeconds} s after a majority ({Network.Describe()}) was last left alone";
        if (leader is null)
            throw new SimulationFailure("Liveness", $"no leader {window}: {Describe()}");
        var log = leader.Protocol.Log;
        var term = leader.Protocol.Term;
        if (log.TermAt(leader.Protocol.CommitIndex) != term)
            throw new SimulationFailure("Liveness", $"{leader.Id} leads term {term} but has committed nothing of it {window}: {Describe()}");

        // Every member follows the leader and holds an entry of its term — so, by Log Matching, the
        // term's first entry (its no-op) — in its log or as its snapshot's last: none is left
        // behind for good, as a follower whose refusals the leader mishandles would be.
        foreach (var node in Nodes)
        {
            if (node.Up && Network.GroupOf(node.Index) == group &&
                (node.Protocol.Term != term || node.Protocol.LeaderId != leader.Id || node.Protocol.Log.LastIndexOfTerm(term) is null))
                throw new SimulationFailure("Liveness", $"{node.Id} has not caught up with {leader.Id}'s term {term} (it holds no entry of the term) {window}: {Describe()}");
        }
    }

    private string Describe() => string.Join("; ", Nodes.Select(n => n.Up
        ? $"{n.Id} {n.Protocol.Role} t{n.Protocol.Term} leader {n.Protocol.LeaderId ?? "-"} log {n.Protocol.LastLog.Index}/{n.Protocol.LastLog.Term} commit {n.Protocol.CommitIndex}"
        : $"{n.Id} down"));

    internal void Trace(string line)
    {
        if (_trace is null)
            return;
        _trace.Enqueue($"{Micros.Format(Queue.Now),12}  {line}");
        if (_trace.Count > TraceLength)
            _trace.Dequeue();
    }

    private void Trace(SimEvent e, object what)
    {
        if (_trace is not null)
            Trace($"{(e.Kind == EventKind.DeliverPeerMessage ? $"{Nodes[e.From].Id}->" : "")}{(e.Kind is EventKind.ClientReplyArrives ? $"c{e.Target}" : Nodes[e.Target].Id)}: {Describe(what)}");
    }

    private static string Describe(object what) => what switch
    {
        AppendEntries a => $"AppendEntries(t{a.Term} prev {a.PrevLogIndex}/{a.PrevLogTerm} [{string.Join(" ", a.Entries.Select(x => $"{x.Index}/{x.Term}"))}] commit {a.LeaderCommit} #{a.Sequence})",
        AppendEntriesResult r => r.Success
            ? $"Ack(t{r.Term} match {r.MatchIndex} #{r.Sequence})"
            : $"Refuse(t{r.Term} conflict {r.ConflictIndex}/{r.ConflictTerm} #{r.Sequence})",
        RequestVote v => $"{(v.PreVote ? "PreVote" : "RequestVote")}(t{v.Term} last {v.LastLogIndex}/{v.LastLogTerm})",
        RequestVoteResult v => $"{(v.PreVote ? "PreVoteAnswer" : "Vote")}(t{v.Term} {(v.VoteGranted ? "granted" : "refused")})",
        InstallSnapshot c => $"InstallSnapshot(t{c.Term} {c.LastIncludedIndex}/{c.LastIncludedTerm} at {c.Offset} +{c.Data.Length}{(c.Done ? " done" : "")})",
        InstallSnapshotResult r => $"SnapshotAck(t{r.Term} {r.LastIncludedIndex}/{r.LastIncludedTerm} holds {r.NextOffset}{(r.Done ? " done" : "")})",
        ClientRequest r => $"c{r.Client} op {r.OperationId}: {r.Command.Kind} {r.Command.KeyName} {r.Command.Value} {(r.Command.Kind == KvKind.CompareAndSet ? $"if {r.Command.Expected ?? "absent"}" : "")}{(r.Entry is { } entry ? $" (session #{entry.Sequence})" : "")}",
        ClientReply r => $"op {r.OperationId}: {r.Kind}{(r.Kind == ReplyKind.Done ? $" ok={r.Result.Ok} value={r.Result.Value ?? "-"}" : r.LeaderHint >= 0 ? $" try n{r.LeaderHint + 1}" : "")}",
        _ => what.ToString()!,
    };

    private SimulationResult Result(SimulationFailure? failure) => new(
        Options,
        failure,
        failure is null ? null : $"at {Micros.Format(Queue.Now)}: {Describe()}",
        Queue.Now,
        _events,
        History.Operations,
        _nemesis.Injected,
        _nemesis.ByKind,
        Checker.LeaderTerms,
        Checker.CommittedCount,
        _messagesSent,
        _messagesLost,
        _fingerprint,
        _trace?.ToArray() ?? [])
    {
        Snapshots = _snapshots,
    };
}
