using RaftActors.Messages;

namespace RaftActors.Core;

/// <summary>
/// Raft's protocol as a deterministic state machine, in the manner of etcd-io/raft: no clock,
/// no I/O, no actor. Time arrives as timer inputs, peers' messages as <see cref="Step"/>,
/// clients as <see cref="Propose"/> and <see cref="RequestRead"/>, the disk as
/// <see cref="Persisted"/>, snapshots as <see cref="SnapshotTaken"/> and
/// <see cref="SnapshotReceived"/>; decisions come out as <see cref="RaftEffect"/>s for the host
/// (the RaftNode actor, or a simulator) to carry out. Every rule of Figure 2 and Figure 13 lives
/// here or in the rule classes it calls; moving a snapshot's bytes is the host's business.
/// </summary>
public sealed class RaftProtocol
{
    private readonly List<RaftEffect> _effects = new();
    private readonly ElectionTimeouts _timeouts;
    private readonly TimeSpan _heartbeatInterval;
    private readonly ReplicationLimits _limits;
    private readonly HashSet<string> _peers;
    private readonly RaftLog _log;
    private readonly int _trailingEntries;
    private readonly Dictionary<string, FollowerProgress> _progress = new(StringComparer.Ordinal);
    private readonly List<PendingRead> _reads = new();
    private readonly List<long> _readsAwaitingTermStart = new();
    private readonly int _quorumCheckTicks;
    private ElectionTally? _tally;
    private ElectionTally? _preVotes;
    private bool _leaderLease;
    private TimeSpan _timeoutAfterLease;
    private long _heartbeatTicks;
    private long _stableIndex;
    private long _sequence;
    private long _termStartIndex;
    private bool _readRoundNeeded;

    public RaftProtocol(
        string nodeId,
        IReadOnlyCollection<string> peerIds,
        HardState persisted,
        ElectionTimeouts timeouts,
        TimeSpan heartbeatInterval,
        IEnumerable<LogEntry>? persistedLog = null,
        ReplicationLimits? limits = null,
        LogPosition persistedSnapshot = default,
        int trailingEntries = 0)
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

        // CheckQuorum's window, in the leader's heartbeat ticks: at least the minimum election timeout.
        _quorumCheckTicks = (int)Math.Max(1, Math.Ceiling(timeouts.Min / heartbeatInterval));
        _limits = limits ?? ReplicationLimits.Default;
        ArgumentOutOfRangeException.ThrowIfNegative(trailingEntries);
        _trailingEntries = trailingEntries;

