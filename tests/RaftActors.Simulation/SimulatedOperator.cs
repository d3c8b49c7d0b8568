using RaftActors.Core;

namespace RaftActors.Simulation;

/// <summary>
/// The operator's request to a node: a membership change (<see cref="Change"/>), or else a leadership
/// transfer to <see cref="TransferTarget"/> (null: the leader picks). <see cref="Attempt"/> tells a
/// retry's answer from an earlier attempt's.
/// </summary>
internal sealed record OperatorRequest(int Task, long Attempt, MembershipChange? Change, string? TransferTarget) : NodeRequest
{
    public override string ToString() => Change is { } change
        ? $"task {Task} attempt {Attempt}: {change.Kind} {change.Id}"
        : $"task {Task} attempt {Attempt}: transfer leadership to {TransferTarget ?? "(leader's choice)"}";
}

internal enum OperatorReplyKind : byte
{
    /// <summary>The change is committed, or the transfer done (a new leader is known).</summary>
    Done,

    /// <summary>Certainly not done (<see cref="OperatorReply.Refusal"/> says why).</summary>
    Refused,

    /// <summary>The node lost its leadership midway: the change may or may not take effect.</summary>
    OutcomeUnknown,
}

/// <summary>A node's (<see cref="From"/>) answer to the operator.</summary>
internal sealed record OperatorReply(
    string From,
    OperatorRequest Request,
    OperatorReplyKind Kind,
    MembershipRefusal? Refusal = null,
    ClusterConfiguration? Configuration = null,
    long Index = 0,
    string? LeaderId = null,
    long Term = 0,
    string? Reason = null)
{
    public override string ToString() => Kind switch
    {
        OperatorReplyKind.Done when Configuration is not null => $"operator {Request}: done, {Configuration} at {Index}",
        OperatorReplyKind.Done => $"operator {Request}: done, {LeaderId} leads term {Term}",
        OperatorReplyKind.Refused => $"operator {Request}: refused {Refusal!.Reason}",
        _ => $"operator {Request}: outcome unknown ({Reason})",
    };
}

/// <summary>One step of an operator's task: a membership change, or a leadership transfer (<see cref="Change"/> null).</summary>
internal sealed record OperatorStep(MembershipChange? Change, string? TransferTarget = null);

/// <summary>
/// The cluster's administrator, as a demanding Raft tester plays it: the nemesis hands it membership
/// operations (add a learner, add a voter, remove a member, replace a server, hand leadership over),
/// and it carries each out as RaftNode's clients would — one request at a time per operation, sent
/// to the node the simulation believes leads (the leader of the highest term among the nodes up),
/// over the same lossy network as the clients, and retried after a pause when refused for a reason
/// that may pass (not the leader, not ready, another change or transfer under way, a learner not
/// caught up) or when its outcome is unknown, until its deadline. A retry that finds the change made
/// ("already a member", "not a member") counts as done. Several operations may be under way at once,
/// so that requests meet at the leader while a change is not committed yet (which it must refuse).
/// A server removed keeps running for a while — it must stay quiet — and is then stopped for good or
/// left running to the end.
/// </summary>
internal sealed class SimulatedOperator
{
    private enum Action
    {
        Attempt,
        Timeout,
        Decommission,
        Sweep,
        Revive,
    }

    private const int MaxActiveTasks = 3;
    private static readonly long RequestTimeout = Micros.Millis(3000);
    private static readonly long StepDeadline = Micros.Millis(8000);
    private static readonly long SweepInterval = Micros.Millis(500);

    private readonly ClusterSimulation _sim;
    private readonly Random _random;
    private readonly Dictionary<int, OperatorTask> _active = new();
    private readonly Queue<OperatorTask> _waiting = new();
    private readonly HashSet<int> _decommissionScheduled = new();
    private int _nextTask;

    public SimulatedOperator(ClusterSimulation sim, Random random)
    {
        _sim = sim;
        _random = random;
    }

    public MembershipCounts Counts { get; private set; }

    /// <summary>Starts looking for removed servers to deal with, every half second.</summary>
    public void Start() => Schedule(Action.Sweep, SweepInterval);

