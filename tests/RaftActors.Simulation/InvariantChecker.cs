using RaftActors.Configuration;
using RaftActors.Core;
using RaftActors.Messages;

namespace RaftActors.Simulation;

/// <summary>
/// Raft's safety properties (Figure 3), checked incrementally after every step of every node, so
/// that a violation stops the run at the step that caused it:
/// <list type="bullet">
/// <item>Election Safety: at most one leader per term.</item>
/// <item>Leader Append-Only: a leader never deletes or overwrites entries of its log in its term.</item>
/// <item>Log Matching: every entry (index, term) ever in any log has one command and one
/// predecessor term — which, by induction, makes two logs holding (index, term) identical up to it.</item>
/// <item>Leader Completeness: a leader of a term later than any that existed when an entry was
/// first applied holds that entry.</item>
/// <item>State Machine Safety: no two nodes apply different entries at one index; each incarnation
/// applies 1, 2, 3... without gaps or repeats, from the start or from the snapshot it restored; a
/// store restored from a snapshot (at a restart, or installing a leader's) holds exactly the state
/// of applying the committed entries through the snapshot's index.</item>
/// </list>
/// With log compaction (§7) the logs are compared over the entries they still hold: each node's
/// mirror of its log has a base (the last compacted entry, whose term is known), and an entry
/// before it is checked against the committed history this checker records. A node's snapshot
/// never covers more than it knows committed, and every snapshot is of an entry of that history.
/// Beside Figure 3: every message, as it leaves, depends only on durable state (Figure 2's "before
/// responding to RPCs"), and a read is never served from below what was committed when it was asked.
/// Membership (thesis ch. 4), with configurations in the log: Election Safety holds across
/// configurations (one leader per term, whatever each used); a configuration entry is an entry like
/// any other for Log Matching and State Machine Safety (two different configurations never share an
/// (index, term)); every node uses the latest configuration in its log — or, with none there, its
/// snapshot's, or the one it started with — and announces that one to its host; no log holds more
/// than one configuration entry past the highest index known committed anywhere (one change at a
/// time); every entry a leader commits is, at that moment, durable on a majority of the voters of
/// the configuration the leader counts with, which is the latest in its log; a snapshot records the
/// configuration in force at its index in the committed history; a server that is not a voter in
/// its own configuration never canvasses pre-votes, campaigns or takes leadership — unless it was a
/// voter of the configuration before and does not know the change that removed it committed (it may
/// be the only server able to commit it; LogCabin's rule) — so learners, joining servers and servers
/// that know their removal committed stay quiet, and a leader does not lead on once it knows its
/// removal committed; a leadership transfer reported done names the leader of that term; and every
/// membership change answered done is committed.
/// </summary>
internal sealed class InvariantChecker
{
    private readonly ClusterSimulation _sim;
    private readonly Dictionary<long, int> _leaderOfTerm = new();
    private readonly Dictionary<(long Index, long Term), (int Command, long PreviousTerm)> _entries = new();
    private readonly List<(long Term, int Command, long TermBound)> _committed = new();
    private readonly List<LogEntry> _committedEntries = new();
    private readonly Dictionary<long, byte[]> _referenceStates = new();
    private readonly LogMirror[] _logs;
    private readonly long[] _applied;
    private readonly long[] _leaderTermBeforeStep;

    // The configuration each node's latest snapshot records (null: no snapshot), as the protocol took it on.
    private readonly ClusterConfiguration?[] _snapshotConfigurations;

    // Configurations as entry identities: two entries hold the same one when their ids are equal.
    private readonly Dictionary<ClusterConfiguration, int> _configurationIds = new();

    // The committed configurations by index, from the founders' at 0.
    private readonly List<(long Index, ClusterConfiguration Configuration)> _committedConfigurations = new();
    private readonly List<(long Index, ClusterConfiguration Configuration)> _answeredDone = new();
    private long _maxTerm;
    private long _maxCommitIndex;

    public InvariantChecker(ClusterSimulation sim, int slots)
    {
        _sim = sim;
        _logs = new LogMirror[slots];
        _applied = new long[slots];
        _leaderTermBeforeStep = new long[slots];
        _snapshotConfigurations = new ClusterConfiguration?[slots];
        _committedConfigurations.Add((0, sim.Founders));
    }

    /// <summary>Entries known committed (applied somewhere): 1..CommittedCount.</summary>
    public int CommittedCount => _committed.Count;

