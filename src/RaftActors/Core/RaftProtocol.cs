using RaftActors.Messages;

namespace RaftActors.Core;

/// <summary>
/// Raft's protocol as a deterministic state machine, in the manner of etcd-io/raft: no clock,
/// no I/O, no actor. Time arrives as timer inputs, peers' messages as <see cref="Step"/>; the
/// decisions come out as <see cref="RaftEffect"/>s for the host (the RaftNode actor, or a
/// simulator) to carry out. Every rule of Figure 2 lives here or in the rule classes it calls.
/// </summary>
public sealed class RaftProtocol
{
    private readonly List<RaftEffect> _effects = new();
    private readonly ElectionTimeouts _timeouts;
    private readonly TimeSpan _heartbeatInterval;
    private readonly HashSet<string> _peers;
    private ElectionTally? _tally;

    public RaftProtocol(
        string nodeId,
        IReadOnlyCollection<string> peerIds,
        HardState persisted,
        ElectionTimeouts timeouts,
        TimeSpan heartbeatInterval)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(nodeId);
        NodeId = nodeId;
        _peers = new HashSet<string>(peerIds, StringComparer.Ordinal);
        if (_peers.Contains(nodeId))
            throw new ArgumentException($"node '{nodeId}' is listed as its own peer", nameof(peerIds));
        if (_peers.Count != peerIds.Count)
            throw new ArgumentException("peer ids must be distinct", nameof(peerIds));
        HardState = persisted;
        _timeouts = timeouts;
        _heartbeatInterval = heartbeatInterval;
    }

    public string NodeId { get; }

    public IReadOnlyCollection<string> Peers => _peers;

    public int ClusterSize => _peers.Count + 1;

    public RaftRole Role { get; private set; } = RaftRole.Follower;

    /// <summary>The latest hard state this node decided on; it may not be durable yet.</summary>
    public HardState HardState { get; private set; }

    public long Term => HardState.Term;

    /// <summary>The leader of the current term, when this node knows it.</summary>
    public string? LeaderId { get; private set; }

    /// <summary>The position of this node's last log entry. The log arrives with log replication.</summary>
    public LogPosition LastLog => LogPosition.Empty;

    /// <summary>Takes the effects produced since the last call, in the order they must be carried out.</summary>
    public IReadOnlyList<RaftEffect> DrainEffects()
    {
        var drained = _effects.ToArray();
        _effects.Clear();
        return drained;
    }

    /// <summary>Starts the node as a follower of its persisted term, waiting for a leader.</summary>
    public void Start() => Emit(new ResetElectionTimer(_timeouts.Next()));

    /// <summary>The election timer fired: a follower or candidate starts a new election.</summary>
    public void ElectionTimeoutElapsed()
    {
        if (Role != RaftRole.Leader)
            StartElection();
    }

    /// <summary>The heartbeat timer fired: a leader asserts its leadership to every peer.</summary>
    public void HeartbeatTimeoutElapsed()
    {
        if (Role == RaftRole.Leader)
            BroadcastHeartbeat();
    }

    /// <summary>
    /// Handles a peer's message. A message from an unknown node is ignored. A higher term is
    /// adopted before anything else, in every role (§5.1); then the current role handles it.
    /// </summary>
    /// <returns>false when the message was ignored because its sender is not a member.</returns>
    public bool Step(IRaftProtocolMessage message)
    {
        if (!_peers.Contains(message.From))
            return false;
        if (message.Term > Term)
            BecomeFollower(message.Term, leaderId: null);

        switch (message)
        {
            case RequestVote request:
                HandleRequestVote(request);
                break;
            case AppendEntries append:
                HandleAppendEntries(append);
                break;
            case RequestVoteResult vote when Role == RaftRole.Candidate && vote.Term == Term:
                CountVote(vote);
                break;
            // A vote reply of another term or role, and AppendEntries replies before log
            // replication, change nothing beyond the term rule above.
        }

        return true;
    }

    private void StartElection()
    {
        Role = RaftRole.Candidate;
        LeaderId = null;
        HardState = new HardState(Term + 1, NodeId);
        _tally = new ElectionTally(ClusterSize, NodeId);
        Emit(new PersistHardState(HardState));
        Emit(new ResetElectionTimer(_timeouts.Next()));
        foreach (var peer in _peers)
            Emit(new SendMessage(peer, new RequestVote(Term, NodeId, LastLog.Index, LastLog.Term)));
        if (_tally.HasMajority)
            BecomeLeader();
    }

    private void CountVote(RequestVoteResult vote)
    {
        _tally!.Record(vote.VoterId, vote.VoteGranted);
        if (_tally.HasMajority)
            BecomeLeader();
    }

    private void BecomeLeader()
    {
        Role = RaftRole.Leader;
        LeaderId = NodeId;
        _tally = null;
        Emit(new StopElectionTimer());
        BroadcastHeartbeat();
        Emit(new StartHeartbeatTimer(_heartbeatInterval));
    }

    private void BecomeFollower(long term, string? leaderId)
    {
        var wasLeader = Role == RaftRole.Leader;
        Role = RaftRole.Follower;
        LeaderId = leaderId;
        _tally = null;
        if (term != Term)
        {
            HardState = new HardState(term, null);
            Emit(new PersistHardState(HardState));
        }

        if (wasLeader)
        {
            // A leader's election timer is off; a follower needs one to notice a dead leader.
            Emit(new StopHeartbeatTimer());
            Emit(new ResetElectionTimer(_timeouts.Next()));
        }
    }

    private void HandleRequestVote(RequestVote request)
    {
        var decision = VoteRules.Decide(HardState, LastLog, request);
        if (decision == VoteDecision.Granted)
        {
            if (HardState.VotedFor != request.CandidateId)
            {
                HardState = HardState with { VotedFor = request.CandidateId };
                Emit(new PersistHardState(HardState));
            }

            // Granting a vote is one of the three events that reset the election timer.
            Emit(new ResetElectionTimer(_timeouts.Next()));
        }

        Emit(new SendMessage(request.CandidateId, new RequestVoteResult(Term, NodeId, decision == VoteDecision.Granted)));
    }

    private void HandleAppendEntries(AppendEntries append)
    {
        if (append.Term < Term)
        {
            Emit(new SendMessage(append.LeaderId, new AppendEntriesResult(Term, NodeId, Success: false)));
            return;
        }

        if (Role == RaftRole.Leader)
        {
            // Two leaders in one term would break Election Safety; it cannot happen while
            // every node keeps one vote per term, so refuse rather than follow.
            Emit(new SendMessage(append.LeaderId, new AppendEntriesResult(Term, NodeId, Success: false)));
            return;
        }

        if (Role == RaftRole.Candidate)
            BecomeFollower(Term, append.LeaderId);
        LeaderId = append.LeaderId;

        // An AppendEntries from the current term's leader resets the election timer.
        Emit(new ResetElectionTimer(_timeouts.Next()));
        var matches = append.PrevLogIndex == LastLog.Index && append.PrevLogTerm == LastLog.Term;
        Emit(new SendMessage(append.LeaderId, new AppendEntriesResult(Term, NodeId, matches)));
    }

    private void BroadcastHeartbeat()
    {
        foreach (var peer in _peers)
            Emit(new SendMessage(peer, new AppendEntries(Term, NodeId, LastLog.Index, LastLog.Term, LeaderCommit: 0)));
    }

    private void Emit(RaftEffect effect) => _effects.Add(effect);
}