    /// <summary>
    /// Plans the operation <paramref name="kind"/> against the configuration in use now (the believed
    /// leader's, else the last one committed) and starts it, or queues it behind the operations under way.
    /// </summary>
    public void Plan(FaultKind kind)
    {
        var configuration = _sim.CurrentConfiguration();
        var leader = _sim.BelievedLeader();
        var voters = configuration.Voters;
        var learners = configuration.Members.Where(m => !m.IsVoter).Select(m => m.Id).ToList();
        var room = configuration.Members.Count < _sim.Options.MaxMembers && _sim.HasFreeSlot;
        var steps = new List<OperatorStep>();
        switch (kind)
        {
            case FaultKind.AddLearner when room:
                steps.Add(new OperatorStep(MembershipChange.AddLearner(_sim.StartJoiningServer().Id)));
                break;
            case FaultKind.AddVoter when learners.Count > 0 && (!room || _random.NextDouble() < 0.5):
                steps.Add(new OperatorStep(MembershipChange.AddVoter(learners[_random.Next(learners.Count)])));
                break;
            case FaultKind.AddVoter when room:
                steps.Add(new OperatorStep(MembershipChange.AddVoter(_sim.StartJoiningServer().Id)));
                break;
            case FaultKind.RemoveMember:
            {
                // The leader now and then; any other member, but never the last voter.
                var removable = configuration.Members.Where(m => !m.IsVoter || voters.Count > 1).Select(m => m.Id).ToList();
                if (removable.Count == 0)
                    break;
                var victim = leader is not null && removable.Contains(leader.Id) && _random.NextDouble() < 0.3
                    ? leader.Id
                    : removable[_random.Next(removable.Count)];
                steps.Add(new OperatorStep(MembershipChange.Remove(victim)));
                break;
            }

            case FaultKind.ReplaceServer when voters.Count > 0:
            {
                // A dead voter if there is one (down now), else any voter; half the time the operator
                // first kills it, as a machine that fails — repaired after 3 to 6 s unless its removal
                // is committed by then (a voter dead for good while other changes go on could leave
                // no majority for the rest of the run).
                var down = voters.Where(v => !_sim.Nodes[ClusterSimulation.IndexOf(v)].Up).ToList();
                var victim = down.Count > 0 ? down[_random.Next(down.Count)] : voters[_random.Next(voters.Count)];
                var node = _sim.Nodes[ClusterSimulation.IndexOf(victim)];
                if (node.Up && _random.NextDouble() < 0.5)
                {
                    _sim.Retire(node, "replaced as dead");
                    Schedule(Action.Revive, Micros.Millis(3000 + _random.NextDouble() * 3000), 0, node.Index);
                }
                if (room)
                    steps.Add(new OperatorStep(MembershipChange.AddVoter(_sim.StartJoiningServer().Id)));
                if (voters.Count > 1 || room)
                    steps.Add(new OperatorStep(MembershipChange.Remove(victim)));
                break;
            }

            case FaultKind.TransferLeadership:
            {
                var others = voters.Where(v => v != leader?.Id).ToList();
                var dice = _random.NextDouble();
                var target = dice < 0.45 && others.Count > 0 ? others[_random.Next(others.Count)]
                    : dice < 0.55 && leader is not null ? leader.Id // calls a transfer under way off
                    : null;
                steps.Add(new OperatorStep(null, target));
                break;
            }
        }

        if (steps.Count == 0)
            steps.Add(new OperatorStep(null)); // nothing of the kind fits this configuration: hand leadership over instead
        var task = new OperatorTask(_nextTask++, steps);
        _sim.Trace($"operator: task {task.Id} ({kind}): {string.Join(", then ", steps.Select(Describe))}");
        if (_active.Count < MaxActiveTasks)
            Begin(task);
        else
            _waiting.Enqueue(task);
    }

    /// <summary>The final heal: operations not begun are dropped; those under way run to their end; every removed server is dealt with now.</summary>
    public void StopPlanning()
    {
        _waiting.Clear();
        SweepRemoved(now: true);
    }

    /// <summary>
    /// Finds the servers the committed configuration removed that the operator has not dealt with yet
    /// (removals it saw done are scheduled when done; this also finds those it never heard were done)
    /// and deals with them, after a while or <paramref name="now"/>.
    /// </summary>
    public void SweepRemoved(bool now)
    {
        var committed = _sim.Checker.CommittedConfiguration;
        for (var i = 0; i < _sim.NodeCount; i++)
        {
            var node = _sim.Nodes[i];
            if (node.RemovalHandled || committed.IsMember(node.Id) || !_sim.Checker.WasMember(node.Id))
                continue;
            if (now)
                Decommission(node);
            else if (_decommissionScheduled.Add(i))
                Schedule(Action.Decommission, Micros.Millis(100 + _random.NextDouble() * 1400), 0, i);
        }
    }