    /// <summary>Terms that had a leader.</summary>
    public int LeaderTerms => _leaderOfTerm.Count;

    /// <summary>The latest configuration of the committed history (the founders' before any change commits).</summary>
    public ClusterConfiguration CommittedConfiguration => _committedConfigurations[^1].Configuration;

    /// <summary>A node starts from its disk: its log as the protocol will hold it (after the snapshot), and its store restored from the snapshot.</summary>
    public void NodeStarted(SimulatedNode node)
    {
        var snapshot = node.Disk.Snapshot;
        var stored = node.Disk.Log;
        var keepFirst = stored.Count > 0 && stored[0].Index <= snapshot.Index;
        var log = _logs[node.Index] = new LogMirror(keepFirst ? stored[0].Position : snapshot);
        for (var i = keepFirst ? 1 : 0; i < stored.Count; i++)
            Record(node, stored[i], log);
        _applied[node.Index] = 0;
        _snapshotConfigurations[node.Index] = null;
        if (snapshot != LogPosition.Empty)
        {
            CheckRestoredState(node, snapshot, "restarted from");
            var configuration = node.Disk.Storage.SnapshotConfiguration ?? node.Bootstrap;
            CheckSnapshotConfiguration(node, snapshot, configuration, "restarted from");
            _snapshotConfigurations[node.Index] = configuration;
        }

        _applied[node.Index] = snapshot.Index;
    }

    /// <summary>
    /// The node crashed; its disk holds what was durable. A leader whose election never became durable
    /// — a single voter campaigns and wins at once, before the write of its new term and vote lands —
    /// and that crashed before it did sent nothing of that term (every message waits for the hard
    /// state decided before it) and committed nothing of it (its entries are durable only with or after
    /// that hard state): no one ever saw that leadership. The run forgets it and its entries, and the
    /// node may lead that term again, with other entries.
    /// </summary>
    public void Crashed(SimulatedNode node)
    {
        var durableTerm = node.Disk.HardState.Term;
        var unseen = _leaderOfTerm.Where(t => t.Value == node.Index && t.Key > durableTerm).Select(t => t.Key).ToList();
        foreach (var term in unseen)
        {
            _leaderOfTerm.Remove(term);
            foreach (var key in _entries.Keys.Where(k => k.Term == term).ToList())
                _entries.Remove(key);
        }
    }

    public void BeforeStep(SimulatedNode node) =>
        _leaderTermBeforeStep[node.Index] = node.Protocol.Role == RaftRole.Leader ? node.Protocol.Term : -1;

    public void LogChanged(SimulatedNode node, LogChange change)
    {
        var log = _logs[node.Index];
        switch (change)
        {
            case PersistEntries entries:
                if (entries.TruncateFrom != AppendDecision.NoTruncation && entries.TruncateFrom <= log.LastIndex)
                {
                    var protocol = node.Protocol;
                    if (protocol.Role == RaftRole.Leader && _leaderTermBeforeStep[node.Index] == protocol.Term)
                        Fail("Leader Append-Only", $"{node.Id}, leader of term {protocol.Term}, deleted its entries from {entries.TruncateFrom} on");
                    if (entries.TruncateFrom <= log.Base.Index)
                        Fail("State Machine Safety", $"{node.Id} truncated its log from {entries.TruncateFrom}, into what its snapshot through {log.Base.Index} covers");
                    log.TruncateFrom(entries.TruncateFrom);
                }

                foreach (var entry in entries.Entries)
                    Record(node, entry, log);
                break;

            case PersistSnapshot persist:
                CheckCommitted(node, persist.Snapshot, "takes a snapshot through");
                if (persist.DiscardLog)
                {
                    log.ResetTo(persist.Snapshot);
                }
                else
                {
                    if (persist.CompactThrough > persist.Snapshot.Index || persist.CompactThrough > log.LastIndex)
                        Fail(ClusterSimulation.HarnessError, $"{node.Id} compacts its log ({log.Base.Index + 1}..{log.LastIndex}) through {persist.CompactThrough}, past its snapshot through {persist.Snapshot.Index} or its end");
                    log.CompactThrough(persist.CompactThrough);
                }

                break;
        }
    }

