using RaftActors.Core;

namespace RaftActors.Simulation;

public enum FaultKind
{
    /// <summary>A random node crashes (losing what was not durable) and restarts later from its disk.</summary>
    CrashNode,

    /// <summary>The leader of the highest term crashes and restarts later.</summary>
    CrashLeader,

    /// <summary>A node crashes while a write of its is in flight (the write lands or not), and restarts later.</summary>
    CrashDuringWrite,

    /// <summary>The leader is cut off from everyone else.</summary>
    IsolateLeader,

    /// <summary>The nodes are split into a majority and a minority at random.</summary>
    SplitMajorityMinority,

    /// <summary>The nodes are split into up to three groups at random.</summary>
    RandomPartition,

    /// <summary>Messages are lost, duplicated and delayed (reordered) far more often.</summary>
    Storm,

    /// <summary>One node's disk takes 10-40 times longer to make writes durable.</summary>
    SlowDisk,

    /// <summary>
    /// For up to a few seconds, every newly elected leader is crashed or cut off within a few
    /// milliseconds (the previous one cut off rejoins): short terms whose entries reach only part
    /// of the cluster, the ground of the paper's Figure 8.
    /// </summary>
    LeaderChurn,

    /// <summary>The operator starts a new server (empty disk, no configuration) and adds it as a learner.</summary>
    AddLearner,

    /// <summary>The operator adds a voter: a new server, or a learner already there, promoted once it has caught up.</summary>
    AddVoter,

    /// <summary>The operator removes a member, voter or learner, now and then the leader itself.</summary>
    RemoveMember,

    /// <summary>
    /// The operator replaces a voter (one that is down if any; half the time it kills it first, a failed
    /// machine that comes back after 3 to 6 s unless its removal committed): adds a new server as a
    /// voter, then removes the old one.
    /// </summary>
    ReplaceServer,

    /// <summary>The operator hands leadership to a named voter, to the leader's choice, or (calling a transfer off) to the leader itself.</summary>
    TransferLeadership,
}

/// <summary>
/// The fault schedule. Faults come at random intervals and each heals by itself after a while
/// (a crashed node restarts, a partition heals, a storm calms, a disk recovers); now and then the
/// nemesis leaves the cluster alone for longer than the liveness bound, so the liveness check runs
/// mid-run too. With membership, about two faults in five are the operator's operations instead
/// (<see cref="SimulatedOperator"/>): servers added, promoted, removed and replaced, leadership
/// handed over, amid the crashes and partitions. Once its faults are spent and the clients have
/// invoked their operations, it heals everything at once (every server back up but those stopped
/// for good after their removal) and asks each client for a final operation.
/// </summary>
internal sealed class SimulatedNemesis
{
    private enum Action
    {
        Inject,
        Restart,
        HealPartition,
        CalmStorm,
        RestoreDisk,
        StrikeLeader,
    }

    private static readonly FaultKind[] Kinds = Enum.GetValues<FaultKind>();

    // Every kind of node and network fault once, and leader churn twice more: the interleavings of
    // Figure 8 (an old-term entry committed by counting, then overwritten) need several short terms in a row.
    private static readonly FaultKind[] NodeFaults = [.. Kinds.Where(k => k <= FaultKind.LeaderChurn), FaultKind.LeaderChurn, FaultKind.LeaderChurn];

    // With membership, the operator's operations too: adds and removals twice, so that the cluster
    // both grows and shrinks, and transfers twice.
    private static readonly FaultKind[] WithMembership =
    [
        .. NodeFaults, FaultKind.AddLearner, FaultKind.AddVoter, FaultKind.AddVoter, FaultKind.RemoveMember, FaultKind.RemoveMember,
        FaultKind.ReplaceServer, FaultKind.TransferLeadership, FaultKind.TransferLeadership,
    ];

    private readonly ClusterSimulation _sim;
    private readonly Random _random;
    private readonly int _planned;
    private readonly FaultKind[] _draw;
    private readonly int[] _byKind = new int[Kinds.Length];
    private long _partitionEpoch;
    private long _stormEpoch;
    private readonly long[] _diskEpoch;
    private long _churnUntil;