    public void On(SimEvent e)
    {
        switch ((Action)e.Target)
        {
            case Action.Attempt when _active.TryGetValue((int)e.Generation, out var task) && task.Waiting:
                task.Waiting = false;
                Attempt(task);
                break;
            case Action.Timeout when _active.TryGetValue((int)(e.Generation >> 32), out var task) && task.Attempt == (e.Generation & 0xFFFFFFFF) && !task.Waiting:
                Retry(task, 0);
                break;
            case Action.Decommission:
                Decommission(_sim.Nodes[e.From]);
                break;
            case Action.Sweep:
                SweepRemoved(now: false);
                Schedule(Action.Sweep, SweepInterval);
                break;
            case Action.Revive:
            {
                var node = _sim.Nodes[e.From];
                if (node.Retired && !node.Decommissioned)
                {
                    // Its replacement did not see its removal through in time: the failed machine is repaired.
                    node.Retired = false;
                    _sim.Restart(node);
                    _sim.FaultsChanged();
                }

                break;
            }
        }
    }

    public void OnReply(OperatorReply reply)
    {
        var request = reply.Request;
        if (!_active.TryGetValue(request.Task, out var task) || task.Attempt != request.Attempt || task.Waiting)
            return; // an answer to an earlier attempt, or to an operation over
        var step = task.Current;
        switch (reply.Kind)
        {
            case OperatorReplyKind.Done:
                if (reply.Configuration is { } configuration)
                    _sim.Checker.MembershipAnswered(configuration, reply.Index);
                else if (reply.LeaderId != reply.From)
                    Counts = Counts with { Transfers = Counts.Transfers + 1 }; // handed over, not called off
                StepDone(task);
                return;
            case OperatorReplyKind.OutcomeUnknown:
                Counts = Counts with { Unknown = Counts.Unknown + 1 };
                Retry(task, Backoff());
                return;
        }

        Counts = Counts with { Refused = Counts.Refused + 1 };
        switch (reply.Refusal!.Reason)
        {
            // An earlier attempt whose outcome was unknown made the change.
            case MembershipRefusalReason.AlreadyMember when step.Change?.Kind is MembershipChangeKind.AddLearner or MembershipChangeKind.AddVoter:
            case MembershipRefusalReason.NotAMember when step.Change?.Kind == MembershipChangeKind.Remove:
                StepDone(task);
                break;

            // Nothing to retry: the configuration does not allow it (any more).
            case MembershipRefusalReason.LastVoter:
            case MembershipRefusalReason.NotAVoter:
            case MembershipRefusalReason.AlreadyMember:
            case MembershipRefusalReason.NotAMember:
                Abandon(task, reply.Refusal.Reason.ToString());
                break;

            // A transfer that did not happen in time is given up half the time.
            case MembershipRefusalReason.TransferTimedOut or MembershipRefusalReason.TransferCancelled when _random.NextDouble() < 0.5:
                Abandon(task, reply.Refusal.Reason.ToString());
                break;

            default:
                Retry(task, Backoff());
                break;
        }
    }

    private void Begin(OperatorTask task)
    {
        _active[task.Id] = task;
        task.Deadline = _sim.Queue.Now + StepDeadline;
        Attempt(task);
    }

    private void Attempt(OperatorTask task)
    {
        if (_sim.Queue.Now > task.Deadline)
        {
            Abandon(task, "deadline");
            return;
        }

        if (_sim.BelievedLeader() is not { } leader)
        {
            Retry(task, Backoff());
            return;
        }

        var step = task.Current;
        task.Attempt++;
        var request = new OperatorRequest(task.Id, task.Attempt, step.Change, step.TransferTarget);
        Counts = Counts with { Requests = Counts.Requests + 1 };
        _sim.Trace($"operator -> {leader.Id}: {request}");

        // A change the operator makes is no fault, but it is no calm either: liveness waits for it.
        _sim.FaultsChanged();
        _sim.SendToOperatorTarget(leader.Index, request);
        Schedule(Action.Timeout, RequestTimeout, ((long)task.Id << 32) | task.Attempt);
    }

    private void Retry(OperatorTask task, long delay)
    {
        task.Waiting = true;
        Schedule(Action.Attempt, delay, task.Id);
    }