    public void AfterStep(SimulatedNode node)
    {
        var protocol = node.Protocol;
        if (protocol.Snapshot.Index > protocol.CommitIndex)
            Fail("Snapshot", $"{node.Id}'s snapshot through {protocol.Snapshot.Index} covers more than its commit index {protocol.CommitIndex}");
        if (protocol.Term > _maxTerm)
            _maxTerm = protocol.Term;
        if (protocol.CommitIndex > _maxCommitIndex)
            _maxCommitIndex = protocol.CommitIndex;
        var voter = CheckConfiguration(node);
        var log = _logs[node.Index];
        var removalPending = !voter && log.LatestConfigurationIndex > protocol.CommitIndex &&
                             (log.PreviousConfiguration ?? _snapshotConfigurations[node.Index] ?? node.Bootstrap).IsVoter(node.Id);
        if ((protocol.Role == RaftRole.Candidate || protocol.IsPreCandidate) && !voter && !removalPending)
            Fail("Quiet non-voters", $"{node.Id} {(protocol.IsPreCandidate ? "canvasses pre-votes" : "campaigns")} in term {protocol.Term}, but is no voter of its configuration " +
                                     $"{protocol.Configuration} (at {log.LatestConfigurationIndex}, commit {protocol.CommitIndex}), nor one whose removal is pending");
        if (protocol.Role != RaftRole.Leader)
            return;
        if (!voter && !removalPending)
            Fail("Quiet non-voters", $"{node.Id} leads term {protocol.Term}, but is no voter of its configuration {protocol.Configuration} " +
                                     $"(at {log.LatestConfigurationIndex}, commit {protocol.CommitIndex}), nor one whose removal is pending");
        if (_leaderOfTerm.TryGetValue(protocol.Term, out var leader))
        {
            if (leader != node.Index)
                Fail("Election Safety", $"{_sim.Nodes[leader].Id} and {node.Id} both lead term {protocol.Term}");
            return;
        }

        if (!voter)
            _sim.LeaderOutsideItsConfiguration();
        _leaderOfTerm[protocol.Term] = node.Index;
        CheckLeaderCompleteness(node);
        _sim.LeaderElected(node);
    }

    /// <summary>
    /// The node uses, and has announced, the latest configuration in its log (its snapshot's, or the
    /// one it started with, when its log holds none), and its log holds at most one configuration entry
    /// past the highest index known committed. Returns whether it is a voter of that configuration.
    /// </summary>
    private bool CheckConfiguration(SimulatedNode node)
    {
        var protocol = node.Protocol;
        var log = _logs[node.Index];
        var expected = log.LatestConfiguration ?? _snapshotConfigurations[node.Index] ?? node.Bootstrap;
        if (!Same(protocol.Configuration, expected))
            Fail("Configuration", $"{node.Id} uses {protocol.Configuration}; the latest in its log (through {log.LastIndex}, commit {protocol.CommitIndex}) is {expected}");
        if (!Same(node.Configuration, expected))
            Fail("Configuration", $"{node.Id} announced {node.Configuration} to its host; it uses {expected}");
        if (log.ConfigurationsAfter(_maxCommitIndex) is > 1 and var uncommitted)
            Fail("One change at a time", $"{node.Id}'s log holds {uncommitted} configuration entries past {_maxCommitIndex}, the highest index known committed: " +
                                         string.Join(", ", log.Configurations.Where(c => c.Index > _maxCommitIndex).Select(c => $"{c.Configuration} at {c.Index}")));
        return expected.IsVoter(node.Id);
    }

    private static bool Same(ClusterConfiguration a, ClusterConfiguration b) => ReferenceEquals(a, b) || a.Equals(b);

    /// <summary>
    /// The node is applying <paramref name="entries"/> it just learned are committed. When it leads (or
    /// led in this step, until a committed removal made it step down), it decided that: every entry
    /// must then be durable — in the log or covered by the snapshot on the disk — on a majority of the
    /// voters of the configuration it counts with, the latest in its log as it decided (the log
    /// changes it decided later in the same step come after this effect).
    /// </summary>
    public void Committing(SimulatedNode node, IReadOnlyList<LogEntry> entries)
    {
        var protocol = node.Protocol;
        if (protocol.Role != RaftRole.Leader && _leaderTermBeforeStep[node.Index] != protocol.Term)
            return;
        var configuration = _logs[node.Index].LatestConfiguration ?? _snapshotConfigurations[node.Index] ?? node.Bootstrap;
        foreach (var entry in entries)
        {
            var holders = 0;
            foreach (var voter in configuration.Voters)
            {
                if (DurablyHolds(_sim.Nodes[ClusterSimulation.IndexOf(voter)].Disk, entry))
                    holders++;
            }

            if (holders < configuration.Majority)
                Fail("Commitment", $"{node.Id}, leader of term {protocol.Term}, committed entry {entry.Index} (term {entry.Term}) durable on {holders} of the voters of {configuration} " +
                                   $"only ({string.Join(", ", configuration.Voters.Where(v => DurablyHolds(_sim.Nodes[ClusterSimulation.IndexOf(v)].Disk, entry)))}); a majority is {configuration.Majority}");
        }
    }

