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
/// applies 1, 2, 3... without gaps or repeats.</item>
/// </list>
/// Beside Figure 3: every message, as it leaves, depends only on durable state (Figure 2's "before
/// responding to RPCs"), and a read is never served from below what was committed when it was asked.
/// </summary>
internal sealed class InvariantChecker
{
    private readonly ClusterSimulation _sim;
    private readonly Dictionary<long, int> _leaderOfTerm = new();
    private readonly Dictionary<(long Index, long Term), (int Command, long PreviousTerm)> _entries = new();
    private readonly List<(long Term, int Command, long TermBound)> _committed = new();
    private readonly List<long>[] _logTerms;
    private readonly long[] _applied;
    private readonly long[] _leaderTermBeforeStep;
    private long _maxTerm;

    public InvariantChecker(ClusterSimulation sim, int clusterSize)
    {
        _sim = sim;
        _logTerms = new List<long>[clusterSize];
        _applied = new long[clusterSize];
        _leaderTermBeforeStep = new long[clusterSize];
    }

    /// <summary>Entries known committed (applied somewhere): 1..CommittedCount.</summary>
    public int CommittedCount => _committed.Count;

    /// <summary>Terms that had a leader.</summary>
    public int LeaderTerms => _leaderOfTerm.Count;

    public void NodeStarted(SimulatedNode node)
    {
        var terms = _logTerms[node.Index] = new List<long>(node.Disk.Log.Count + 16);
        foreach (var entry in node.Disk.Log)
            Record(node, entry, terms);
        _applied[node.Index] = 0;
    }

    public void BeforeStep(SimulatedNode node) =>
        _leaderTermBeforeStep[node.Index] = node.Protocol.Role == RaftRole.Leader ? node.Protocol.Term : -1;

    public void LogChanged(SimulatedNode node, PersistEntries change)
    {
        var terms = _logTerms[node.Index];
        if (change.TruncateFrom != AppendDecision.NoTruncation)
        {
            var protocol = node.Protocol;
            if (protocol.Role == RaftRole.Leader && _leaderTermBeforeStep[node.Index] == protocol.Term && change.TruncateFrom <= terms.Count)
                Fail("Leader Append-Only", $"{node.Id}, leader of term {protocol.Term}, deleted its entries from {change.TruncateFrom} on");
            if (change.TruncateFrom <= terms.Count)
                terms.RemoveRange((int)change.TruncateFrom - 1, terms.Count - (int)change.TruncateFrom + 1);
        }

        foreach (var entry in change.Entries)
            Record(node, entry, terms);
    }

    public void AfterStep(SimulatedNode node)
    {
        var protocol = node.Protocol;
        if (protocol.Term > _maxTerm)
            _maxTerm = protocol.Term;
        if (protocol.Role != RaftRole.Leader)
            return;
        if (_leaderOfTerm.TryGetValue(protocol.Term, out var leader))
        {
            if (leader != node.Index)
                Fail("Election Safety", $"{_sim.Nodes[leader].Id} and {node.Id} both lead term {protocol.Term}");
            return;
        }

        _leaderOfTerm[protocol.Term] = node.Index;
        CheckLeaderCompleteness(node);
        _sim.LeaderElected(node);
    }

    public void Applied(SimulatedNode node, LogEntry entry)
    {
        if (entry.Index != _applied[node.Index] + 1)
            Fail("State Machine Safety", $"{node.Id} applied entry {entry.Index} after {_applied[node.Index]}");
        _applied[node.Index] = entry.Index;
        var command = CommandIds.Of(entry);
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
        }
    }

    public void ReadServed(SimulatedNode node, long readIndex, long committedWhenAsked)
    {
        if (readIndex < committedWhenAsked)
            Fail("Linearizable read", $"{node.Id} served a read at index {readIndex}; {committedWhenAsked} was committed when it was asked");
        if (readIndex > node.Protocol.CommitIndex)
            Fail("Linearizable read", $"{node.Id} served a read at {readIndex}, past its commit index {node.Protocol.CommitIndex}");
    }

    /// <summary>
    /// Figure 2's "before responding to RPCs": the simulated disk says what is durable, and every
    /// message, the moment it leaves, depends only on that — its term, a granted vote, the entries
    /// an acknowledgement vouches for. A pre-vote carries the term proposed (the sender's + 1), and a
    /// granted pre-vote the term granted: neither is a term held, nor a vote given.
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
            case AppendEntriesResult { Success: true } ack when sender.Disk.Log.Count < ack.MatchIndex && durable.Term <= ack.Term:
                Fail("Durable before sent", $"{sender.Id} acknowledged entries up to {ack.MatchIndex} of term {ack.Term} " +
                                           $"with only {sender.Disk.Log.Count} durable (durable: {durable})");
                break;
        }
    }

    /// <summary>At the end: the log each node's effects described is the log it holds (the checks saw every change).</summary>
    public void CheckMirrors()
    {
        foreach (var node in _sim.Nodes)
        {
            if (!node.Up)
                continue;
            var terms = _logTerms[node.Index];
            var log = node.Protocol.Log;
            var same = terms.Count == log.LastIndex;
            for (var i = 0; same && i < terms.Count; i++)
                same = log.TermAt(i + 1) == terms[i];
            if (!same)
                Fail(ClusterSimulation.HarnessError, $"{node.Id}'s log ({log.LastIndex} entries) is not what its PersistEntries effects described ({terms.Count})");
        }
    }

    private void Record(SimulatedNode node, LogEntry entry, List<long> terms)
    {
        if (entry.Index != terms.Count + 1)
            Fail(ClusterSimulation.HarnessError, $"{node.Id} appended entry {entry.Index} after {terms.Count}");
        var previousTerm = terms.Count == 0 ? 0 : terms[^1];
        var command = CommandIds.Of(entry);
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

        terms.Add(entry.Term);
    }

    private void CheckLeaderCompleteness(SimulatedNode leader)
    {
        // Entries were first applied in index order and terms only grow, so bounds grow with the
        // index; the highest entry committed before this term began is the one to look for, and
        // Log Matching (checked above) vouches for everything beneath it.
        var term = leader.Protocol.Term;
        for (var i = _committed.Count - 1; i >= 0; i--)
        {
            var committed = _committed[i];
            if (committed.TermBound >= term)
                continue;
            var index = i + 1;
            var log = leader.Protocol.Log;
            if (index > log.LastIndex || log.TermAt(index) != committed.Term || CommandIds.Of(log[index]) != committed.Command)
                Fail("Leader Completeness", $"{leader.Id}, leader of term {term}, lacks committed entry {index} (term {committed.Term}); its log ends at {log.Last}");
            return;
        }
    }

    private void Fail(string invariant, string detail) => throw new SimulationFailure(invariant, detail);
}

/// <summary>A property the run broke: which one, and how.</summary>
public sealed class SimulationFailure(string invariant, string detail) : Exception($"{invariant}: {detail}")
{
    public string Invariant { get; } = invariant;

    public string Detail { get; } = detail;
}
