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
internal sealed class RaftProtocol
{
    private readonly List<RaftEffect> _effects = new();
    private readonly ElectionTimeouts _timeouts;
    private readonly TimeSpan _heartbeatInterval;
    private readonly ReplicationLimits _limits;
    private readonly ConfigurationHistory _configurations;
    private readonly RaftLog _log;
    private readonly int _trailingEntries;
    private readonly Dictionary<string, FollowerProgress> _progress = new(StringComparer.Ordinal);
    private readonly List<PendingRead> _reads = new();
    private readonly List<ReadAsker> _readsAwaitingTermStart = new();
    private readonly FollowerReads _followerReads;
    private readonly int _quorumCheckTicks;
    private readonly int _transferTicks;
    private ElectionTally? _tally;
    private ElectionTally? _preVotes;

    // The election timer is in the first stretch it runs after a message of the current leader:
    // this node heard from that leader less than the minimum election timeout ago (LeaderIsAlive).
    // Not a lease — it promises nothing to anyone; it only makes the node refuse the votes that
    // would depose a leader it has just heard from (thesis §4.2.3).
    private bool _leaderRecentlyHeard;

    // What remains of the randomized election timeout once that first stretch is over.
    private TimeSpan _restOfElectionTimeout;

    // The term in which this candidate shortened its timer after a split vote: once per term.
    private long _splitVoteRetryTerm;

    // A leader's clock: its heartbeat timer's firings in its term, by which it measures
    // CheckQuorum's window, a leadership transfer's deadline and a learner's catch-up rounds.
    private long _heartbeatTicks;
    private long _stableIndex;

    // Entries this leader appended and has not yet handed to its log's write (see AppendAsLeader).
    private readonly List<LogEntry> _unwrittenLeaderEntries = new();
    private long _sequence;
    private long _termStartIndex;
    private bool _readRoundNeeded;

    // Whether this follower started the heartbeat timer for the reads it holds (FollowerReads' clock).
    private bool _followerReadTimer;

    // Lease reads: this leader sent TimeoutNow in its term, so a voter may elect another leader
    // whatever it heard; and a node that started withholds its vote until its first election
    // timeout, since it may have answered a leader's message just before it stopped.
    private bool _leaseForfeited;
    private bool _withholdVotesAfterStart;
    private ConfigurationChanged? _announced;
    private PendingChange? _change;
    private Transfer? _transfer;
    private (long FromTerm, List<long> RequestIds)? _transfersAwaitingLeader;
    private (ClusterConfiguration? Of, string[] Ids) _otherVoters = (null, []);

    /// <summary>A node of a cluster that starts with this node and <paramref name="peerIds"/> as its voters.</summary>
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
        : this(nodeId, VotersWith(nodeId, peerIds), persisted, timeouts, heartbeatInterval, persistedLog, limits, persistedSnapshot, null, trailingEntries)
    {
    }

    /// <param name="nodeId">This node's id.</param>
    /// <param name="bootstrap">
    /// The configuration the cluster started with, used while neither the log nor the snapshot holds
    /// one: every founding member a voter, or <see cref="ClusterConfiguration.Empty"/> for a node
    /// started to join a running cluster (it waits for a leader to tell it the configuration).
    /// </param>
    /// <param name="persisted">The durable term and vote.</param>
    /// <param name="timeouts">The randomized election timeouts.</param>
    /// <param name="heartbeatInterval">How often a leader asserts itself.</param>
    /// <param name="persistedLog">The durable log after the snapshot (and the trailing entries before it).</param>
    /// <param name="limits">Batching and pipelining limits.</param>
    /// <param name="persistedSnapshot">The last entry the durable snapshot covers.</param>
    /// <param name="snapshotConfiguration">The configuration the durable snapshot carries (null: none recorded, the bootstrap's).</param>
    /// <param name="trailingEntries">How many entries before a new snapshot's index the log keeps.</param>
    public RaftProtocol(
        string nodeId,
        ClusterConfiguration bootstrap,
        HardState persisted,
        ElectionTimeouts timeouts,
        TimeSpan heartbeatInterval,
        IEnumerable<LogEntry>? persistedLog = null,
        ReplicationLimits? limits = null,
        LogPosition persistedSnapshot = default,
        ClusterConfiguration? snapshotConfiguration = null,
        int trailingEntries = 0)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(nodeId);
        ArgumentNullException.ThrowIfNull(bootstrap);
        NodeId = nodeId;
        HardState = persisted;
        _timeouts = timeouts;
        _heartbeatInterval = heartbeatInterval;

        // CheckQuorum's window, in the leader's heartbeat ticks: at least the minimum election timeout.
        _quorumCheckTicks = (int)Math.Max(1, Math.Ceiling(timeouts.Min / heartbeatInterval));

        // A leadership transfer has an election timeout to finish, in the same ticks.
        _transferTicks = (int)Math.Max(1, Math.Ceiling(timeouts.Max / heartbeatInterval));

        // A follower's read unanswered for an election timeout fails: its leader is gone, or ignores it.
        _followerReads = new FollowerReads(nodeId, _transferTicks);
        _limits = limits ?? ReplicationLimits.Default;
        ArgumentOutOfRangeException.ThrowIfNegative(trailingEntries);
        _trailingEntries = trailingEntries;

        // The snapshot holds committed entries only, and the state machine restarts from it.
        _log = RaftLog.AfterSnapshot(persistedSnapshot, persistedLog as IReadOnlyList<LogEntry> ?? (persistedLog ?? []).ToList());
        Snapshot = persistedSnapshot;
        CommitIndex = persistedSnapshot.Index;
        _stableIndex = _log.LastIndex;

        // The latest configuration in the log, else the snapshot's, else the bootstrap's (thesis §4.1).
        _configurations = new ConfigurationHistory(persistedSnapshot.Index, snapshotConfiguration ?? bootstrap);
        for (var index = persistedSnapshot.Index + 1; index <= _log.LastIndex; index++)
        {
            if (_log[index].Configuration is { } configuration)
                _configurations.Appended(index, configuration);
        }