    private static bool DurablyHolds(SimulatedDisk disk, LogEntry entry)
    {
        if (disk.Snapshot.Index >= entry.Index)
            return true;
        var log = disk.Log;
        if (log.Count == 0 || entry.Index < log[0].Index || entry.Index > log[^1].Index)
            return false;
        return log[(int)(entry.Index - log[0].Index)].Term == entry.Term;
    }

    /// <summary>A snapshot records the configuration in force at its index in the committed history.</summary>
    private void CheckSnapshotConfiguration(SimulatedNode node, LogPosition snapshot, ClusterConfiguration? configuration, string what)
    {
        var committed = CommittedConfigurationAt(snapshot.Index);
        if (configuration is not null && !Same(configuration, committed))
            Fail("Snapshot configuration", $"{node.Id} {what} a snapshot through {snapshot.Index} that records {configuration}; the configuration in force there is {committed}");
    }

    private ClusterConfiguration CommittedConfigurationAt(long index)
    {
        for (var i = _committedConfigurations.Count - 1; i > 0; i--)
        {
            if (_committedConfigurations[i].Index <= index)
                return _committedConfigurations[i].Configuration;
        }

        return _committedConfigurations[0].Configuration;
    }

    /// <summary>The protocol took on the snapshot the node wrote, which records <paramref name="configuration"/>.</summary>
    public void SnapshotTakenOn(SimulatedNode node, LogPosition snapshot, ClusterConfiguration configuration)
    {
        CheckSnapshotConfiguration(node, snapshot, configuration, "took on");
        _snapshotConfigurations[node.Index] = configuration;
    }

    /// <summary>Whether <paramref name="id"/> was ever a member of a committed configuration (the founders' included).</summary>
    public bool WasMember(string id) => _committedConfigurations.Any(c => c.Configuration.IsMember(id));

    /// <summary>The protocol installed a leader's snapshot, which carries <paramref name="configuration"/>.</summary>
    public void SnapshotInstalled(SimulatedNode node, LogPosition snapshot, ClusterConfiguration? configuration)
    {
        CheckCommitted(node, snapshot, "installed a snapshot through");
        CheckSnapshotConfiguration(node, snapshot, configuration, "installed");
        _snapshotConfigurations[node.Index] = configuration ?? CommittedConfigurationAt(snapshot.Index);
    }

    /// <summary>A leader reported a leadership transfer done: <paramref name="leaderId"/> leads <paramref name="term"/>.</summary>
    public void LeadershipTransferred(SimulatedNode node, string leaderId, long term)
    {
        if (!_leaderOfTerm.TryGetValue(term, out var leader) || _sim.Nodes[leader].Id != leaderId)
            Fail("Leadership transfer", $"{node.Id} reported leadership handed to {leaderId} for term {term}, whose leader is {(_leaderOfTerm.TryGetValue(term, out var l) ? _sim.Nodes[l].Id : "none")}");
    }

    /// <summary>The operator heard that <paramref name="configuration"/>, at <paramref name="index"/>, is committed: checked at the end.</summary>
    public void MembershipAnswered(ClusterConfiguration configuration, long index) => _answeredDone.Add((index, configuration));