    public SimulatedNemesis(ClusterSimulation sim, Random random)
    {
        _sim = sim;
        _random = random;
        _planned = sim.Options.Faults + random.Next(sim.Options.Faults / 4 + 1);
        _diskEpoch = new long[sim.Nodes.Length];
        _draw = sim.Options.Membership ? WithMembership : NodeFaults;
    }

    public int Injected { get; private set; }

    public bool HealedForGood { get; private set; }

    public IReadOnlyList<int> ByKind => _byKind;

    public void Start() => Schedule(Action.Inject, Micros.Millis(20 + _random.NextDouble() * 200));

    public void On(SimEvent e)
    {
        switch ((Action)e.Target)
        {
            case Action.Inject:
                Inject();
                break;
            case Action.Restart:
                Restart(e.From);
                break;
            case Action.HealPartition when e.Generation == _partitionEpoch:
                _sim.Network.Heal();
                _sim.Trace($"nemesis: partition healed");
                _sim.FaultsChanged();
                break;
            case Action.CalmStorm when e.Generation == _stormEpoch:
                _sim.Network.Stormy = false;
                _sim.Trace($"nemesis: storm over");
                _sim.FaultsChanged();
                break;
            case Action.RestoreDisk when e.Generation == _diskEpoch[e.From]:
                _sim.Nodes[e.From].Disk.Slowdown = 1;
                _sim.FaultsChanged();
                break;
            case Action.StrikeLeader when !HealedForGood:
            {
                var node = _sim.Nodes[e.From];
                if (!node.Up || node.Protocol.Role != RaftRole.Leader || node.Protocol.Term != e.Generation)
                    break;
                if (_random.NextDouble() < 0.5)
                {
                    Crash(e.From, maxDowntimeMillis: 500);
                }
                else
                {
                    var groups = new int[_sim.Nodes.Length];
                    groups[e.From] = 1;
                    Partition(groups);
                    _sim.FaultsChanged();
                }

                break;
            }
        }
    }

    private void Inject()
    {
        if (Injected >= _planned)
        {
            if (_sim.ClientOperationsInvoked >= _sim.Options.ClientCommands)
                HealForGood();
            else
                Schedule(Action.Inject, Micros.Millis(100)); // wait for the clients' operations
            return;
        }

        var kind = _draw[_random.Next(_draw.Length)];
        Injected++;
        _byKind[(int)kind]++;
        var n = _sim.NodeCount;
        var slots = _sim.Nodes.Length;
        switch (kind)
        {
            case FaultKind.CrashNode:
                Crash(RandomUpNode());
                break;
            case FaultKind.CrashLeader:
                Crash(Leader() ?? RandomUpNode());
                break;
            case FaultKind.CrashDuringWrite:
                Crash(NodeWriting() ?? RandomUpNode());
                break;
            case FaultKind.IsolateLeader:
            {
                var groups = new int[slots];
                groups[Leader() ?? _random.Next(n)] = 1;
                Partition(groups);
                break;
            }

            case FaultKind.SplitMajorityMinority:
            {
                var groups = new int[slots];
                var order = Enumerable.Range(0, n).ToArray();
                _random.Shuffle(order);
                for (var i = 0; i < n / 2; i++)
                    groups[order[i]] = 1;
                Partition(groups);
                break;
            }

            case FaultKind.RandomPartition:
            {
                var groups = new int[slots];
                for (var i = 0; i < n; i++)
                    groups[i] = _random.Next(3);
                Partition(groups);
                break;
            }

            case FaultKind.Storm:
                _sim.Network.Stormy = true;
                _sim.Trace("nemesis: storm");
                Schedule(Action.CalmStorm, Micros.Millis(50 + _random.NextDouble() * 950), ++_stormEpoch);
                break;
            case FaultKind.SlowDisk:
            {
                var node = _random.Next(n);
                _sim.Nodes[node].Disk.Slowdown = 10 + _random.Next(31);
                _sim.Trace($"nemesis: slow disk on {_sim.Nodes[node].Id}");
                Schedule(Action.RestoreDisk, Micros.Millis(100 + _random.NextDouble() * 1900), ++_diskEpoch[node], node);
                break;
            }

            case FaultKind.LeaderChurn:
                _sim.Trace("nemesis: leader churn");
                _churnUntil = _sim.Queue.Now + Micros.Millis(500 + _random.NextDouble() * 2500);
                break;
            default:
                _sim.Operator!.Plan(kind);
                break;
        }

        _sim.FaultsChanged();

        // Now and then a quiet spell longer than the liveness bound, so liveness is checked mid-run.
        var gap = _random.NextDouble() < 0.1
            ? Micros.Of(_sim.Options.LivenessBound) + Micros.Millis(200 + _random.NextDouble() * 500)
            : Micros.Millis(20 + _random.NextDouble() * 380);
        Schedule(Action.Inject, gap);
    }