        // The snapshot holds committed entries only, and the state machine restarts from it.
        _log = RaftLog.AfterSnapshot(persistedSnapshot, persistedLog as IReadOnlyList<LogEntry> ?? (persistedLog ?? []).ToList());
        Snapshot = persistedSnapshot;
        CommitIndex = persistedSnapshot.Index;
        _stableIndex = _log.LastIndex;
    }

    public string NodeId { get; }

    /// <summary>Bugs injected by a test to prove the simulator finds them; none in production.</summary>
    internal InjectedBugs Bugs { get; init; } = InjectedBugs.None;

    /// <summary>
    /// PreVote (thesis §9.6): a node whose election timer fires first asks its peers whether it could
    /// win an election in the next term, changing nothing; it starts the real election (term + 1)
    /// only with a majority of pre-votes. A node that cannot win — cut off, or behind — then never
    /// raises its term and never deposes a healthy leader when it comes back. Off: Figure 2 as is.
    /// </summary>
    public bool PreVote { get; init; }

    /// <summary>
    /// CheckQuorum (etcd-io/raft): a leader that has not heard from a majority (itself counted) within
    /// the minimum election timeout steps down; and a node that heard from a current leader within the
    /// minimum election timeout ignores RequestVote of a higher term (thesis §4.2.3), so a node that
    /// missed a few heartbeats cannot depose a leader that a majority still follows.
    /// </summary>
    public bool CheckQuorum { get; init; }

    /// <summary>Whether this node is canvassing pre-votes (a follower, term unchanged, about to campaign if a majority agrees).</summary>
    public bool IsPreCandidate => _preVotes is not null;

    /// <summary>
    /// Whether this node believes in a current leader: it leads, or it heard from its leader less than
    /// the minimum election timeout ago (the first stretch of its election timer, see <see cref="ElectionTimeoutElapsed"/>).
    /// Such a node refuses pre-votes and, with <see cref="CheckQuorum"/>, ignores votes of higher terms.
    /// </summary>
    public bool LeaderIsAlive => Role == RaftRole.Leader || (_leaderLease && LeaderId is not null);

    public IReadOnlyCollection<string> Peers => _peers;

    public int ClusterSize => _peers.Count + 1;

    public RaftRole Role { get; private set; } = RaftRole.Follower;

    /// <summary>The latest hard state this node decided on; it may not be durable yet.</summary>
    public HardState HardState { get; private set; }

    public long Term => HardState.Term;

    /// <summary>The leader of the current term, when this node knows it.</summary>
    public string? LeaderId { get; private set; }

    /// <summary>The log as this node has decided it; its tail may not be durable yet.</summary>
    public RaftLog Log => _log;

    public LogPosition LastLog => _log.Last;

    /// <summary>The highest index known committed; volatile, it restarts from the snapshot's index.</summary>
    public long CommitIndex { get; private set; }

    /// <summary>The last entry the node's latest snapshot covers ((0, 0) before the first); the snapshot may not be durable yet.</summary>
    public LogPosition Snapshot { get; private set; }

    /// <summary>Takes the effects produced since the last call, in the order they must be carried out.</summary>
    public IReadOnlyList<RaftEffect> DrainEffects()
    {
        var drained = _effects.ToArray();
        _effects.Clear();
        return drained;
    }

    /// <summary>Starts the node as a follower of its persisted term, waiting for a leader.</summary>
    public void Start() => Emit(new ResetElectionTimer(_timeouts.Next()));

    /// <summary>
    /// The election timer fired: a follower or candidate starts a new election — with PreVote, by
    /// canvassing pre-votes first. With PreVote or CheckQuorum, the timer a leader's message resets
    /// runs in two stretches: the minimum election timeout, during which the node believes in its
    /// leader (<see cref="LeaderIsAlive"/>), then the rest of the randomized timeout; the first
    /// firing only ends that belief. The protocol has no clock: this is how it knows "the minimum
    /// election timeout since the leader was last heard from" (thesis §4.2.3).
    /// </summary>
    public void ElectionTimeoutElapsed()
    {
        if (Role == RaftRole.Leader)
            return;
        if (_leaderLease)
        {
            _leaderLease = false;
            if (_timeoutAfterLease > TimeSpan.Zero)
            {
                Emit(new ResetElectionTimer(_timeoutAfterLease));
                return;
            }
        }

        if (PreVote)
            StartPreVote();
        else
            StartElection();
    }

    /// <summary>
    /// The heartbeat timer fired: a leader asserts its leadership to every peer. The heartbeat ticks
    /// are the leader's clock for CheckQuorum: a leader that no majority has answered within the
    /// minimum election timeout's worth of ticks steps down (same term) instead.
    /// </summary>
    public void HeartbeatTimeoutElapsed()
    {
        if (Role != RaftRole.Leader)
            return;
        _heartbeatTicks++;
        if (CheckQuorum && !QuorumActive())
        {
            BecomeFollower(Term, leaderId: null);
            return;
        }

        foreach (var peer in _peers)
        {
            if (!SendEntries(peer))
                SendAppend(peer, []);
        }
    }

    /// <summary>
    /// Handles a peer's message. A message from an unknown node is ignored. A higher term is
    /// adopted before anything else, in every role (§5.1); then the current role handles it.
    /// Three exceptions: a pre-vote request carries a term proposed, not held, and a granted
    /// pre-vote the term it grants, so neither is adopted (§9.6); and with CheckQuorum a node that
    /// believes in a current leader ignores a RequestVote of a higher term altogether (§4.2.3).
    /// </summary>
    /// <returns>false when the message was ignored because its sender is not a member.</returns>
    public bool Step(IRaftProtocolMessage message)
    {
        if (!_peers.Contains(message.From))
            return false;
        switch (message)
        {
            case RequestVote { PreVote: true } preVote:
                HandlePreVote(preVote);
                return true;
            case RequestVoteResult { PreVote: true, VoteGranted: true } grant:
                if (_preVotes is not null && grant.Term == Term + 1)
                    CountPreVote(grant);
                return true;
            case RequestVote vote when CheckQuorum && vote.Term > Term && LeaderIsAlive:
                return true;
        }

        if (message.Term > Term)
        {
            if (Bugs.StayLeaderOnHigherTerm && Role == RaftRole.Leader)
                Emit(new PersistHardState(HardState = new HardState(message.Term, null)));
            else
                BecomeFollower(message.Term, leaderId: null);
        }

        switch (message)
        {
            case RequestVote request:
                HandleRequestVote(request);
                break;
            case AppendEntries append:
                HandleAppendEntries(append);
                break;
            case RequestVoteResult { PreVote: true } refusal when _preVotes is not null:
                CountPreVote(refusal);
                break;
            case RequestVoteResult { PreVote: false } vote when Role == RaftRole.Candidate && vote.Term == Term:
                CountVote(vote);
                break;
            case AppendEntriesResult result when Role == RaftRole.Leader && result.Term == Term:
                _progress[result.FollowerId].HeardAtTick = _heartbeatTicks;
                HandleAppendResult(result);
                break;
            case InstallSnapshot chunk:
                HandleInstallSnapshot(chunk);
                break;
            case InstallSnapshotResult { Done: true } installed when Role == RaftRole.Leader && installed.Term == Term:
                _progress[installed.FollowerId].HeardAtTick = _heartbeatTicks;
                HandleSnapshotInstalled(installed);
                break;
            case InstallSnapshotResult chunkAnswer when Role == RaftRole.Leader && chunkAnswer.Term == Term:
                // The acknowledgements of a snapshot's chunks before the last are the host's
                // business; to CheckQuorum they show the follower follows.
                _progress[chunkAnswer.FollowerId].HeardAtTick = _heartbeatTicks;
                break;

            // Replies of an older term, or to a role this node no longer has, change nothing
            // beyond the term rule above (§5.1; "ignore replies of another term").
        }

        return true;
    }

    /// <summary>
    /// A leader appends a client's command to its log and returns its index; it replicates with
    /// the next <see cref="Replicate"/>, so commands that arrive together travel together.
    /// Returns null when this node is not the leader.
    /// </summary>
    public long? Propose(EntryCommand command)
    {
        if (Role != RaftRole.Leader)
            return null;
        return AppendAsLeader(command).Index;
    }

    /// <summary>A leader sends what its followers lack, within each follower's window, and any heartbeat round that pending reads wait for.</summary>
    public void Replicate()
    {
        if (Role != RaftRole.Leader)
            return;
        foreach (var peer in _peers)
        {
            var sent = SendEntries(peer);
            if (!sent && _readRoundNeeded && _progress[peer].LastSentSequence < PendingReadSequence())
                SendAppend(peer, []);
        }

        _readRoundNeeded = false;
    }

    /// <summary>
    /// Starts a linearizable read (ReadIndex, thesis §6.4): the leader notes its commit index and
    /// confirms it is still the leader with a round of heartbeats answered by a majority; then
    /// <see cref="ServeRead"/> says from which applied index the read may run. A new leader
    /// starts no read before the no-op of its term is committed. Returns false when not leader.
    /// </summary>
    public bool RequestRead(long readId)
    {
        if (Role != RaftRole.Leader)
            return false;
        if (CommitIndex < _termStartIndex)
            _readsAwaitingTermStart.Add(readId);
        else
            RegisterRead(readId);
        return true;
    }

    /// <summary>The host made the log durable up to <paramref name="lastDurable"/>.</summary>
    public void Persisted(LogPosition lastDurable)
    {
        // Log Matching: if the log still holds this entry, everything before it is the same too.
        if (_log.Matches(lastDurable) && lastDurable.Index > _stableIndex)
        {
            _stableIndex = lastDurable.Index;
            if (Role == RaftRole.Leader)
                AdvanceLeaderCommit();
        }
    }

    /// <summary>
    /// The host wrote a snapshot of the state machine through <paramref name="snapshot"/> (an
    /// applied entry) and staged it. Unless the node already has a snapshot as recent, it becomes
    /// the node's latest and the log drops what it covers, keeping the trailing entries for
    /// followers that lag a little (§7). Returns false when the snapshot is not needed (the host
    /// discards it).
    /// </summary>
    public bool SnapshotTaken(LogPosition snapshot)
    {
        if (snapshot.Index <= Snapshot.Index)
            return false; // an installed snapshot overtook it
        if (snapshot.Index > CommitIndex || !_log.Matches(snapshot))
            throw new InvalidOperationException($"{NodeId}: a snapshot through {snapshot} is not of a committed entry of this log (commit {CommitIndex}, base {_log.Base})");
        var compactThrough = Math.Max(_log.Base.Index, snapshot.Index - _trailingEntries);
        Snapshot = snapshot;
        _log.CompactThrough(compactThrough);
        Emit(new PersistSnapshot(snapshot, DiscardLog: false, compactThrough));
        return true;
    }

    /// <summary>
    /// The host holds, durably staged, the whole snapshot whose last chunk this is. Figure 13's
    /// receiver rules 6-8 decide: a snapshot from another term or leader than now is dropped (the
    /// new leader sends its own); one this node has committed past already is acknowledged and
    /// ignored; otherwise it becomes the node's snapshot, the log keeps the entries after it if it
    /// holds the snapshot's last entry and is discarded if not, the commit index moves to it, and
    /// the state machine is reset from it. Returns whether the host is to save the snapshot.
    /// </summary>
    public bool SnapshotReceived(InstallSnapshot lastChunk)
    {
        if (lastChunk.Term != Term || Role != RaftRole.Follower || LeaderId != lastChunk.LeaderId)
            return false;
        var snapshot = lastChunk.Snapshot;
        if (snapshot.Index <= CommitIndex)
        {
            AcknowledgeSnapshot(lastChunk);
            return false;
        }

        var keepLog = _log.Matches(snapshot);
        long compactThrough;
        if (keepLog)
        {
            compactThrough = Math.Max(_log.Base.Index, snapshot.Index - _trailingEntries);
            _log.CompactThrough(compactThrough);
        }
        else
        {
            compactThrough = snapshot.Index;
            _log.ResetTo(snapshot);
            _stableIndex = Math.Min(_stableIndex, snapshot.Index);
        }

        Snapshot = snapshot;
        CommitIndex = snapshot.Index;
        Emit(new PersistSnapshot(snapshot, DiscardLog: !keepLog, compactThrough));
        Emit(new RestoreSnapshot(snapshot));
        AcknowledgeSnapshot(lastChunk);
        return true;
    }

    /// <summary>The host gave up sending a snapshot to <paramref name="peer"/>; the next heartbeat tries again.</summary>
    public void SnapshotTransferFailed(string peer)
    {
        if (Role == RaftRole.Leader && _progress.TryGetValue(peer, out var progress))
            progress.EndSnapshot();
    }

    /// <summary>
    /// Canvasses pre-votes for the next term (§9.6): no term, vote or persisted change; the node is
    /// a follower that no longer believes in a leader. A majority of grants starts the election; a
    /// majority of refusals ends the canvass, and the timer, reset here, tries again later.
    /// </summary>
    private void StartPreVote()
    {
        Role = RaftRole.Follower;
        LeaderId = null;
        _tally = null;
        _preVotes = new ElectionTally(ClusterSize, NodeId);
        RestartElectionTimer();
        foreach (var peer in _peers)
            Emit(new SendMessage(peer, new RequestVote(Term + 1, NodeId, LastLog.Index, LastLog.Term, PreVote: true)));
        if (_preVotes.HasMajority)
            StartElection();
    }

    private void CountPreVote(RequestVoteResult answer)
    {
        _preVotes!.Record(answer.VoterId, answer.VoteGranted);
        if (_preVotes.HasMajority)
            StartElection();
        else if (_preVotes.IsLost)
            _preVotes = null;
    }

    /// <summary>
    /// Answers a pre-vote without changing anything (§9.6): granted with the term asked for, refused
    /// with this node's term.
    /// </summary>
    private void HandlePreVote(RequestVote request)
    {
        var decision = VoteRules.DecidePreVote(HardState, LastLog, request, LeaderIsAlive);
        var granted = decision == VoteDecision.Granted;
        Emit(new SendMessage(request.CandidateId, new RequestVoteResult(granted ? request.Term : Term, NodeId, granted, PreVote: true)));
    }

    /// <summary>Whether a majority, this leader counted, answered it within CheckQuorum's window of heartbeat ticks.</summary>
    private bool QuorumActive() =>
        1 + _progress.Values.Count(p => _heartbeatTicks - p.HeardAtTick <= _quorumCheckTicks) >= Quorum.Majority(ClusterSize);

    /// <summary>
    /// Restarts the election timer with a fresh randomized timeout. After a message of the current
    /// leader, with PreVote or CheckQuorum, it first runs for the minimum election timeout only,
    /// during which the node believes in that leader; see <see cref="ElectionTimeoutElapsed"/>.
    /// </summary>
    private void RestartElectionTimer(bool leaderHeard = false)
    {
        var timeout = _timeouts.Next();
        _leaderLease = leaderHeard && (PreVote || CheckQuorum);
        if (_leaderLease)
        {
            _timeoutAfterLease = timeout - _timeouts.Min;
            Emit(new ResetElectionTimer(_timeouts.Min));
        }
        else
        {
            Emit(new ResetElectionTimer(timeout));
        }
    }

    private void StartElection()
    {
        Role = RaftRole.Candidate;
        LeaderId = null;
        HardState = new HardState(Term + 1, NodeId);
        _tally = new ElectionTally(ClusterSize, NodeId);
        _preVotes = null;
        Emit(new PersistHardState(HardState));
        RestartElectionTimer();
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
        _preVotes = null;
        _leaderLease = false;
        _heartbeatTicks = 0;
        Emit(new StopElectionTimer());

        // A no-op of the new term commits the entries of earlier terms beneath it (§5.4.2) and
        // tells the leader what is committed before it serves reads (§8).
        _progress.Clear();
        foreach (var peer in _peers)
            _progress[peer] = new FollowerProgress(_log.LastIndex + 1);
        _termStartIndex = AppendAsLeader(command: null).Index;
        Replicate();
        Emit(new StartHeartbeatTimer(_heartbeatInterval));
    }

    private void BecomeFollower(long term, string? leaderId)
    {
        var wasLeader = Role == RaftRole.Leader;
        Role = RaftRole.Follower;
        LeaderId = leaderId;
        _tally = null;
        _preVotes = null;
        _leaderLease = false;
        if (term != Term)
        {
            HardState = new HardState(term, null);
            Emit(new PersistHardState(HardState));
        }

        if (wasLeader)
        {
            _progress.Clear();
            var unconfirmed = _reads.Select(r => r.Id).Concat(_readsAwaitingTermStart).ToList();
            _reads.Clear();
            _readsAwaitingTermStart.Clear();
            if (unconfirmed.Count > 0)
                Emit(new FailReads(unconfirmed));

            // A leader's election timer is off; a follower needs one to notice a dead leader.
            Emit(new StopHeartbeatTimer());
            RestartElectionTimer();
        }
    }

    private void HandleRequestVote(RequestVote request)
    {
        var decision = VoteRules.Decide(HardState, LastLog, request);
        var reply = new SendMessage(request.CandidateId, new RequestVoteResult(Term, NodeId, decision == VoteDecision.Granted));
        if (Bugs.SendVoteBeforeDurable)
            Emit(reply);
        if (decision == VoteDecision.Granted)
        {
            if (HardState.VotedFor != request.CandidateId)
            {
                HardState = HardState with { VotedFor = request.CandidateId };
                Emit(new PersistHardState(HardState));
            }

            // Granting a vote is one of the three events that reset the election timer.
            RestartElectionTimer();
        }

        if (!Bugs.SendVoteBeforeDurable)
            Emit(reply);
    }

    private void HandleAppendEntries(AppendEntries append)
    {
        if (append.Term < Term || Role == RaftRole.Leader)
        {
            // A stale leader learns the current term from the refusal. A leader never receives
            // an AppendEntries of its own term while each node votes once per term; refuse it
            // rather than follow.
            Emit(new SendMessage(append.LeaderId, new AppendEntriesResult(Term, NodeId, false, Sequence: append.Sequence)));
            return;
        }

        if (Role == RaftRole.Candidate)
            BecomeFollower(Term, append.LeaderId);
        LeaderId = append.LeaderId;
        _preVotes = null;

        // An AppendEntries from the current term's leader resets the election timer.
        RestartElectionTimer(leaderHeard: true);

        var decision = ReplicationRules.DecideAppend(_log, append);
        if (Bugs.TruncateOnStaleAppend && decision.Success && decision.TruncateFrom == AppendDecision.NoTruncation && _log.LastIndex > decision.MatchIndex)
            decision = decision with { TruncateFrom = decision.MatchIndex + 1 };
        if (!decision.Success)
        {
            Emit(new SendMessage(append.LeaderId, new AppendEntriesResult(
                Term, NodeId, false, ConflictIndex: decision.ConflictIndex, ConflictTerm: decision.ConflictTerm, Sequence: append.Sequence)));
            return;
        }

        if (decision.TruncateFrom != AppendDecision.NoTruncation)
        {
            if (decision.TruncateFrom <= CommitIndex)
                throw new InvalidOperationException(
                    $"{NodeId}: leader {append.LeaderId} of term {append.Term} conflicts with committed entry {decision.TruncateFrom}");
            _log.TruncateFrom(decision.TruncateFrom);
            _stableIndex = Math.Min(_stableIndex, decision.TruncateFrom - 1);
        }

        foreach (var entry in decision.NewEntries)
            _log.Append(entry);
        if (decision.TruncateFrom != AppendDecision.NoTruncation || decision.NewEntries.Count > 0)
            Emit(new PersistEntries(decision.TruncateFrom, decision.NewEntries, _log.Last));

        AdvanceCommit(ReplicationRules.FollowerCommitIndex(CommitIndex, append));

        // The acknowledgement leaves only once the entries it acknowledges are durable.
        Emit(new SendMessage(
            append.LeaderId,
            new AppendEntriesResult(Term, NodeId, true, MatchIndex: decision.MatchIndex, Sequence: append.Sequence),
            AfterLogDurable: true));
    }

    private void HandleAppendResult(AppendEntriesResult result)
    {
        var progress = _progress[result.FollowerId];
        progress.Answered(result.Sequence);
        if (result.Success)
        {
            progress.Matched(result.MatchIndex, result.Sequence);
            AdvanceLeaderCommit();
        }
        else if (!progress.SendingSnapshot)
        {
            // (A follower being sent the snapshot refuses heartbeats until it has it: no news.)
            //
            // A follower's log shorter than what it acknowledged, in answer to a message sent after
            // that acknowledgement: it lost its disk and restarted empty (a follower never drops an
            // entry it matched with its leader). Its match no longer counts — the commits made with
            // it stand, held by a majority without it — and it is brought back from where it stands,
            // through the snapshot if the log has dropped that far.
            if (result.ConflictTerm == 0 && result.ConflictIndex <= progress.MatchIndex && result.Sequence > progress.MatchedSequence)
                progress.ForgetMatch();

            // The follower's log diverges before what we sent: resume where its hint says,
            // dropping the rest of the pipeline (its messages will be refused too). A refusal of
            // an abandoned pipeline counts only if it points below where the current one started:
            // with messages reordered, a heartbeat sent after a pipeline's first message can be
            // refused first, hinting only at the end of the follower's log, and restart the
            // pipeline there; the first message's refusal, hinting at the real conflict, must
            // not then be dropped as stale, or the leader never backs up past it.
            var next = ReplicationRules.NextIndexAfterRefusal(_log, progress.MatchIndex, result);
            if (result.Sequence >= progress.PipelineStart || next < progress.PipelineStartIndex)
                progress.Restart(next, _sequence + 1);
        }

        ConfirmReads();
        SendEntries(result.FollowerId);
    }

    /// <summary>
    /// Figure 13 for a receiver whose term is current: a chunk resets the election timer like an
    /// AppendEntries of the leader; a snapshot this node has committed past is acknowledged at once
    /// and ignored; any other chunk is the host's to write.
    /// </summary>
    private void HandleInstallSnapshot(InstallSnapshot chunk)
    {
        if (chunk.Term < Term || Role == RaftRole.Leader)
        {
            // Rule 1: reply immediately; the stale leader learns the current term.
            Emit(new SendMessage(chunk.LeaderId, new InstallSnapshotResult(Term, NodeId, chunk.LastIncludedIndex, chunk.LastIncludedTerm, 0, false)));
            return;
        }

        if (Role == RaftRole.Candidate)
            BecomeFollower(Term, chunk.LeaderId);
        LeaderId = chunk.LeaderId;
        _preVotes = null;
        RestartElectionTimer(leaderHeard: true);

        if (chunk.LastIncludedIndex <= CommitIndex)
            AcknowledgeSnapshot(chunk);
        else
            Emit(new AcceptSnapshotChunk(chunk));
    }

    /// <summary>Done: this node's log holds everything through the snapshot, committed; sent once that is durable.</summary>
    private void AcknowledgeSnapshot(InstallSnapshot chunk) =>
        Emit(new SendMessage(
            chunk.LeaderId,
            new InstallSnapshotResult(Term, NodeId, chunk.LastIncludedIndex, chunk.LastIncludedTerm, chunk.Offset + chunk.Data.Length, Done: true),
            AfterLogDurable: true));

    /// <summary>The follower holds everything through the snapshot: entries flow again from after it.</summary>
    private void HandleSnapshotInstalled(InstallSnapshotResult installed)
    {
        var progress = _progress[installed.FollowerId];
        progress.Matched(installed.LastIncludedIndex, _sequence); // it holds the snapshot whatever it answered before
        if (progress.SendingSnapshot)
        {
            // A fresh pipeline: refusals of heartbeats sent during the transfer are old news.
            progress.EndSnapshot();
            progress.Restart(progress.NextIndex, _sequence + 1);
        }

        AdvanceLeaderCommit();
        SendEntries(installed.FollowerId);
    }

    /// <summary>
    /// Sends the follower's next entries if it lacks some and its window has room; a follower that
    /// needs an entry this log has dropped gets the snapshot instead (§7).
    /// </summary>
    private bool SendEntries(string peer)
    {
        var progress = _progress[peer];
        var sent = false;
        while (progress.NextIndex <= _log.LastIndex && progress.InFlight < _limits.MaxAppendsInFlight && !progress.SendingSnapshot)
        {
            if (_log.IsCompacted(progress.NextIndex - 1))
            {
                progress.BeginSnapshot();
                Emit(new SendSnapshot(peer));
                break;
            }

            var entries = _log.Slice(progress.NextIndex, _limits.MaxEntriesPerAppend, _limits.MaxBytesPerAppend);
            SendAppend(peer, entries);
            sent = true;
        }

        return sent;
    }

    private void SendAppend(string peer, IReadOnlyList<LogEntry> entries)
    {
        var progress = _progress[peer];

        // A heartbeat to a follower that needs the snapshot anchors at the base, the oldest
        // position whose term is known; it serves ReadIndex and the follower's election timer.
        var prevIndex = Math.Max(progress.NextIndex - 1, _log.Base.Index);
        var sequence = ++_sequence;
        progress.Sent(sequence, carriesEntries: entries.Count > 0);
        progress.NextIndex += entries.Count;
        Emit(new SendMessage(peer, new AppendEntries(Term, NodeId, prevIndex, _log.TermAt(prevIndex)!.Value, entries, CommitIndex, sequence)));
    }

    private LogEntry AppendAsLeader(EntryCommand? command)
    {
        var entry = new LogEntry(_log.LastIndex + 1, Term, command);
        _log.Append(entry);
        Emit(new PersistEntries(AppendDecision.NoTruncation, [entry], entry.Position));
        return entry;
    }

    private void AdvanceLeaderCommit()
    {
        var matches = _progress.Values.Select(p => p.MatchIndex).Append(_stableIndex);
        AdvanceCommit(ReplicationRules.LeaderCommitIndex(_log, Term, CommitIndex, matches, ClusterSize, currentTermOnly: !Bugs.CommitOldTermByCounting));
    }

    private void AdvanceCommit(long newCommitIndex)
    {
        newCommitIndex = Math.Min(newCommitIndex, _log.LastIndex);
        if (newCommitIndex <= CommitIndex)
            return;
        var committed = _log.Range(CommitIndex + 1, newCommitIndex);
        CommitIndex = newCommitIndex;
        Emit(new ApplyEntries(committed));

        if (Role == RaftRole.Leader && CommitIndex >= _termStartIndex && _readsAwaitingTermStart.Count > 0)
        {
            foreach (var readId in _readsAwaitingTermStart)
                RegisterRead(readId);
            _readsAwaitingTermStart.Clear();
            Replicate();
        }
    }

    private void RegisterRead(long readId)
    {
        // Confirmed by answers to messages sent after now, that is, with a later sequence.
        _reads.Add(new PendingRead(readId, CommitIndex, _sequence + 1));
        _readRoundNeeded = true;
        ConfirmReads();
    }

    private long PendingReadSequence() => _reads.Count == 0 ? 0 : _reads[^1].Sequence;

    private void ConfirmReads()
    {
        var confirmed = 0;
        foreach (var read in _reads)
        {
            var acknowledgements = 1 + _progress.Values.Count(p => p.AcknowledgedSequence >= read.Sequence);
            if (acknowledgements < Quorum.Majority(ClusterSize))
                break;
            Emit(new ServeRead(read.Id, read.ReadIndex));
            confirmed++;
        }

        _reads.RemoveRange(0, confirmed);
    }

    private void Emit(RaftEffect effect) => _effects.Add(effect);

    private sealed record PendingRead(long Id, long ReadIndex, long Sequence);
}