    public void Applied(SimulatedNode node, LogEntry entry)
    {
        if (entry.Index != _applied[node.Index] + 1)
            Fail("State Machine Safety", $"{node.Id} applied entry {entry.Index} after {_applied[node.Index]}");
        _applied[node.Index] = entry.Index;
        var command = EntryId(entry);
        if (entry.Index <= _committed.Count)
        {
            var known = _committed[(int)entry.Index - 1];
            if (known.Term != entry.Term || known.Command != command)
                Fail("State Machine Safety", $"{node.Id} applied entry {entry.Index} (term {entry.Term}, command {command}); " +
                                             $"another node applied (term {known.Term}, command {known.Command}) there");
        }
        else
        {
            _committed.Add((entry.Term, command, _maxTerm));
            _committedEntries.Add(entry);
            if (entry.Configuration is { } configuration)
            {
                var before = CommittedConfiguration;
                _committedConfigurations.Add((entry.Index, configuration));
                _sim.ConfigurationCommitted(before, configuration, _leaderOfTerm.TryGetValue(entry.Term, out var leader) ? _sim.Nodes[leader].Id : null);
            }
        }
    }

    /// <summary>A node wrote a snapshot of its store through <paramref name="snapshot"/>, the last entry it applied.</summary>
    public void SnapshotWritten(SimulatedNode node, LogPosition snapshot)
    {
        if (snapshot.Index != _applied[node.Index])
            Fail("Snapshot", $"{node.Id} wrote a snapshot through {snapshot.Index} having applied through {_applied[node.Index]}");
        CheckCommitted(node, snapshot, "wrote a snapshot through");
    }

    /// <summary>A node's store took the state of its disk's latest snapshot, from a leader's.</summary>
    public void Restored(SimulatedNode node, LogPosition snapshot)
    {
        if (snapshot.Index < _applied[node.Index])
            Fail("State Machine Safety", $"{node.Id} restored the snapshot through {snapshot.Index} after applying through {_applied[node.Index]}: it would apply entries again");
        if (snapshot.Index > node.Protocol.CommitIndex)
            Fail("Snapshot", $"{node.Id} restored the snapshot through {snapshot.Index} past its commit index {node.Protocol.CommitIndex}");
        CheckRestoredState(node, snapshot, "restored");
        _applied[node.Index] = snapshot.Index;
    }

    public void ReadServed(SimulatedNode node, long readIndex, long committedWhenAsked)
    {
        if (readIndex < committedWhenAsked)
            Fail("Linearizable read", $"{node.Id} served a read at index {readIndex}; {committedWhenAsked} was committed when it was asked");
        if (readIndex > node.Protocol.CommitIndex)
            Fail("Linearizable read", $"{node.Id} served a read at {readIndex}, past its commit index {node.Protocol.CommitIndex}");
        if (node.LastApplied < readIndex)
            Fail("Linearizable read", $"{node.Id} served a read at {readIndex} from a store that holds entries through {node.LastApplied} only");
    }

    /// <summary>
    /// Figure 2's "before responding to RPCs": the simulated disk says what is durable, and every
    /// message, the moment it leaves, depends only on that — its term, a granted vote, the entries
    /// an acknowledgement vouches for (in the log, or in a snapshot). A pre-vote carries the term
    /// proposed (the sender's + 1), and a granted pre-vote the term granted: neither is a term held,
    /// nor a vote given.
    /// </summary>
    public void Sent(SimulatedNode sender, string to, IRaftProtocolMessage message)
    {
        var durable = sender.Disk.HardState;
        var held = message switch
        {
            RequestVote { PreVote: true } preVote => preVote.Term - 1,
            RequestVoteResult { PreVote: true, VoteGranted: true } => 0,
            _ => message.Term,
        };
        if (durable.Term < held)
            Fail("Durable before sent", $"{sender.Id} sent {message} in term {held} while its durable term is {durable.Term}");
        switch (message)
        {
            case RequestVoteResult { VoteGranted: true, PreVote: false } vote when durable.Term == vote.Term && durable.VotedFor != to:
                Fail("Durable before sent", $"{sender.Id} granted {to} its vote in term {vote.Term} before the vote was durable (durable: {durable})");
                break;

            // Group commit may carry, in the same write, a later truncation by the leader of a newer
            // term: the acknowledgement then leaves once that write is durable, as it would have
            // between two writes. So either the entries are durable, or a newer term is.
            case AppendEntriesResult { Success: true } ack when sender.Disk.LastIndex < ack.MatchIndex && durable.Term <= ack.Term:
                Fail("Durable before sent", $"{sender.Id} acknowledged entries up to {ack.MatchIndex} of term {ack.Term} " +
                                           $"with only {sender.Disk.LastIndex} durable (durable: {durable})");
                break;
            case InstallSnapshotResult { Done: true } installed when sender.Disk.LastIndex < installed.LastIncludedIndex && durable.Term <= installed.Term:
                Fail("Durable before sent", $"{sender.Id} answered that it holds the snapshot through {installed.LastIncludedIndex} " +
                                           $"with only {sender.Disk.LastIndex} durable (durable: {durable}, snapshot {sender.Disk.Snapshot.Index})");
                break;
        }
    }