    /// <summary>During a leader churn, a new leader is struck down before its entries get far.</summary>
    public void OnLeaderElected(SimulatedNode leader)
    {
        if (_sim.Queue.Now < _churnUntil && !HealedForGood)
            Schedule(Action.StrikeLeader, Micros.Millis(_random.NextDouble() * 5), leader.Protocol.Term, leader.Index);
    }

    private void HealForGood()
    {
        HealedForGood = true;
        _partitionEpoch++;
        _stormEpoch++;
        _sim.Network.Heal();
        _sim.Network.Stormy = false;
        _sim.Operator?.StopPlanning();
        foreach (var node in _sim.Nodes)
        {
            _diskEpoch[node.Index]++;
            node.Disk.Slowdown = 1;

            // Every server comes back but those stopped for good after their removal: a server the
            // operator killed to replace it, whose removal it did not see through, is still a member.
            if (node.Created && !node.Up && !node.Decommissioned)
            {
                node.Retired = false;
                _sim.Restart(node);
            }
        }

        _sim.Trace("nemesis: final heal");
        _sim.FaultsChanged();
        _sim.RequestFinalOperations();
    }

    private void Crash(int node, int maxDowntimeMillis = 1500)
    {
        _sim.Crash(_sim.Nodes[node]);
        _sim.FaultsChanged();
        Schedule(Action.Restart, Micros.Millis(10 + _random.NextDouble() * (maxDowntimeMillis - 10)), 0, node);
    }

    private void Restart(int node)
    {
        if (_sim.Nodes[node].Up || _sim.Nodes[node].Retired)
            return;
        _sim.Restart(_sim.Nodes[node]);
        _sim.FaultsChanged();
    }

    private void Partition(int[] groups)
    {
        _sim.Network.Partition(groups);
        _sim.Trace($"nemesis: partition {_sim.Network.Describe()}");
        Schedule(Action.HealPartition, Micros.Millis(50 + _random.NextDouble() * 1450), ++_partitionEpoch);
    }

    private int RandomUpNode()
    {
        var n = _sim.NodeCount;
        var start = _random.Next(n);
        for (var i = 0; i < n; i++)
        {
            if (_sim.Nodes[(start + i) % n].Up)
                return (start + i) % n;
        }

        return start; // all down already: crashing a down node changes nothing
    }

    /// <summary>A node with a write in flight, if any.</summary>
    private int? NodeWriting()
    {
        var n = _sim.NodeCount;
        var start = _random.Next(n);
        for (var i = 0; i < n; i++)
        {
            if (_sim.Nodes[(start + i) % n] is { Up: true, Writing: true } node)
                return node.Index;
        }

        return null;
    }

    /// <summary>The node leading the highest term, if any.</summary>
    private int? Leader()
    {
        int? leader = null;
        foreach (var node in _sim.Nodes)
        {
            if (node.Up && node.Protocol.Role == RaftRole.Leader && (leader is null || node.Protocol.Term > _sim.Nodes[leader.Value].Protocol.Term))
                leader = node.Index;
        }

        return leader;
    }

    private void Schedule(Action action, long delay, long generation = 0, int node = -1) =>
        _sim.Queue.After(delay, new SimEvent(EventKind.Nemesis, (int)action, generation, From: node));
}
