using RaftActors.Core;
using RaftActors.Messages;

namespace RaftActors.Simulation;

/// <summary>
/// One deterministic run: N nodes (<see cref="SimulatedNode"/>, the real protocol hosted as
/// RaftNode hosts it) on a <see cref="VirtualNetwork"/>, clients invoking key-value operations, and
/// a <see cref="SimulatedNemesis"/> crashing, partitioning and storming, and handing the
/// <see cref="SimulatedOperator"/> membership changes and leadership transfers (new servers join in
/// slots after the founders', up to 10 per run) — all driven by one event queue in virtual time and
/// one seed. <see cref="InvariantChecker"/> checks safety after every step; the
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
    private readonly SimulatedClient[] _clients;
    private readonly SimulatedNemesis _nemesis;
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
    private ReadCounts _reads;
    private MembershipCounts _configurationChanges;
    private int _created;

    private ClusterSimulation(SimulationOptions options)
    {
        Options = options;
        _random = new Random(options.Seed);
        Queue = new EventQueue();

        // The founders vote from the start; the other slots are servers the operator may start later,
        // each joining with no configuration and an empty disk (ids are never reused).
        Founders = ClusterConfiguration.OfVoters(Enumerable.Range(1, options.ClusterSize).Select(i => $"n{i}"));
        Nodes = Enumerable.Range(0, options.ServerSlots)
            .Select(i => new SimulatedNode(this, i, $"n{i + 1}", i < options.ClusterSize ? Founders : ClusterConfiguration.Empty))
            .ToArray();
        Checker = new InvariantChecker(this, options.ServerSlots);
        Network = new VirtualNetwork(new Random(_random.Next()), options.ServerSlots);
        _nemesis = new SimulatedNemesis(this, new Random(_random.Next()));
        _clients = Enumerable.Range(0, options.Clients).Select(i => new SimulatedClient(this, i, new Random(_random.Next()))).ToArray();
        Operator = options.Membership ? new SimulatedOperator(this, new Random(_random.Next())) : null;
        _lastWritten = new string?[options.Keys];
        _trace = options.Trace ? new Queue<string>() : null;
    }

    internal SimulationOptions Options { get; }

    internal EventQueue Queue { get; }

    internal InvariantChecker Checker { get; }

    internal VirtualNetwork Network { get; }

    /// <summary>Every server slot: the founders first, then the servers that may join; see <see cref="SimulatedNode.Created"/>.</summary>
    internal SimulatedNode[] Nodes { get; }

    /// <summary>The configuration the cluster starts with: the founders, all voters.</summary>
    internal ClusterConfiguration Founders { get; }

    /// <summary>The operator carrying out the nemesis's membership operations; null without membership.</summary>
    internal SimulatedOperator? Operator { get; }

    /// <summary>Nodes started so far: the founders, then every server the operator started (the first <see cref="NodeCount"/> slots).</summary>
    internal int NodeCount => _created;

    /// <summary>Whether the operator may start another server.</summary>
    internal bool HasFreeSlot => _created < Nodes.Length;

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

    private void Execute()
    {
        for (; _created < Options.ClusterSize; _created++)
            Nodes[_created].Start(_random.Next());
        foreach (var client in _clients)
            Queue.After(Micros.Millis(_random.NextDouble() * 100), new SimEvent(EventKind.ClientNextOperation, client.Index));
        _nemesis.Start();
        Operator?.Start();

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
                    CheckLiveness(e.Target, lastChance: e.Payload is LastChance);
                break;
            case EventKind.OperatorRequestArrives:
                if (Nodes[e.Target].Up)
                {
                    Trace(e, e.Payload!);
                    Nodes[e.Target].OnOperatorRequest((OperatorRequest)e.Payload!);
                }

                break;
            case EventKind.OperatorReplyArrives:
                Trace(e, e.Payload!);
                Operator!.OnReply((OperatorReply)e.Payload!);
                break;
            case EventKind.Operator:
                Operator!.On(e);
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

    /// <summary>The operator's request travels like a client's: delayed, and lost now and then (the operator then times out).</summary>
    internal void SendToOperatorTarget(int node, OperatorRequest request)
    {
        if (!Network.Lost())
            Queue.After(Network.Delay(), new SimEvent(EventKind.OperatorRequestArrives, node, Payload: request));
    }

    internal void ReplyToOperator(OperatorReply reply)
    {
        if (!Network.Lost())
            Queue.After(Network.Delay(), new SimEvent(EventKind.OperatorReplyArrives, 0, Payload: reply));
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

    /// <summary>The operator starts a new server in the next free slot: it joins with no configuration and an empty disk.</summary>
    internal SimulatedNode StartJoiningServer()
    {
        var node = Nodes[_created++];
        Trace($"operator: start {node.Id}, joining");
        node.Start(_random.Next());
        FaultsChanged();
        return node;
    }

    /// <summary>The operator stops a node: no crash's restart brings it back (the final heal may, see <see cref="SimulatedNemesis"/>).</summary>
    internal void Retire(SimulatedNode node, string why)
    {
        Trace($"operator: stop {node.Id} ({why})");
        Crash(node);
        node.Retired = true;
        FaultsChanged();
    }

    /// <summary>The node the simulation believes leads: the leader of the highest term among the nodes up.</summary>
    internal SimulatedNode? BelievedLeader()
    {
        SimulatedNode? leader = null;
        for (var i = 0; i < _created; i++)
        {
            var node = Nodes[i];
            if (node.Up && node.Protocol.Role == RaftRole.Leader && (leader is null || node.Protocol.Term > leader.Protocol.Term))
                leader = node;
        }

        return leader;
    }

    /// <summary>The configuration in use, as the operator sees it: the believed leader's, else the latest committed.</summary>
    internal ClusterConfiguration CurrentConfiguration() => BelievedLeader()?.Protocol.Configuration ?? Checker.CommittedConfiguration;

    /// <summary>A server no voter of its own configuration, its removal pending, was elected (it commits the change and hands over).</summary>
    internal void LeaderOutsideItsConfiguration() => _configurationChanges = _configurationChanges with { PendingRemovalLeaders = _configurationChanges.PendingRemovalLeaders + 1 };

    /// <summary>A committed configuration entry changed the membership from <paramref name="before"/> to <paramref name="after"/>; <paramref name="leaderId"/> appended it.</summary>
    internal void ConfigurationCommitted(ClusterConfiguration before, ClusterConfiguration after, string? leaderId)
    {
        var added = after.Members.Count(m => !before.IsMember(m.Id));
        var promoted = after.Members.Count(m => m.IsVoter && before.Find(m.Id) is { IsVoter: false });
        var removed = before.Members.Where(m => !after.IsMember(m.Id)).ToList();
        _configurationChanges = _configurationChanges with
        {
            Added = _configurationChanges.Added + added,
            Promoted = _configurationChanges.Promoted + promoted,
            Removed = _configurationChanges.Removed + removed.Count,
            LeadersRemoved = _configurationChanges.LeadersRemoved + removed.Count(m => m.Id == leaderId),
        };
        Trace($"configuration {after} committed");
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

    internal void ReadServed(bool byLeader) =>
        _reads = byLeader ? _reads with { ByLeaders = _reads.ByLeaders + 1 } : _reads with { ByFollowers = _reads.ByFollowers + 1 };

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
        for (var group = 0; group < Nodes.Length; group++)
        {
            if (MajorityIn(group))
                Queue.After(Micros.Of(Options.LivenessBound), new SimEvent(EventKind.LivenessCheck, group, _livenessEpoch));
        }
    }

    /// <summary>
    /// Whether <paramref name="group"/> holds, up, a majority of the voters of every configuration that
    /// may decide there: the latest committed, and any not committed yet that a node up in the group
    /// holds (it counts the voters it adds, and no longer the ones it removes; a server holding it
    /// refuses its vote to the voters that lack it).
    /// </summary>
    private bool MajorityIn(int group)
    {
        if (!MajorityOf(Checker.CommittedConfiguration, group))
            return false;
        for (var i = 0; i < _created; i++)
        {
            var protocol = Nodes[i].Protocol;
            if (Nodes[i].Up && Network.GroupOf(i) == group && protocol.ConfigurationIndex > Checker.CommittedCount && !MajorityOf(protocol.Configuration, group))
                return false;
        }

        return true;
    }

    private bool MajorityOf(ClusterConfiguration configuration, int group)
    {
        var up = 0;
        foreach (var voter in configuration.Voters)
        {
            var index = IndexOf(voter);
            if (Nodes[index].Up && Network.GroupOf(index) == group)
                up++;
        }

        return up >= configuration.Majority;
    }

    /// <summary>
    /// A majority has been left alone for the bound: one of its nodes leads it, has committed an entry of
    /// its term, and every member of its configuration there follows it. Skipped when the operator has
    /// changed the configuration meanwhile so that the group no longer holds a majority of it.
    /// </summary>
    private void CheckLiveness(int group, bool lastChance)
    {
        if (!MajorityIn(group))
            return;
        try
        {
            CheckLeaderFollowed(group);
        }
        catch (SimulationFailure) when (!lastChance)
        {
            // An election may have begun just before the check: without PreVote a follower that
            // lost a run of heartbeats (fair weather loses a few percent of messages) deposes its
            // leader, as Raft lets it. It gets two election timeouts to finish; a cluster that
            // cannot elect a leader fails the second check as it failed the first.
            var recheck = Options.LivenessRecheck ?? Options.ElectionTimeoutMax * 2;
            Queue.After(Micros.Of(recheck), new SimEvent(EventKind.LivenessCheck, group, _livenessEpoch, LastChance.Instance));
        }
    }

    /// <summary>Marks the second and last liveness check of a majority left alone.</summary>
    private sealed class LastChance
    {
        public static readonly LastChance Instance = new();
    }

    private void CheckLeaderFollowed(int group)
    {
        SimulatedNode? leader = null;
        for (var i = 0; i < _created; i++)
        {
            var node = Nodes[i];
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
        // behind for good, as a follower whose refusals the leader mishandles would be. Learners
        // too; servers outside the leader's configuration (removed, or not added) are no members.
        var members = leader.Protocol.Configuration;
        for (var i = 0; i < _created; i++)
        {
            var node = Nodes[i];
            if (node.Up && Network.GroupOf(node.Index) == group && members.IsMember(node.Id) &&
                (node.Protocol.Term != term || node.Protocol.LeaderId != leader.Id || node.Protocol.Log.LastIndexOfTerm(term) is null))
                throw new SimulationFailure("Liveness", $"{node.Id} has not caught up with {leader.Id}'s term {term} (it holds no entry of the term) {window}: {Describe()}");
        }
    }

    private string Describe() => string.Join("; ", Nodes.Take(_created).Select(n => n.Up
        ? $"{n.Id} {n.Protocol.Role}{(n.Protocol.IsVoter ? "" : n.Protocol.Configuration.IsMember(n.Id) ? " (learner)" : " (no member)")} t{n.Protocol.Term} leader {n.Protocol.LeaderId ?? "-"} log {n.Protocol.LastLog.Index}/{n.Protocol.LastLog.Term} commit {n.Protocol.CommitIndex}"
        : $"{n.Id} {(n.Decommissioned ? "removed and stopped" : n.Retired ? "stopped" : "down")}")) +
        (Options.Membership ? $"; committed configuration {Checker.CommittedConfiguration}" : "");

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
            Trace($"{(e.Kind == EventKind.DeliverPeerMessage ? $"{Nodes[e.From].Id}->" : "")}{(e.Kind is EventKind.ClientReplyArrives ? $"c{e.Target}" : e.Kind is EventKind.OperatorReplyArrives ? "operator" : Nodes[e.Target].Id)}: {Describe(what)}");
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
        ClientRequest r => $"c{r.Client} op {r.OperationId}: {r.Command.Kind} {r.Command.KeyName} {r.Command.Value} {(r.Command.Kind == KvKind.CompareAndSet ? $"if {r.Command.Expected ?? "absent"}" : "")}{(r.Entry is { } entry ? $" (session {entry.ClientId} #{entry.Sequence})" : "")}",
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
        Reads = _reads,
        Membership = _configurationChanges + (Operator?.Counts ?? default),
    };
}