    /// <summary>
    /// At the end: the log each node's effects described is the log it holds (the checks saw every
    /// change), and every membership change answered done is in the committed history.
    /// </summary>
    public void CheckMirrors()
    {
        foreach (var (index, configuration) in _answeredDone)
        {
            if (index <= _committedEntries.Count && !Same(_committedEntries[(int)index - 1].Configuration ?? ClusterConfiguration.Empty, configuration))
                Fail("Membership answer", $"the operator was told {configuration} is committed at {index}; the committed entry there is {_committedEntries[(int)index - 1]}");
        }

        foreach (var node in _sim.Nodes)
        {
            if (!node.Up)
                continue;
            var mirror = _logs[node.Index];
            var log = node.Protocol.Log;
            var same = mirror.Base == log.Base && mirror.LastIndex == log.LastIndex;
            for (var index = log.FirstIndex; same && index <= log.LastIndex; index++)
                same = log.TermAt(index) == mirror.TermAt(index);
            if (!same)
                Fail(ClusterSimulation.HarnessError, $"{node.Id}'s log ({log.FirstIndex}..{log.LastIndex}) is not what its log change effects described ({mirror.Base.Index + 1}..{mirror.LastIndex})");
        }
    }

    private void Record(SimulatedNode node, LogEntry entry, LogMirror log)
    {
        if (entry.Index != log.LastIndex + 1)
            Fail(ClusterSimulation.HarnessError, $"{node.Id} appended entry {entry.Index} after {log.LastIndex}");
        var previousTerm = log.LastTerm;
        var command = EntryId(entry);
        var key = (entry.Index, entry.Term);
        if (_entries.TryGetValue(key, out var known))
        {
            if (known.Command != command || known.PreviousTerm != previousTerm)
                Fail("Log Matching", $"{node.Id} holds entry ({entry.Index}, term {entry.Term}) with command {command} after term {previousTerm}; " +
                                     $"another log holds it with command {known.Command} after term {known.PreviousTerm}");
        }
        else
        {
            _entries[key] = (command, previousTerm);
        }

        log.Append(entry.Term, entry.Configuration);
    }

    /// <summary>An entry's identity: its command's number, -1 for a no-op, and for a configuration a number of its own below.</summary>
    private int EntryId(LogEntry entry)
    {
        if (entry.Configuration is not { } configuration)
            return CommandIds.Of(entry);
        if (!_configurationIds.TryGetValue(configuration, out var id))
            _configurationIds[configuration] = id = -2 - _configurationIds.Count;
        return id;
    }

    /// <summary>A snapshot covers committed entries only: its last one is an entry of the committed history.</summary>
    private void CheckCommitted(SimulatedNode node, LogPosition snapshot, string what)
    {
        if (snapshot.Index > _committed.Count)
            Fail("Snapshot", $"{node.Id} {what} {snapshot.Index} (term {snapshot.Term}), but only entries through {_committed.Count} are known committed");
        if (_committed[(int)snapshot.Index - 1].Term != snapshot.Term)
            Fail("Snapshot", $"{node.Id} {what} entry {snapshot.Index} of term {snapshot.Term}; the committed entry there is of term {_committed[(int)snapshot.Index - 1].Term}");
    }

    /// <summary>The store restored from <paramref name="snapshot"/> holds the state of applying the committed entries through its index.</summary>
    private void CheckRestoredState(SimulatedNode node, LogPosition snapshot, string what)
    {
        CheckCommitted(node, snapshot, $"{what} a snapshot through");
        if (!node.Replica.SnapshotContent().AsSpan().SequenceEqual(ReferenceState(snapshot.Index)))
            Fail("State Machine Safety", $"{node.Id} {what} the snapshot through {snapshot.Index}, whose state differs from that of applying the committed entries 1..{snapshot.Index}");
    }

    private byte[] ReferenceState(long index)
    {
        if (_referenceStates.TryGetValue(index, out var state))
            return state;
        var replica = new KvReplica(_sim.Options.Keys, _sim.Commands, _sim.Founders, SnapshotSettings.Never);
        for (var i = 0; i < index; i++)
            replica.Apply(_committedEntries[i], out _);
        return _referenceStates[index] = replica.SnapshotContent();
    }