        // The host starts with Configuration; ConfigurationChanged tells it of every change after.
        _announced = CurrentConfigurationChange();
    }

    private static ClusterConfiguration VotersWith(string nodeId, IReadOnlyCollection<string> peerIds)
    {
        if (peerIds.Contains(nodeId))
            throw new ArgumentException($"node '{nodeId}' is listed as its own peer", nameof(peerIds));
        return ClusterConfiguration.OfVoters(peerIds.Append(nodeId));
    }

    public string NodeId { get; }

    /// <summary>The rules this protocol decides by: <see cref="RaftRules.Correct"/>, unless a test proves the simulator catches a faulty one.</summary>
    internal RaftRules Rules { get; init; } = RaftRules.Correct;

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

    /// <summary>
    /// Lease reads (thesis §6.4.1, etcd's ReadOnlyLeaseBased), with <see cref="CheckQuorum"/> only:
    /// a leader serves a read (its own, or a follower's read index) at once, without a heartbeat
    /// round, while a majority answered messages it sent less than
    /// <see cref="RaftRules.LeaseDuration"/> ago — those followers refuse votes until their minimum
    /// election timeout since has passed, so no other leader can exist yet. Safe only while clocks
    /// run at nearly the same rate and every member runs CheckQuorum with lease reads (a member
    /// that restarts then withholds its vote for an election timeout, having forgotten whom it
    /// heard). A leader that handed over its leadership (<see cref="TimeoutNow"/>) serves no lease
    /// read for the rest of its term. Off: every read waits for its round (ReadIndex).
    /// </summary>
    public bool LeaseReads { get; init; }

    /// <summary>
    /// The host's wall clock in Unix milliseconds (the node: the system clock; the simulator: its
    /// virtual one): where cluster time starts when a leader's log holds no stamp yet. A leader
    /// stamps every entry it appends with the cluster time, and the state machines take time from
    /// those stamps only (thesis §6.3, session expiry), so the protocol itself never reads a clock.
    /// Null: entries are not stamped, and client sessions expire only by <see cref="SessionPolicy"/>'s cap.
    /// </summary>
    /// <remarks>
    /// Cluster time never goes back and never jumps: a new leader continues from the highest stamp
    /// in its log (which holds every stamp applied anywhere, being up to date) and advances it by
    /// <see cref="MonotonicClock"/>'s elapsed time alone, so a wall clock set forward or back on any
    /// node moves no stamp. Time between the last stamp of one term and the first of the next is
    /// not counted: sessions then live longer, never shorter.
    /// </remarks>
    public Func<long>? Clock { get; init; }

    /// <summary>
    /// A clock in milliseconds from any origin that never jumps (the node: the scheduler's
    /// monotonic clock; the simulator: its virtual time): how far a leader's cluster time has
    /// advanced since its term's first stamp. Null: <see cref="Clock"/>'s elapsed time counts.
    /// </summary>
    public Func<long>? MonotonicClock { get; init; }

    /// <summary>
    /// The client session policy a leader writes into the no-op of its term, for every state
    /// machine to apply from there. Null: its no-op carries none, and the policy stays as the log
    /// last set it.
    /// </summary>
    public SessionPolicy? SessionPolicy { get; init; }

    /// <summary>
    /// Whether a leader writes the log's optional session fields (the time stamp, the session
    /// policy) into the entries it appends now: the one place that decides, so that a gate on what
    /// every member can read (an older member refuses unknown flags) switches both off together.
    /// </summary>
    internal Func<bool> StampEntries { get; init; } = static () => true;

    /// <summary>
    /// Whether a leader may write the session policy's minimum idle age (every member reads it);
    /// otherwise it writes its policy without one, which the log's readers all apply alike, and
    /// writes it again with one once they may.
    /// </summary>
    internal Func<bool> SessionMinIdle { get; init; } = static () => true;

    /// <summary>
    /// Whether the leader named may be asked for a read index (it reads <see cref="ReadIndexRequest"/>),
    /// so that this node, following it, serves linearizable reads itself; otherwise
    /// <see cref="RequestRead"/> refuses them, and the host forwards them to the leader.
    /// </summary>
    internal Func<string, bool> LeaderServesReadIndex { get; init; } = static _ => true;

    // The policy this leader wrote in its term, null before it wrote one: it rides on the first
    // entry written with the session fields (the no-op unless StampEntries was off then), and again
    // when what may be written of it changes.
    private SessionPolicy? _policyWritten;

    // This leader's cluster time: its term's first stamp and the monotonic clock then; null until
    // its first stamp.
    private (long Stamp, long Monotonic)? _termTime;

    /// <summary>Whether this node is canvassing pre-votes (a follower, term unchanged, about to campaign if a majority agrees).</summary>
    public bool IsPreCandidate => _preVotes is not null;

    /// <summary>
    /// Whether this node believes in a current leader: it leads, or it heard from its leader less than
    /// the minimum election timeout ago (the first stretch of its election timer, see <see cref="ElectionTimeoutElapsed"/>).
    /// Such a node refuses pre-votes and, with <see cref="CheckQuorum"/>, ignores votes of higher terms.
    /// </summary>
    public bool LeaderIsAlive => Role == RaftRole.Leader || (_leaderRecentlyHeard && LeaderId is not null);

    /// <summary>The configuration this node uses: the latest in its log, committed or not (thesis §4.1).</summary>
    public ClusterConfiguration Configuration => Rules.ConfigurationInUse(_configurations, CommitIndex);

    /// <summary>
    /// The wire versions the peers announced. The host records what it hears; a protocol hosted where
    /// nothing is serialized (the simulator) leaves it empty and uses no versioned feature.
    /// </summary>
    public PeerWireVersions WireVersions { get; } = new();

    /// <summary>
    /// Whether a feature first read by wire version <paramref name="featureVersion"/> (a constant of
    /// <see cref="Core.WireVersions"/>) may be used: every member of <see cref="Configuration"/> announced it.
    /// </summary>
    public bool MayUse(int featureVersion) => WireVersions.ClusterVersion(Configuration, NodeId) >= featureVersion;

    /// <summary>The index of the entry that holds <see cref="Configuration"/> (the snapshot's or 0 when none in the log does).</summary>
    public long ConfigurationIndex => _configurations.LatestIndex;

    /// <summary>Whether this node votes in its configuration.</summary>
    public bool IsVoter => Configuration.IsVoter(NodeId);

    /// <summary>
    /// Whether this node may campaign (etcd's "promotable"): a voter of its configuration, or a voter of
    /// the configuration before it while the change that removed it is not known committed here — until
    /// then it may be the only server able to commit that change (it holds the entry; the voters that
    /// lack it cannot win its vote), as LogCabin found (commits 4f74c25 and 44f5d7c, thesis §4.2.2).
    /// A learner, a server still joining, and one that knows its removal committed never campaign.
    /// </summary>
    private bool MayCampaign =>
        IsVoter || (_configurations.LatestIndex > CommitIndex && _configurations.At(_configurations.LatestIndex - 1).IsVoter(NodeId));

    /// <summary>The voter a leadership transfer under way hands over to; new commands are refused meanwhile.</summary>
    public string? TransferTarget => _transfer?.Target;

    /// <summary>Whether a membership change is under way (one at a time).</summary>
    public bool IsChangingMembership => _change is not null || _configurations.LatestIndex > CommitIndex;

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

    /// <summary>A leader's matchIndex for <paramref name="peer"/>: the highest entry it is known to hold; null when this node does not lead or does not replicate to it.</summary>
    internal long? MatchIndexOf(string peer) =>
        Role == RaftRole.Leader && _progress.TryGetValue(peer, out var progress) ? progress.MatchIndex : null;

    /// <summary>Takes the effects produced since the last call, in the order they must be carried out.</summary>
    public IReadOnlyList<RaftEffect> DrainEffects()
    {
        var drained = _effects.ToArray();
        _effects.Clear();
        return drained;
    }

    /// <summary>Starts the node as a follower of its persisted term, waiting for a leader.</summary>
    public void Start()
    {
        _withholdVotesAfterStart = LeaseReads && CheckQuorum;
        Emit(new ResetElectionTimer(_timeouts.Next()));
    }

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
        _withholdVotesAfterStart = false;
        if (Role == RaftRole.Leader)
            return;
        if (_leaderRecentlyHeard)
        {
            _leaderRecentlyHeard = false;
            if (_restOfElectionTimeout > TimeSpan.Zero)
            {
                Emit(new ResetElectionTimer(_restOfElectionTimeout));
                return;
            }
        }

        if (_transfersAwaitingLeader is { } awaiting)
        {
            // The transfer deposed this leader, but no leader has made itself known since.
            _transfersAwaitingLeader = null;
            Emit(new MembershipOutcomeUnknown(awaiting.RequestIds, "leadership was handed over, but no new leader was heard of within an election timeout"));
        }

        if (!MayCampaign)
        {
            // A learner, a server that knows its removal committed, or one still joining never campaigns (thesis §4.2.1, §4.2.3).
            RestartElectionTimer();
            return;
        }

        if (PreVote)
            StartPreVote();
        else
            StartElection();
        FailFollowerReadsOfAnotherLeader();
    }

    /// <summary>
    /// The heartbeat timer fired: a leader asserts its leadership to every peer. The heartbeat ticks
    /// are the leader's clock for CheckQuorum: a leader that no majority has answered within the
    /// minimum election timeout's worth of ticks steps down (same term) instead. A follower runs
    /// the timer while it holds reads, to ask for their read index again, or give up on it.
    /// </summary>
    public void HeartbeatTimeoutElapsed()
    {
        if (Role != RaftRole.Leader)
        {
            FollowerReadTick();
            return;
        }

        _heartbeatTicks++;
        WriteLeaderEntries();
        if (CheckQuorum && !QuorumActive())
        {
            BecomeFollower(Term, leaderId: null);
            return;
        }

        if (_transfer is { } transfer && _heartbeatTicks > transfer.DeadlineTick)
        {
            // Thesis §3.10: a transfer that does not finish within an election timeout is abandoned.
            _transfer = null;
            foreach (var requestId in transfer.RequestIds)
                Emit(new MembershipRequestRefused(requestId, new MembershipRefusal(
                    MembershipRefusalReason.TransferTimedOut, $"{transfer.Target} did not take over within an election timeout; {NodeId} leads on")));
        }

        foreach (var peer in _progress.Keys)
        {
            if (!SendEntries(peer))
                SendAppend(peer, []);
        }

        if (_transfer is { } ongoing)
            SendTimeoutNowIfCaughtUp(ongoing.Target);
        AdvanceCatchUp();
    }

    /// <summary>
    /// Handles a peer's message. A message from an unknown node is ignored. A higher term is
    /// adopted before anything else, in every role (§5.1); then the current role handles it.
    /// Three exceptions: a pre-vote request carries a term proposed, not held, and a granted
    /// pre-vote the term it grants, so neither is adopted (§9.6); and with CheckQuorum a node that
    /// believes in a current leader ignores a RequestVote of a higher term altogether (§4.2.3).
    /// </summary>
    /// <returns>false when the message was ignored: an answer from a node this one does not know, or a message from itself.</returns>
    public bool Step(IRaftProtocolMessage message)
    {
        // Requests are taken from any node: a server that lags behind a configuration change, or
        // is still joining, must follow a leader it has not heard of yet. Answers count only from
        // the members this node knows.
        if (message.From == NodeId)
            return false;
        if (message is RequestVoteResult or AppendEntriesResult or InstallSnapshotResult && !Configuration.IsMember(message.From) && !_progress.ContainsKey(message.From))
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
            case RequestVote { Transfer: false } vote when CheckQuorum && vote.Term > Term && (LeaderIsAlive || _withholdVotesAfterStart):
                return true;
        }

        // §5.1: adopt the higher term and revert to follower, whatever the role.
        if (message.Term > Term)
            Rules.AdoptHigherTerm(this, message.Term);

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
            case AppendEntriesResult result when Role == RaftRole.Leader && result.Term == Term && _progress.ContainsKey(result.FollowerId):
                _progress[result.FollowerId].HeardAtTick = _heartbeatTicks;
                HandleAppendResult(result);
                break;
            case InstallSnapshot chunk:
                HandleInstallSnapshot(chunk);
                break;
            case InstallSnapshotResult { Done: true } installed when Role == RaftRole.Leader && installed.Term == Term && _progress.ContainsKey(installed.FollowerId):
                _progress[installed.FollowerId].HeardAtTick = _heartbeatTicks;
                HandleSnapshotInstalled(installed);
                break;
            case InstallSnapshotResult chunkAnswer when Role == RaftRole.Leader && chunkAnswer.Term == Term && _progress.ContainsKey(chunkAnswer.FollowerId):
                // The acknowledgements of a snapshot's chunks before the last are the host's
                // business; to CheckQuorum they show the follower follows.
                _progress[chunkAnswer.FollowerId].HeardAtTick = _heartbeatTicks;
                break;
            case TimeoutNow timeoutNow:
                HandleTimeoutNow(timeoutNow);
                break;
            case ReadIndexRequest request when Role == RaftRole.Leader && request.Term == Term && _progress.ContainsKey(request.FollowerId):
                StartLeaderRead(new ReadAsker(request.RequestId, request.FollowerId));
                Replicate(); // the confirming round leaves now: a follower's request already stands for many reads
                break;
            case ReadIndexResult result when Role == RaftRole.Follower && result.Term == Term && result.LeaderId == LeaderId:
                HandleReadIndexResult(result);
                break;

            // Replies of an older term, or to a role this node no longer has, change nothing
            // beyond the term rule above (§5.1; "ignore replies of another term").
        }

        FailFollowerReadsOfAnotherLeader();
        return true;
    }

    /// <summary>
    /// A leader appends a client's command to its log and returns its index; it replicates with
    /// the next <see cref="Replicate"/>, so commands that arrive together travel together.
    /// Returns null when this node is not the leader.
    /// </summary>
    public long? Propose(EntryCommand command)
    {
        // Thesis §3.10: while leadership is handed over, new commands wait for the next leader.
        if (Role != RaftRole.Leader || _transfer is not null)
            return null;
        return AppendAsLeader(command).Index;
    }

    /// <summary>
    /// A leader starts a membership change (thesis §4.1, one server at a time): it appends the new
    /// configuration, which it and every follower use from then on, and answers once it is
    /// committed (<see cref="MembershipRequestDone"/>). Adding a voter goes through a learner stage
    /// first. Refused (returned) when this node is not the leader, has not committed an entry of its
    /// term yet (the errata of the single-server change), a change or a transfer is under way, or
    /// the change does not fit the configuration; null when started.
    /// </summary>
    public MembershipRefusal? ChangeMembership(long requestId, MembershipChange change)
    {
        ArgumentNullException.ThrowIfNull(change);
        if (Refusal() is { } refusal)
            return refusal;
        var configuration = Configuration;
        var existing = configuration.Find(change.Id);
        switch (change.Kind)
        {
            case MembershipChangeKind.AddLearner when existing is not null:
            case MembershipChangeKind.AddVoter when existing is { IsVoter: true }:
                return new MembershipRefusal(MembershipRefusalReason.AlreadyMember, $"'{change.Id}' is a {(existing.IsVoter ? "voter" : "learner")} already");
            case MembershipChangeKind.Remove when existing is null:
                return new MembershipRefusal(MembershipRefusalReason.NotAMember, $"'{change.Id}' is not a member");
            case MembershipChangeKind.Remove when existing.IsVoter && configuration.Voters.Count == 1:
                return new MembershipRefusal(MembershipRefusalReason.LastVoter, $"'{change.Id}' is the only voter: removing it would leave the cluster without one");
            case MembershipChangeKind.AddVoter when existing is not null:
                // A learner already: promote it once it has caught up.
                _change = new PendingChange(requestId, change, ChangeStage.CatchingUp, 0);
                StartCatchUpRound(first: true);
                AdvanceCatchUp();
                return null;
            case MembershipChangeKind.AddLearner or MembershipChangeKind.AddVoter:
                var learner = new ClusterMember(change.Id, change.Address, IsVoter: false);
                _change = new PendingChange(requestId, change, ChangeStage.AddingLearner, AppendConfiguration(configuration.With(learner)));
                return null;
            default:
                _change = new PendingChange(requestId, change, ChangeStage.Committing, AppendConfiguration(configuration.Without(change.Id)));
                return null;
        }

        MembershipRefusal? Refusal()
        {
            if (Role != RaftRole.Leader)
                return new MembershipRefusal(MembershipRefusalReason.NotLeader, $"{NodeId} is not the leader");
            if (_transfer is not null)
                return new MembershipRefusal(MembershipRefusalReason.TransferInProgress, $"leadership is being handed over to {_transfer.Target}");
            if (!Rules.MayStartMembershipChange(anotherUnderWay: IsChangingMembership))
                return new MembershipRefusal(MembershipRefusalReason.ChangeInProgress, "another membership change is not finished yet: one change at a time");
            if (CommitIndex < _termStartIndex)
                return new MembershipRefusal(MembershipRefusalReason.LeaderNotReady, $"{NodeId} has not committed an entry of its term {Term} yet; try again");
            return null;
        }
    }

    /// <summary>
    /// A leader hands its leadership to <paramref name="target"/> (thesis §3.10), or to the most up
    /// to date other voter when none is named: it refuses new commands, brings the target up to
    /// date, and sends it <see cref="TimeoutNow"/>; the target campaigns at once. Answered with
    /// <see cref="LeadershipTransferDone"/> once this node hears of the new leader, or refused when
    /// it does not happen within an election timeout (this node leads on). A second request for the
    /// same target joins the first. Returns a refusal, or null when under way.
    /// </summary>
    public MembershipRefusal? TransferLeadership(long requestId, string? target)
    {
        if (Role != RaftRole.Leader)
            return new MembershipRefusal(MembershipRefusalReason.NotLeader, $"{NodeId} is not the leader");
        target ??= MostUpToDateVoter();
        if (target is null)
            return new MembershipRefusal(MembershipRefusalReason.NotAVoter, $"{NodeId} is the only voter: there is no one to hand leadership to");
        if (target == NodeId)
        {
            // etcd's TestLeaderTransferBack: handing leadership to itself calls off a transfer under way.
            if (_transfer is { } calledOff)
            {
                _transfer = null;
                foreach (var waiting in calledOff.RequestIds)
                    Emit(new MembershipRequestRefused(waiting, new MembershipRefusal(
                        MembershipRefusalReason.TransferCancelled, $"the transfer to {calledOff.Target} was called off: {NodeId} leads on")));
            }

            Emit(new LeadershipTransferDone([requestId], NodeId, Term));
            return null;
        }

        if (!Configuration.IsVoter(target))
            return new MembershipRefusal(MembershipRefusalReason.NotAVoter, $"'{target}' is not a voter");
        if (_transfer is { } ongoing)
        {
            if (ongoing.Target != target)
                return new MembershipRefusal(MembershipRefusalReason.TransferInProgress, $"leadership is being handed over to {ongoing.Target}");
            ongoing.RequestIds.Add(requestId);
            return null;
        }

        _transfer = new Transfer(target, _heartbeatTicks + _transferTicks, [requestId]);
        if (!SendTimeoutNowIfCaughtUp(target))
            SendEntries(target);
        return null;
    }

    /// <summary>A leader sends what its followers lack, within each follower's window, and any heartbeat round that pending reads wait for.</summary>
    public void Replicate()
    {
        if (Role != RaftRole.Leader)
            return;
        foreach (var peer in _progress.Keys)
        {
            if (!SendEntries(peer) && _readRoundNeeded)
                SendReadRound(peer);
        }

        _readRoundNeeded = false;
    }

    /// <summary>
    /// Sends <paramref name="peer"/> a heartbeat that confirms the pending reads, unless a message
    /// sent after the newest of them is on its way already, or the last heartbeat for reads is still
    /// unanswered: then its answer sends the next, which serves every read that came meanwhile —
    /// one confirmation round at a time, however many reads wait for it (etcd batches ReadIndex so).
    /// </summary>
    private void SendReadRound(string peer)
    {
        var progress = _progress[peer];
        if (progress.LastSentSequence >= PendingReadSequence() || progress.ReadRoundOutstanding)
            return;
        SendAppend(peer, []);
        progress.SentReadRound();
    }

    /// <summary>
    /// Starts a linearizable read (ReadIndex, thesis §6.4): the leader notes its commit index and
    /// confirms it is still the leader with a round of heartbeats answered by a majority; then
    /// <see cref="ServeRead"/> says from which applied index the read may run. A new leader
    /// starts no read before the no-op of its term is committed. A follower asks its leader for
    /// the read index instead (<see cref="FollowerReads"/>) and serves the read once its own
    /// commit index reaches it. Returns false when this node neither leads nor follows a leader
    /// it may ask (see <see cref="LeaderServesReadIndex"/>): the host sends the read elsewhere.
    /// </summary>
    public bool RequestRead(long readId)
    {
        if (Role == RaftRole.Leader)
        {
            StartLeaderRead(new ReadAsker(readId, Follower: null));
            return true;
        }

        if (Role != RaftRole.Follower || IsPreCandidate || LeaderId is not { } leader || !LeaderServesReadIndex(leader))
            return false;
        FailFollowerReadsOfAnotherLeader();
        if (_followerReads.Add(readId, Term, leader) is { } request)
            Emit(new SendMessage(leader, request));
        if (!_followerReadTimer)
        {
            _followerReadTimer = true;
            Emit(new StartHeartbeatTimer(_heartbeatInterval));
        }

        return true;
    }

    /// <summary>A leader's read, its own or a follower's: confirmed at once, or once the no-op of its term is committed.</summary>
    private void StartLeaderRead(ReadAsker asker)
    {
        if (CommitIndex < _termStartIndex)
            _readsAwaitingTermStart.Add(asker);
        else
            RegisterRead(asker);
    }

    /// <summary>The leader answered a read index: its reads are served as soon as this node has committed that far.</summary>
    private void HandleReadIndexResult(ReadIndexResult result)
    {
        var next = _followerReads.Answered(result, out var matched);
        if (!matched)
            return;
        ServeFollowerReads();
        if (next is not null)
            Emit(new SendMessage(result.LeaderId, next));
    }

    private void ServeFollowerReads()
    {
        if (_followerReads.IsEmpty)
            return;
        foreach (var (readId, readIndex) in _followerReads.TakeServable(readIndex => Rules.FollowerMayServe(readIndex, CommitIndex)))
            Emit(new ServeRead(readId, readIndex));
    }

    /// <summary>
    /// A follower's heartbeat tick while it holds reads: an unanswered request goes again, or fails
    /// its reads once it waited an election timeout; with no read left the timer stops.
    /// </summary>
    private void FollowerReadTick()
    {
        if (!_followerReadTimer)
            return;
        if (_followerReads.IsEmpty)
        {
            _followerReadTimer = false;
            Emit(new StopHeartbeatTimer());
            return;
        }

        var (resend, expired) = _followerReads.Tick();
        if (expired)
            Emit(new FailReads(_followerReads.TakeAll()));
        else if (resend is not null && _followerReads.AskedOf is { } of)
            Emit(new SendMessage(of.Leader, resend));
    }

    /// <summary>
    /// The reads a follower holds were asked of one leader in one term. Once this node follows
    /// another leader, or none, or campaigns or leads, they fail: the client tries again, where a
    /// leader is known. (A read index answered stays valid under a new leader, but a read is cheap
    /// to retry and this keeps one leader's requests from mixing with the next's.)
    /// </summary>
    private void FailFollowerReadsOfAnotherLeader()
    {
        if (_followerReads.AskedOf is not { } of)
            return;
        if (Role == RaftRole.Follower && !IsPreCandidate && of.Term == Term && of.Leader == LeaderId)
            return;
        Emit(new FailReads(_followerReads.TakeAll()));
        if (_followerReadTimer && Role != RaftRole.Leader)
            Emit(new StopHeartbeatTimer());
        _followerReadTimer = false;
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
    /// discards it): an installed snapshot overtook it, or — on a server that joined, holding
    /// entries from before it was added — this node does not know the configuration in force at
    /// its index (the founders', which no entry records), so the snapshot cannot record it.
    /// </summary>
    public bool SnapshotTaken(LogPosition snapshot)
    {
        if (snapshot.Index <= Snapshot.Index)
            return false; // an installed snapshot overtook it
        if (snapshot.Index > CommitIndex || !_log.Matches(snapshot))
            throw new InvalidOperationException($"{NodeId}: a snapshot through {snapshot} is not of a committed entry of this log (commit {CommitIndex}, base {_log.Base})");
        if (_configurations.At(snapshot.Index).Members.Count == 0)
            return false; // the host's snapshot records the empty configuration this node started with; the next will do
        var compactThrough = Math.Max(_log.Base.Index, snapshot.Index - _trailingEntries);
        Snapshot = snapshot;
        _log.CompactThrough(compactThrough);
        _configurations.CoveredThrough(snapshot.Index);
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
            _configurations.CoveredThrough(snapshot.Index);
        }
        else
        {
            compactThrough = snapshot.Index;
            _log.ResetTo(snapshot);
            _stableIndex = Math.Min(_stableIndex, snapshot.Index);
            _configurations.ResetTo(snapshot.Index, lastChunk.Configuration ?? _configurations.At(snapshot.Index));
        }

        Snapshot = snapshot;
        CommitIndex = snapshot.Index;
        Emit(new PersistSnapshot(snapshot, DiscardLog: !keepLog, compactThrough));
        Emit(new RestoreSnapshot(snapshot));
        ServeFollowerReads();
        AnnounceConfiguration();
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
        _preVotes = new ElectionTally(Configuration.Voters, NodeId);
        RestartElectionTimer();
        foreach (var voter in OtherVoters())
            Emit(new SendMessage(voter, new RequestVote(Term + 1, NodeId, LastLog.Index, LastLog.Term, PreVote: true)));
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
        VotersWhere(p => _heartbeatTicks - p.HeardAtTick <= _quorumCheckTicks) >= Configuration.Majority;

    /// <summary>How many voters of the configuration satisfy <paramref name="holds"/>: this node (when it votes) always does.</summary>
    private int VotersWhere(Func<FollowerProgress, bool> holds)
    {
        var count = IsVoter ? 1 : 0;
        foreach (var voter in OtherVoters())
        {
            if (_progress.TryGetValue(voter, out var progress) && holds(progress))
                count++;
        }

        return count;
    }

    /// <summary>The voters of the configuration but this node (cached per configuration: the commit rule asks on every answer).</summary>
    private IReadOnlyList<string> OtherVoters()
    {
        var configuration = Configuration;
        if (!ReferenceEquals(_otherVoters.Of, configuration))
            _otherVoters = (configuration, configuration.Voters.Where(v => v != NodeId).ToArray());
        return _otherVoters.Ids;
    }

    /// <summary>
    /// Restarts the election timer with a fresh randomized timeout. After a message of the current
    /// leader, with PreVote or CheckQuorum, it first runs for the minimum election timeout only,
    /// during which the node believes in that leader; see <see cref="ElectionTimeoutElapsed"/>.
    /// </summary>
    private void RestartElectionTimer(bool leaderHeard = false)
    {
        var timeout = _timeouts.Next();
        _leaderRecentlyHeard = leaderHeard && (PreVote || CheckQuorum);
        if (_leaderRecentlyHeard)
        {
            _restOfElectionTimeout = timeout - _timeouts.Min;
            Emit(new ResetElectionTimer(_timeouts.Min));
        }
        else
        {
            Emit(new ResetElectionTimer(timeout));
        }
    }

    private void StartElection(bool transfer = false)
    {
        Role = RaftRole.Candidate;
        LeaderId = null;
        HardState = new HardState(Term + 1, NodeId);
        _tally = new ElectionTally(Configuration.Voters, NodeId);
        _preVotes = null;
        Emit(new PersistHardState(HardState));
        RestartElectionTimer();
        foreach (var voter in OtherVoters())
            Emit(new SendMessage(voter, new RequestVote(Term, NodeId, LastLog.Index, LastLog.Term, Transfer: transfer)));
        if (_tally.HasMajority)
            BecomeLeader();
    }

    /// <summary>
    /// The leader hands over (thesis §3.10): a voter campaigns at once, skipping PreVote, and its
    /// votes say so, so that voters still believing in the old leader answer them.
    /// </summary>
    private void HandleTimeoutNow(TimeoutNow timeoutNow)
    {
        if (timeoutNow.Term == Term && Role == RaftRole.Follower && IsVoter)
            StartElection(transfer: true);
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
        _leaderRecentlyHeard = false;
        _heartbeatTicks = 0;
        Emit(new StopElectionTimer());

        // A no-op of the new term commits the entries of earlier terms beneath it (§5.4.2) and
        // tells the leader what is committed before it serves reads (§8).
        _progress.Clear();
        UpdateReplicationTargets();
        _policyWritten = null;
        _termTime = null;
        _leaseForfeited = false;
        _termStartIndex = AppendAsLeader(command: null).Index;
        ReportTransferredLeadership();
        Replicate();
        Emit(new StartHeartbeatTimer(_heartbeatInterval));
    }

    /// <summary>Reverts to follower of <paramref name="term"/> (this node's own, or a higher one it adopts), following <paramref name="leaderId"/> when known.</summary>
    internal void BecomeFollower(long term, string? leaderId)
    {
        var wasLeader = Role == RaftRole.Leader;
        if (wasLeader)
        {
            WriteLeaderEntries();
            EndLeaderRequests(term);
        }

        Role = RaftRole.Follower;
        LeaderId = leaderId;
        _tally = null;
        _preVotes = null;
        _leaderRecentlyHeard = false;
        if (term != Term)
            AdoptTerm(term);

        if (wasLeader)
        {
            _progress.Clear();
            // A follower's reads are dropped with them: it fails them when it learns of another leader.
            var unconfirmed = _reads.Select(r => r.Asker).Concat(_readsAwaitingTermStart).Where(a => a.Follower is null).Select(a => a.Id).ToList();
            _reads.Clear();
            _readsAwaitingTermStart.Clear();
            if (unconfirmed.Count > 0)
                Emit(new FailReads(unconfirmed));

            // A leader's election timer is off; a follower needs one to notice a dead leader.
            Emit(new StopHeartbeatTimer());
            RestartElectionTimer();
        }
    }

    /// <summary>Sets currentTerm to <paramref name="term"/>, with no vote in it yet, durably.</summary>
    internal void AdoptTerm(long term)
    {
        HardState = new HardState(term, null);
        Emit(new PersistHardState(HardState));
    }

    private void HandleRequestVote(RequestVote request)
    {
        // Figure 2: the vote is on stable storage before the candidate hears of it.
        var granted = VoteRules.Decide(HardState, LastLog, request) == VoteDecision.Granted;
        if (VoteRules.HurriesAfterSplitVote(NodeId, Role, HardState, LastLog, request))
            RetrySoonAfterSplitVote();
        Rules.PersistThenRespond(
            persist: () =>
            {
                if (granted)
                    GrantVote(request.CandidateId);
            },
            respond: () => Emit(new SendMessage(request.CandidateId, new RequestVoteResult(Term, NodeId, granted))));
    }

    /// <summary>
    /// Two candidates of one term split the vote: without help both would wait a whole election
    /// timeout and, with PreVote, canvass again — the tail of a failover. The candidate the other
    /// would vote for (the more up-to-date log; of logs as up to date, the id that orders first)
    /// campaigns again after a short randomized wait instead; the other keeps its timer and, still
    /// a candidate of the older term, grants the pre-vote and the vote for the next. Only when an
    /// election happens is changed, never who may vote for whom.
    /// </summary>
    private void RetrySoonAfterSplitVote()
    {
        if (_splitVoteRetryTerm == Term)
            return;
        _splitVoteRetryTerm = Term;
        _leaderRecentlyHeard = false;
        Emit(new ResetElectionTimer(_timeouts.NextAfterSplitVote()));
    }

    private void GrantVote(string candidateId)
    {
        if (HardState.VotedFor != candidateId)
        {
            HardState = HardState with { VotedFor = candidateId };
            Emit(new PersistHardState(HardState));
        }

        // Granting a vote is one of the three events that reset the election timer.
        RestartElectionTimer();
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
        ReportTransferredLeadership();

        // An AppendEntries from the current term's leader resets the election timer.
        RestartElectionTimer(leaderHeard: true);

        var decision = Rules.DecideAppend(_log, append);
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
            _configurations.TruncatedFrom(decision.TruncateFrom); // a configuration appended, not committed, is undone with its entry
        }

        foreach (var entry in decision.NewEntries)
        {
            _log.Append(entry);
            if (entry.Configuration is { } configuration)
                _configurations.Appended(entry.Index, configuration); // in force from now on, committed or not (thesis §4.1)
        }
        if (decision.TruncateFrom != AppendDecision.NoTruncation || decision.NewEntries.Count > 0)
            Emit(new PersistEntries(decision.TruncateFrom, decision.NewEntries, _log.Last));

        AdvanceCommit(ReplicationRules.FollowerCommitIndex(CommitIndex, append));
        AnnounceConfiguration();

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
            if (Role != RaftRole.Leader)
                return; // the commit removed this leader, which handed over and stepped down
            if (_transfer?.Target == result.FollowerId)
                SendTimeoutNowIfCaughtUp(result.FollowerId);
            AdvanceCatchUp();
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
        if (!SendEntries(result.FollowerId))
            SendReadRound(result.FollowerId);
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
        if (Role != RaftRole.Leader)
            return;

        // A transfer's target brought up to date by the snapshot may take over now, as after entries.
        if (_transfer?.Target == installed.FollowerId)
            SendTimeoutNowIfCaughtUp(installed.FollowerId);
        AdvanceCatchUp();
        SendEntries(installed.FollowerId);
    }

    /// <summary>
    /// Sends the follower's next entries if it lacks some and its window has room; a follower that
    /// needs an entry this log has dropped gets the snapshot instead (§7).
    /// <para>
    /// Like Nagle's algorithm, only full messages are pipelined: while a message with entries is
    /// in flight, the entries pending for the follower leave only when they fill a message (as
    /// many as a message takes, or the byte limit cut them short of the log's end); fewer wait
    /// for the answer, so the commands that arrive during a round trip travel, are synced and are
    /// answered together. One command at a time leaves at once; a follower catching up gets full
    /// messages, up to the window.
    /// <see cref="ReplicationLimits.PipelinePartialAppends"/> turns the rule off, for long round trips.
    /// </para>
    /// </summary>
    private bool SendEntries(string peer)
    {
        var progress = _progress[peer];
        var sent = false;
        while (progress.NextIndex <= _log.LastIndex && progress.InFlight < _limits.MaxAppendsInFlight && !progress.SendingSnapshot)
        {
            if (_log.IsCompacted(progress.NextIndex - 1))
            {
                // A snapshot, too, waits for the answer to what is in flight: a follower that
                // stays silent is not sent one.
                if (progress.InFlight == 0)
                {
                    progress.BeginSnapshot();
                    Emit(new SendSnapshot(peer));
                }

                break;
            }

            // Counted before they are copied: under load most calls find a message in flight and
            // too few entries to fill another.
            var count = _log.CountForMessage(progress.NextIndex, _limits.MaxEntriesPerAppend, _limits.MaxBytesPerAppend);
            var fillsAMessage = count >= _limits.MaxEntriesPerAppend || progress.NextIndex + count <= _log.LastIndex;
            if (progress.InFlight > 0 && !fillsAMessage && !_limits.PipelinePartialAppends)
                break;
            SendAppend(peer, _log.Range(progress.NextIndex, progress.NextIndex + count - 1));
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
        var now = LeaseNow();
        progress.Sent(sequence, carriesEntries: entries.Count > 0, sentAt: now, forgetBefore: now - LeaseMilliseconds ?? long.MinValue);
        progress.NextIndex += entries.Count;
        if (entries.Count > 0)
            WriteLeaderEntries();
        Emit(new SendMessage(peer, new AppendEntries(Term, NodeId, prevIndex, _log.TermAt(prevIndex)!.Value, entries, CommitIndex, sequence)));
    }

    private LogEntry AppendAsLeader(EntryCommand? command, ClusterConfiguration? configuration = null)
    {
        var stamp = StampEntries();
        var policy = !stamp || SessionPolicy is null ? null : SessionMinIdle() ? SessionPolicy : SessionPolicy.WithoutMinIdle();
        var entry = new LogEntry(_log.LastIndex + 1, Term, command, configuration)
        {
            Timestamp = stamp ? ClusterTime() : null,
            SessionPolicy = policy == _policyWritten ? null : policy,
        };
        if (stamp)
            _policyWritten = policy;
        _log.Append(entry);
        _unwrittenLeaderEntries.Add(entry);
        if (OtherVoters().Count == 0 || configuration is not null)
            WriteLeaderEntries();
        return entry;
    }

    /// <summary>
    /// Hands the entries this leader appended since the last call to its log's write. A leader
    /// writes its new entries when they first leave for a follower, not as each is appended: a
    /// commit needs them on a majority, and until a follower has them a write of the leader's own
    /// only costs a sync. Entries that wait for a follower's answer (pipelining only full
    /// messages) are then written with the message that carries them, as many per sync as a
    /// follower gets, instead of a sync for whatever arrived during the last one. A commit never
    /// waits for this: it needs a follower that has the entries, and they are written as they
    /// leave. The only voter, a configuration entry (in force on the leader once appended), a
    /// heartbeat tick and a step-down write them at once.
    /// </summary>
    private void WriteLeaderEntries()
    {
        if (_unwrittenLeaderEntries.Count == 0)
            return;
        var entries = _unwrittenLeaderEntries.ToArray();
        _unwrittenLeaderEntries.Clear();
        Emit(new PersistEntries(AppendDecision.NoTruncation, entries, entries[^1].Position));
    }

    /// <summary>
    /// The stamp of an entry this leader appends now (see <see cref="Clock"/>): its term's first
    /// stamp continues from the highest stamp in its log — the last, since stamps never decrease
    /// along a log — or the wall clock when there is none; the next ones add the monotonic time
    /// elapsed since. Null without a clock.
    /// </summary>
    private long? ClusterTime()
    {
        if (Clock is null)
            return null;
        var monotonic = MonotonicClock?.Invoke() ?? Clock();
        if (_termTime is not { } start)
        {
            _termTime = (LastStamp() ?? Clock(), monotonic);
            return _termTime.Value.Stamp;
        }

        return start.Stamp + Math.Max(0, monotonic - start.Monotonic);
    }

    /// <summary>The stamp of the last stamped entry in the log (since the snapshot); null when none is stamped.</summary>
    private long? LastStamp()
    {
        for (var index = _log.LastIndex; index > _log.Base.Index; index--)
        {
            if (_log[index].Timestamp is { } stamp)
                return stamp;
        }

        return null;
    }

    /// <summary>A leader appends a new configuration, in force at once (thesis §4.1); returns its index.</summary>
    private long AppendConfiguration(ClusterConfiguration configuration)
    {
        var index = AppendAsLeader(command: null, configuration).Index;
        _configurations.Appended(index, configuration);
        UpdateReplicationTargets(newPeersFrom: index);
        AnnounceConfiguration();
        foreach (var peer in _progress.Keys)
            SendEntries(peer); // no client's request asked for a promotion, so no host's flush follows it: it goes to all now
        AdvanceLeaderCommit(); // a smaller majority may commit at once (a voter removed)
        return index;
    }

    /// <summary>
    /// A leader replicates to every other member of its configuration, and, until the change that
    /// removed them commits, to the members of the one before, so that a removed server learns of
    /// its removal; once the change is committed, a last heartbeat tells each server it removed so
    /// (the commit index), and that server falls silent instead of campaigning (see MayCampaign).
    /// A server added is sent entries from <paramref name="newPeersFrom"/> (default: the next entry
    /// appended): from the configuration entry that adds it, not after it, or nothing would reach
    /// it before the next heartbeat.
    /// </summary>
    private void UpdateReplicationTargets(long? newPeersFrom = null)
    {
        var targets = Configuration.Members.Select(m => m.Id).ToHashSet(StringComparer.Ordinal);
        if (_configurations.LatestIndex > CommitIndex)
            targets.UnionWith(_configurations.At(_configurations.LatestIndex - 1).Members.Select(m => m.Id));
        targets.Remove(NodeId);
        foreach (var gone in _progress.Keys.Where(id => !targets.Contains(id)).ToList())
        {
            SendAppend(gone, []);
            _progress.Remove(gone);
        }
        foreach (var peer in targets.Where(id => !_progress.ContainsKey(id)))
            _progress[peer] = new FollowerProgress(newPeersFrom ?? _log.LastIndex + 1) { HeardAtTick = _heartbeatTicks };
    }

    private void AdvanceLeaderCommit()
    {
        if (Role != RaftRole.Leader)
            return;
        var configuration = Configuration;
        var matches = OtherVoters().Select(v => _progress.TryGetValue(v, out var p) ? p.MatchIndex : 0);
        if (IsVoter)
            matches = matches.Append(_stableIndex);
        AdvanceCommit(Rules.LeaderCommitIndex(_log, Term, CommitIndex, matches, Math.Max(1, configuration.Voters.Count)));
    }

    private void AdvanceCommit(long newCommitIndex)
    {
        newCommitIndex = Math.Min(newCommitIndex, _log.LastIndex);
        if (newCommitIndex <= CommitIndex)
            return;
        var committed = _log.Range(CommitIndex + 1, newCommitIndex);
        var configurationCommitted = CommitIndex < _configurations.LatestIndex && newCommitIndex >= _configurations.LatestIndex;
        CommitIndex = newCommitIndex;
        Emit(new ApplyEntries(committed));
        ServeFollowerReads();
        if (configurationCommitted)
        {
            AnnounceConfiguration();
            if (Role == RaftRole.Leader)
            {
                UpdateReplicationTargets(); // the members the change removed are no longer replicated to
                if (!IsVoter)
                {
                    AdvanceMembershipChange();
                    StepDownAfterRemoval();
                    return;
                }
            }
        }

        if (Role == RaftRole.Leader)
            AdvanceMembershipChange();

        if (Role == RaftRole.Leader && CommitIndex >= _termStartIndex && _readsAwaitingTermStart.Count > 0)
        {
            foreach (var asker in _readsAwaitingTermStart)
                RegisterRead(asker);
            _readsAwaitingTermStart.Clear();
            Replicate();
        }
    }

    private void RegisterRead(ReadAsker asker)
    {
        if (LeaseHolds())
        {
            AnswerRead(asker, CommitIndex);
            return;
        }

        // Confirmed by answers to messages sent after now, that is, with a later sequence.
        _reads.Add(new PendingRead(asker, CommitIndex, _sequence + 1));
        _readRoundNeeded = true;
        ConfirmReads();
    }

    /// <summary>A confirmed read: its client's is served from <paramref name="readIndex"/> on, a follower's is told the index.</summary>
    private void AnswerRead(ReadAsker asker, long readIndex)
    {
        if (asker.Follower is { } follower)
            Emit(new SendMessage(follower, new ReadIndexResult(Term, NodeId, asker.Id, readIndex)));
        else
            Emit(new ServeRead(asker.Id, readIndex));
    }

    /// <summary>The clock lease reads are measured by, in milliseconds; null when they are off (or the host gave no clock).</summary>
    private long? LeaseNow() => LeaseReads && CheckQuorum ? MonotonicClock?.Invoke() ?? Clock?.Invoke() : null;

    private long LeaseMilliseconds => (long)Rules.LeaseDuration(_timeouts.Min).TotalMilliseconds;

    /// <summary>
    /// Whether this leader's lease holds (see <see cref="LeaseReads"/>): a majority, itself counted,
    /// answered messages sent within the lease duration, and it has not handed over its leadership.
    /// </summary>
    private bool LeaseHolds()
    {
        if (_leaseForfeited || _transfer is not null || LeaseNow() is not { } now)
            return false;
        var since = now - LeaseMilliseconds;
        return VotersWhere(p => p.AnsweredSentAt >= since) >= Configuration.Majority;
    }

    private long PendingReadSequence() => _reads.Count == 0 ? 0 : _reads[^1].Sequence;

    private void ConfirmReads()
    {
        var confirmed = 0;
        foreach (var read in _reads)
        {
            if (VotersWhere(p => p.AcknowledgedSequence >= read.Sequence) < Configuration.Majority)
                break;
            AnswerRead(read.Asker, read.ReadIndex);
            confirmed++;
        }

        _reads.RemoveRange(0, confirmed);
    }

    /// <summary>Tells the host when the configuration in use, or whether it is committed, changed.</summary>
    private void AnnounceConfiguration()
    {
        var now = CurrentConfigurationChange();
        if (now == _announced)
            return;
        _announced = now;
        Emit(now);
    }

    private ConfigurationChanged CurrentConfigurationChange() =>
        new(_configurations.Latest, _configurations.LatestIndex, CommitIndex >= _configurations.LatestIndex);

    /// <summary>The other voter whose log is longest (the first by id among equals), or null when this node is the only voter.</summary>
    private string? MostUpToDateVoter() =>
        OtherVoters()
            .Select(v => (Id: v, Match: _progress.TryGetValue(v, out var p) ? p.MatchIndex : 0))
            .OrderByDescending(v => v.Match).ThenBy(v => v.Id, StringComparer.Ordinal)
            .Select(v => v.Id)
            .FirstOrDefault();

    /// <summary>Sends the transfer's target <see cref="TimeoutNow"/> once its log matches this leader's; returns whether it did.</summary>
    private bool SendTimeoutNowIfCaughtUp(string target)
    {
        if (!_progress.TryGetValue(target, out var progress) || progress.MatchIndex < _log.LastIndex)
            return false;
        Emit(new SendMessage(target, new TimeoutNow(Term, NodeId)));
        _leaseForfeited = true;
        return true;
    }

    /// <summary>A new leader was heard of since a transfer deposed this node: the transfer is done.</summary>
    private void ReportTransferredLeadership()
    {
        if (_transfersAwaitingLeader is { } awaiting && Term > awaiting.FromTerm && LeaderId is { } leader)
        {
            _transfersAwaitingLeader = null;
            Emit(new LeadershipTransferDone(awaiting.RequestIds, leader, Term));
        }
    }

    /// <summary>
    /// This leader steps down (to <paramref name="newTerm"/>): a membership change under way may or
    /// may not complete under the next leader; a transfer that deposed it waits to hear of the new
    /// leader, any other transfer's outcome is unknown.
    /// </summary>
    private void EndLeaderRequests(long newTerm)
    {
        if (_change is { } change)
        {
            _change = null;
            Emit(new MembershipOutcomeUnknown([change.RequestId], "leadership was lost before the membership change was committed"));
        }

        if (_transfer is { } transfer)
        {
            _transfer = null;
            if (newTerm > Term)
                _transfersAwaitingLeader = (Term, transfer.RequestIds);
            else
                Emit(new MembershipOutcomeUnknown(transfer.RequestIds, "the leader stepped down before the transfer finished"));
        }
    }

    /// <summary>
    /// A leader that the committed configuration no longer lists as a voter steps down (thesis
    /// §4.2.2), first handing over to its most up-to-date voter when that one holds its whole log.
    /// </summary>
    private void StepDownAfterRemoval()
    {
        if (MostUpToDateVoter() is { } successor)
            SendTimeoutNowIfCaughtUp(successor);
        BecomeFollower(Term, leaderId: null);
    }

    /// <summary>Moves the membership change under way along as its entries commit.</summary>
    private void AdvanceMembershipChange()
    {
        if (_change is not { } change || change.Stage == ChangeStage.CatchingUp || CommitIndex < change.EntryIndex)
            return;
        if (change.Stage == ChangeStage.AddingLearner && change.Request.Kind == MembershipChangeKind.AddVoter)
        {
            _change = change with { Stage = ChangeStage.CatchingUp };
            StartCatchUpRound(first: true);
            AdvanceCatchUp();
            return;
        }

        _change = null;
        Emit(new MembershipRequestDone(change.RequestId, _configurations.At(change.EntryIndex), change.EntryIndex));
    }

    /// <summary>
    /// Thesis §4.2.1: the learner catches up in rounds, each replicating up to the leader's last
    /// entry at its start; when a round takes less than the minimum election timeout, the learner
    /// is close enough to become a voter without stalling commits.
    /// </summary>
    private void StartCatchUpRound(bool first)
    {
        var change = _change!;
        _change = change with
        {
            Round = first ? 1 : change.Round + 1,
            RoundStartTick = _heartbeatTicks,
            RoundTarget = _log.LastIndex,
            CatchUpStartTick = first ? _heartbeatTicks : change.CatchUpStartTick,
        };
    }

    private void AdvanceCatchUp()
    {
        if (_change is not { Stage: ChangeStage.CatchingUp } change)
            return;
        var learner = change.Request.Id;
        var matched = _progress.TryGetValue(learner, out var progress) ? progress.MatchIndex : 0;
        if (matched >= change.RoundTarget)
        {
            if (_heartbeatTicks - change.RoundStartTick <= _quorumCheckTicks)
            {
                var member = Configuration.Find(learner)!;
                var promoted = member with { IsVoter = true, Address = change.Request.Address ?? member.Address };
                _change = change with { Stage = ChangeStage.Committing, EntryIndex = AppendConfiguration(Configuration.With(promoted)) };
                return;
            }

            if (change.Round < MaxCatchUpRounds)
            {
                StartCatchUpRound(first: false);
                return;
            }
        }

        // The last round fails once it has lasted longer than a round may (not as soon as it
        // starts: it gets the same window as the others); any round, once the whole catch-up
        // has run out of time.
        var lastRoundOverran = change.Round >= MaxCatchUpRounds && _heartbeatTicks - change.RoundStartTick > _quorumCheckTicks;
        if (lastRoundOverran || _heartbeatTicks - change.CatchUpStartTick > CatchUpTicks)
        {
            _change = null;
            Emit(new MembershipRequestRefused(change.RequestId, new MembershipRefusal(
                MembershipRefusalReason.NotCaughtUp,
                $"{learner} did not catch up with the leader's log (at {matched} of {_log.LastIndex} after {change.Round} rounds); it stays a learner")));
        }
    }

    /// <summary>How many catch-up rounds a learner gets before its promotion is abandoned (thesis §4.2.1 suggests about ten).</summary>
    public int MaxCatchUpRounds { get; init; } = 10;

    /// <summary>How long, in heartbeat ticks, a learner may take to catch up before its promotion is abandoned (default: a minute's worth).</summary>
    public int CatchUpTicks { get; init; } = 1200;

    private void Emit(RaftEffect effect) => _effects.Add(effect);

    /// <summary>Who asked a leader's read: a client of this node (<see cref="Id"/> is the read's), or a follower (<see cref="Id"/> is its request's).</summary>
    private readonly record struct ReadAsker(long Id, string? Follower);

    private sealed record PendingRead(ReadAsker Asker, long ReadIndex, long Sequence);

    private enum ChangeStage
    {
        /// <summary>The configuration with the new learner is appended, not yet committed.</summary>
        AddingLearner,

        /// <summary>The learner is catching up with the log, to be promoted.</summary>
        CatchingUp,

        /// <summary>The requested configuration is appended, not yet committed.</summary>
        Committing,
    }

    /// <summary>The membership change under way: its request, stage, the entry it waits for, and the learner's catch-up rounds.</summary>
    private sealed record PendingChange(long RequestId, MembershipChange Request, ChangeStage Stage, long EntryIndex)
    {
        public int Round { get; init; }

        public long RoundStartTick { get; init; }

        public long RoundTarget { get; init; }

        public long CatchUpStartTick { get; init; }
    }

    /// <summary>A leadership transfer under way: to whom, until which heartbeat tick, for which requests.</summary>
    private sealed record Transfer(string Target, long DeadlineTick, List<long> RequestIds);
}