    private void StepDone(OperatorTask task)
    {
        var step = task.Current;
        if (step.Change is { Kind: MembershipChangeKind.Remove } removal && _decommissionScheduled.Add(ClusterSimulation.IndexOf(removal.Id)))
            Schedule(Action.Decommission, Micros.Millis(100 + _random.NextDouble() * 1400), 0, ClusterSimulation.IndexOf(removal.Id));
        task.Next++;
        if (task.Next < task.Steps.Count)
        {
            task.Deadline = _sim.Queue.Now + StepDeadline;
            Attempt(task);
            return;
        }

        End(task);
    }

    private void Abandon(OperatorTask task, string why)
    {
        Counts = Counts with { Abandoned = Counts.Abandoned + 1 };
        _sim.Trace($"operator: task {task.Id} given up at {Describe(task.Current)} ({why})");
        End(task);
    }

    private void End(OperatorTask task)
    {
        _active.Remove(task.Id);
        if (_waiting.TryDequeue(out var next))
            Begin(next);
    }

    /// <summary>
    /// A removed server: the operator stops it for good, or leaves it running to the end, where it
    /// must stay quiet (it knows its removal committed) or at least harmless: one that never learned
    /// of its removal, missed the leader's word that it committed, or restarted since (the commit
    /// index is not durable) campaigns with the configuration it has, which PreVote and CheckQuorum
    /// turn away. With neither it would depose leaders again and again (thesis §4.2.3), so the
    /// operator always stops it then, as it must.
    /// </summary>
    private void Decommission(SimulatedNode node)
    {
        if (node.RemovalHandled)
            return;
        if (_sim.Checker.CommittedConfiguration.IsMember(node.Id))
        {
            // Added again since its removal (a retried add): its next removal schedules its own.
            _decommissionScheduled.Remove(node.Index);
            return;
        }

        node.RemovalHandled = true;
        if (node.Retired || (!_sim.Options.PreVote && !_sim.Options.CheckQuorum) || _random.NextDouble() < 0.5)
        {
            if (!node.Retired)
                _sim.Retire(node, "removed");
            node.Decommissioned = true;
        }
    }

    private long Backoff() => Micros.Millis(30 + _random.NextDouble() * 170);

    private void Schedule(Action action, long delay, long generation = 0, int node = -1) =>
        _sim.Queue.After(delay, new SimEvent(EventKind.Operator, (int)action, generation, From: node));

    private static string Describe(OperatorStep step) => step.Change is { } change
        ? $"{change.Kind} {change.Id}"
        : $"transfer leadership to {step.TransferTarget ?? "(leader's choice)"}";

    private sealed class OperatorTask(int id, List<OperatorStep> steps)
    {
        public int Id { get; } = id;

        public List<OperatorStep> Steps { get; } = steps;

        public int Next { get; set; }

        public OperatorStep Current => Steps[Next];

        public long Attempt { get; set; }

        /// <summary>A retry is scheduled: no answer is awaited.</summary>
        public bool Waiting { get; set; }

        public long Deadline { get; set; }
    }
}

/// <summary>
/// Membership in a run or a batch: changes committed (servers added as learners, learners promoted
/// to voters, members removed, and of those the leader that removed itself), leadership transfers
/// done, and the operator's requests, refusals, unknown outcomes and operations given up.
/// </summary>
public readonly record struct MembershipCounts(
    long Added, long Promoted, long Removed, long LeadersRemoved, long Transfers, long Requests, long Refused, long Unknown, long Abandoned,
    long PendingRemovalLeaders = 0)
{
    public static MembershipCounts operator +(MembershipCounts a, MembershipCounts b) => new(
        a.Added + b.Added, a.Promoted + b.Promoted, a.Removed + b.Removed, a.LeadersRemoved + b.LeadersRemoved, a.Transfers + b.Transfers,
        a.Requests + b.Requests, a.Refused + b.Refused, a.Unknown + b.Unknown, a.Abandoned + b.Abandoned, a.PendingRemovalLeaders + b.PendingRemovalLeaders);

    public override string ToString() =>
        $"{Added} servers added, {Promoted} promoted to voter, {Removed} removed ({LeadersRemoved} of them leading), {Transfers} leadership transfers, " +
        $"{PendingRemovalLeaders} terms led by a server its pending removal excluded " +
        $"({Requests} operator requests: {Refused} refused, {Unknown} of unknown outcome, {Abandoned} operations given up)";
}