    private void CheckLeaderCompleteness(SimulatedNode leader)
    {
        // Entries were first applied in index order and terms only grow, so bounds grow with the
        // index; the highest entry committed before this term began is the one to look for, and
        // Log Matching (checked above) vouches for everything beneath it. One the leader's log has
        // compacted away is in its snapshot: the log's base must then be a committed entry at or
        // after it (the snapshot holds the committed prefix through the base, checked as taken).
        var term = leader.Protocol.Term;
        for (var i = _committed.Count - 1; i >= 0; i--)
        {
            var committed = _committed[i];
            if (committed.TermBound >= term)
                continue;
            var index = i + 1;
            var log = leader.Protocol.Log;
            if (index <= log.Base.Index)
            {
                if (log.Base.Index > _committed.Count || _committed[(int)log.Base.Index - 1].Term != log.Base.Term)
                    Fail("Leader Completeness", $"{leader.Id}, leader of term {term}, has compacted its log through {log.Base}, which is not the committed entry there");
            }
            else if (index > log.LastIndex || log.TermAt(index) != committed.Term || EntryId(log[index]) != committed.Command)
            {
                Fail("Leader Completeness", $"{leader.Id}, leader of term {term}, lacks committed entry {index} (term {committed.Term}); its log ends at {log.Last}");
            }

            return;
        }
    }

    private void Fail(string invariant, string detail) => throw new SimulationFailure(invariant, detail);

    /// <summary>
    /// The terms of a node's log as its effects described it: after a base (the last compacted entry,
    /// or (0, 0)); and the configuration entries among them.
    /// </summary>
    private sealed class LogMirror(LogPosition @base)
    {
        private readonly List<long> _terms = new();
        private readonly List<(long Index, ClusterConfiguration Configuration)> _configurations = new();

        public LogPosition Base { get; private set; } = @base;

        public long LastIndex => Base.Index + _terms.Count;

        public long LastTerm => _terms.Count > 0 ? _terms[^1] : Base.Term;

        /// <summary>The configuration entries after the base, by index.</summary>
        public IReadOnlyList<(long Index, ClusterConfiguration Configuration)> Configurations => _configurations;

        /// <summary>The latest configuration entry after the base, if any.</summary>
        public ClusterConfiguration? LatestConfiguration => _configurations.Count > 0 ? _configurations[^1].Configuration : null;

        /// <summary>The configuration entry before <see cref="LatestConfiguration"/>, if the log holds one.</summary>
        public ClusterConfiguration? PreviousConfiguration => _configurations.Count > 1 ? _configurations[^2].Configuration : null;

        /// <summary>The index of <see cref="LatestConfiguration"/>; the base's with none.</summary>
        public long LatestConfigurationIndex => _configurations.Count > 0 ? _configurations[^1].Index : Base.Index;

        public long TermAt(long index) => index == Base.Index ? Base.Term : _terms[(int)(index - Base.Index - 1)];

        public int ConfigurationsAfter(long index)
        {
            var count = 0;
            for (var i = _configurations.Count - 1; i >= 0 && _configurations[i].Index > index; i--)
                count++;
            return count;
        }

        public void Append(long term, ClusterConfiguration? configuration)
        {
            _terms.Add(term);
            if (configuration is not null)
                _configurations.Add((LastIndex, configuration));
        }

        public void TruncateFrom(long index)
        {
            _terms.RemoveRange((int)(index - Base.Index - 1), (int)(LastIndex - index + 1));
            _configurations.RemoveAll(c => c.Index >= index);
        }

        public void CompactThrough(long index)
        {
            if (index <= Base.Index)
                return;
            var baseTerm = TermAt(index);
            _terms.RemoveRange(0, (int)(index - Base.Index));
            _configurations.RemoveAll(c => c.Index <= index);
            Base = new LogPosition(index, baseTerm);
        }

        public void ResetTo(LogPosition snapshot)
        {
            _terms.Clear();
            _configurations.Clear();
            Base = snapshot;
        }
    }
}

/// <summary>A property the run broke: which one, and how.</summary>
public sealed class SimulationFailure(string invariant, string detail) : Exception($"{invariant}: {detail}")
{
    public string Invariant { get; } = invariant;

    public string Detail { get; } = detail;
}
