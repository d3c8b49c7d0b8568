using RaftActors.Core;
using RaftActors.Messages;

namespace RaftActors.Tests.Core;

/// <summary>The kinds of protocol message a peer can send; used to run one rule over all of them.</summary>
public enum MessageKind
{
    RequestVote,
    RequestVoteResult,
    AppendEntries,
    AppendEntriesResult,
}

/// <summary>
/// Builds <see cref="RaftProtocol"/> instances in a given role and term, the way etcd's paper
/// tests call becomeFollower/becomeCandidate/becomeLeader, and reads their effects. Node "n1"
/// is always the node under test; its peers are "n2".."nN".
/// </summary>
internal static class ProtocolTestKit
{
    public const string Self = "n1";
    public const int DefaultSeed = 7;

    public static readonly TimeSpan TimeoutMin = TimeSpan.FromMilliseconds(150);
    public static readonly TimeSpan TimeoutMax = TimeSpan.FromMilliseconds(300);
    public static readonly TimeSpan Heartbeat = TimeSpan.FromMilliseconds(50);

    public static string[] PeersOf(int clusterSize) =>
        Enumerable.Range(2, clusterSize - 1).Select(i => $"n{i}").ToArray();

    /// <summary>
    /// A node that has not been started; no effects yet. PreVote and CheckQuorum are off unless
    /// asked for: the paper's tests test Figure 2 as the paper states it.
    /// </summary>
    public static RaftProtocol NewNode(
        int clusterSize = 3, HardState? persisted = null, int seed = DefaultSeed, IEnumerable<LogEntry>? log = null, ReplicationLimits? limits = null,
        bool preVote = false, bool checkQuorum = false) =>
        NewNode(Self, clusterSize, persisted, seed, log, limits, preVote, checkQuorum);

    /// <summary>Node <paramref name="id"/> of the cluster "n1".."nN", not started.</summary>
    public static RaftProtocol NewNode(
        string id, int clusterSize, HardState? persisted = null, int seed = DefaultSeed, IEnumerable<LogEntry>? log = null, ReplicationLimits? limits = null,
        bool preVote = false, bool checkQuorum = false) =>
        new(id, MembersOf(clusterSize).Where(m => m != id).ToArray(), persisted ?? HardState.Initial,
            new ElectionTimeouts(TimeoutMin, TimeoutMax, new Random(seed)), Heartbeat, log, limits)
        {
            PreVote = preVote,
            CheckQuorum = checkQuorum,
        };

    /// <summary>
    /// Node <paramref name="id"/> started from the configuration <paramref name="bootstrap"/> (every
    /// server of a new cluster is given the same; <see cref="ClusterConfiguration.Empty"/> for one
    /// joining a running cluster), not started. Node ids "nK" draw their timeouts with seed 7 + K.
    /// </summary>
    public static RaftProtocol NewNode(
        string id, ClusterConfiguration bootstrap, HardState? persisted = null, IEnumerable<LogEntry>? log = null,
        bool preVote = false, bool checkQuorum = false, LogPosition snapshot = default, ClusterConfiguration? snapshotConfiguration = null) =>
        new(id, bootstrap, persisted ?? HardState.Initial, Timeouts(SeedOf(id)), Heartbeat, log, persistedSnapshot: snapshot, snapshotConfiguration: snapshotConfiguration)
        {
            PreVote = preVote,
            CheckQuorum = checkQuorum,
        };

    /// <summary>The randomized election timeouts of the tests, drawn with <paramref name="seed"/>.</summary>
    public static ElectionTimeouts Timeouts(int seed = DefaultSeed) => new(TimeoutMin, TimeoutMax, new Random(seed));

    private static int SeedOf(string id) => DefaultSeed + (int.TryParse(id.AsSpan(1), out var k) ? k : 0);

    /// <summary>
    /// A configuration written as ids: "n1 n2" are voters, <paramref name="learners"/> learners
    /// (no addresses), like etcd's <c>withPeers(...)</c> and <c>withLearners(...)</c>.
    /// </summary>
    public static ClusterConfiguration Config(string voters, string learners = "") =>
        new(voters.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(id => new ClusterMember(id, null, IsVoter: true))
            .Concat(learners.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(id => new ClusterMember(id, null, IsVoter: false))));

    public static string[] MembersOf(int clusterSize) =>
        Enumerable.Range(1, clusterSize).Select(i => $"n{i}").ToArray();

    /// <summary>A client command whose bytes are <paramref name="text"/> in UTF-8.</summary>
    public static EntryCommand Command(string text) => new(serializerId: 0, "text", System.Text.Encoding.UTF8.GetBytes(text));

    /// <summary>Entries 1..n of the given terms, no-ops (no command), like etcd's <c>index(1).terms(...)</c>.</summary>
    public static LogEntry[] Entries(params long[] terms) => EntriesFrom(1, terms);

    /// <summary>Entries from <paramref name="firstIndex"/> on, of the given terms, no-ops.</summary>
    public static LogEntry[] EntriesFrom(long firstIndex, params long[] terms) =>
        terms.Select((term, i) => new LogEntry(firstIndex + i, term, Command: null)).ToArray();

    /// <summary>Parses terms written "1 1 2" (entry 1 first); "" is the empty log.</summary>
    public static long[] Terms(string terms) =>
        terms.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(long.Parse).ToArray();

    /// <summary>Every entry of the node's log, in order.</summary>
    public static IReadOnlyList<LogEntry> AllEntries(RaftProtocol node) => node.Log.Range(1, node.Log.LastIndex);

    /// <summary>
    /// Node n1 elected leader of <paramref name="term"/> (from a follower of term - 1 holding
    /// <paramref name="log"/>), with a majority's votes, and the effects of its election: its
    /// no-op's PersistEntries and the AppendEntries carrying it.
    /// </summary>
    public static (RaftProtocol Leader, IReadOnlyList<RaftEffect> Effects) ElectedLeader(
        long term, int clusterSize = 3, IEnumerable<LogEntry>? log = null, ReplicationLimits? limits = null)
    {
        var node = NewNode(clusterSize, new HardState(term - 1, null), log: log, limits: limits);
        node.Start();
        node.DrainEffects();
        node.ElectionTimeoutElapsed();
        if (clusterSize > 1)
            node.DrainEffects(); // the candidacy: its term, vote and RequestVotes
        foreach (var peer in PeersOf(clusterSize).Take(Quorum.Majority(clusterSize) - 1))
            node.Step(new RequestVoteResult(term, peer, VoteGranted: true));
        Assert.Equal(RaftRole.Leader, node.Role);
        Assert.Equal(term, node.Term);
        return (node, node.DrainEffects());
    }

    /// <summary>
    /// etcd's <c>commitNoopEntry</c>: a new leader of <paramref name="term"/> whose no-op is durable
    /// on it and acknowledged by every follower, hence committed; effects drained.
    /// </summary>
    public static RaftProtocol LeaderWithCommittedNoop(long term = 1, int clusterSize = 3, IEnumerable<LogEntry>? log = null, ReplicationLimits? limits = null)
    {
        var (leader, effects) = ElectedLeader(term, clusterSize, log, limits);
        leader.Persisted(leader.LastLog);
        foreach (var send in Sends(effects))
            leader.Step(AcceptAndReply(send));
        Assert.Equal(leader.LastLog.Index, leader.CommitIndex);
        leader.DrainEffects();
        return leader;
    }

    /// <summary>etcd's <c>acceptAndReply</c>: the follower's success answer to an AppendEntries it was sent.</summary>
    public static AppendEntriesResult AcceptAndReply(SendMessage send)
    {
        var append = Assert.IsType<AppendEntries>(send.Message);
        return new AppendEntriesResult(append.Term, send.To, Success: true,
            MatchIndex: append.PrevLogIndex + append.Entries.Count, Sequence: append.Sequence);
    }

    /// <summary>The AppendEntries among the effects, with their recipients.</summary>
    public static IReadOnlyList<(string To, AppendEntries Message)> Appends(IReadOnlyList<RaftEffect> effects) =>
        Sends(effects).Where(s => s.Message is AppendEntries).Select(s => (s.To, (AppendEntries)s.Message)).ToList();

    /// <summary>The entries handed to the state machine, in order, across every ApplyEntries effect.</summary>
    public static IReadOnlyList<LogEntry> Applied(IEnumerable<RaftEffect> effects) =>
        effects.OfType<ApplyEntries>().SelectMany(a => a.Entries).ToList();

    /// <summary>A started node in <paramref name="role"/> at <paramref name="term"/>, effects drained.</summary>
    public static RaftProtocol InRole(RaftRole role, long term, int clusterSize = 3, int seed = DefaultSeed)
    {
        RaftProtocol node;
        switch (role)
        {
            case RaftRole.Follower:
                node = NewNode(clusterSize, new HardState(term, null), seed);
                node.Start();
                break;
            case RaftRole.Candidate:
                node = NewNode(clusterSize, new HardState(term - 1, null), seed);
                node.Start();
                node.ElectionTimeoutElapsed();
                break;
            case RaftRole.Leader:
                node = NewNode(clusterSize, new HardState(term - 1, null), seed);
                node.Start();
                node.ElectionTimeoutElapsed();
                foreach (var peer in PeersOf(clusterSize).Take(Quorum.Majority(clusterSize) - 1))
                    node.Step(new RequestVoteResult(term, peer, VoteGranted: true));
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(role), role, null);
        }

        node.DrainEffects();
        Assert.Equal(role, node.Role);
        Assert.Equal(term, node.Term);
        return node;
    }

    /// <summary>
    /// A message of <paramref name="kind"/> from <paramref name="from"/>; replies are positive, and a
    /// candidate's log is at least as up to date as any log in these tests (a leader holds its no-op).
    /// </summary>
    public static IRaftProtocolMessage Message(MessageKind kind, long term, string from = "n2") => kind switch
    {
        MessageKind.RequestVote => new RequestVote(term, from, LastLogIndex: 100, LastLogTerm: term),
        MessageKind.RequestVoteResult => new RequestVoteResult(term, from, VoteGranted: true),
        MessageKind.AppendEntries => new AppendEntries(term, from, PrevLogIndex: 0, PrevLogTerm: 0, [], LeaderCommit: 0),
        MessageKind.AppendEntriesResult => new AppendEntriesResult(term, from, Success: true),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    /// <summary>The reads the effects say may be served, in order.</summary>
    public static IReadOnlyList<ServeRead> Served(IEnumerable<RaftEffect> effects) => effects.OfType<ServeRead>().ToList();

    public static IReadOnlyList<SendMessage> Sends(IReadOnlyList<RaftEffect> effects) =>
        effects.OfType<SendMessage>().ToList();

    public static int FirstIndexOf<T>(IReadOnlyList<RaftEffect> effects) where T : RaftEffect =>
        effects.ToList().FindIndex(e => e is T);

    public static int LastIndexOf<T>(IReadOnlyList<RaftEffect> effects) where T : RaftEffect =>
        effects.ToList().FindLastIndex(e => e is T);

    public static string Describe(IReadOnlyList<RaftEffect> effects) =>
        effects.Count == 0 ? "(no effects)" : string.Join(Environment.NewLine, effects);

    /// <summary>Parses votes written as "n2+ n3- n2+": voter id, then + for granted or - for refused.</summary>
    public static IReadOnlyList<(string Voter, bool Granted)> ParseVotes(string votes) =>
        votes.Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Select(v => (v[..^1], v[^1] switch
            {
                '+' => true,
                '-' => false,
                _ => throw new ArgumentException($"vote '{v}' must end in + or -"),
            }))
            .ToList();

    /// <summary>
    /// Nodes "n1".."n<paramref name="clusterSize"/>" but the <paramref name="absent"/> ones (etcd's
    /// <c>nopStepper</c>: messages to them are lost), started at the term and vote
    /// <paramref name="persisted"/> gives each (term 0 without it), in one network.
    /// </summary>
    public static (ProtocolNetwork Network, Dictionary<string, RaftProtocol> Nodes) NewCluster(
        int clusterSize, bool preVote, bool checkQuorum, string[]? absent = null, Func<string, HardState>? persisted = null,
        Func<string, IEnumerable<LogEntry>?>? log = null)
    {
        var nodes = MembersOf(clusterSize)
            .Where(id => absent?.Contains(id) != true)
            .ToDictionary(
                id => id,
                id => NewNode(id, clusterSize, persisted?.Invoke(id), seed: DefaultSeed + int.Parse(id[1..]), log: log?.Invoke(id), preVote: preVote, checkQuorum: checkQuorum));
        var network = new ProtocolNetwork(nodes.Values.ToArray());
        foreach (var id in nodes.Keys)
            network.Do(id, node => node.Start());
        return (network, nodes);
    }

    /// <summary>
    /// The members of <paramref name="configuration"/>, each started from it, and the
    /// <paramref name="joining"/> servers, started from no configuration, in one network.
    /// </summary>
    public static (ProtocolNetwork Network, Dictionary<string, RaftProtocol> Nodes) NewCluster(
        ClusterConfiguration configuration, string[]? joining = null, bool preVote = false, bool checkQuorum = false)
    {
        var nodes = configuration.Members.Select(m => NewNode(m.Id, configuration, preVote: preVote, checkQuorum: checkQuorum))
            .Concat((joining ?? []).Select(id => NewNode(id, ClusterConfiguration.Empty, preVote: preVote, checkQuorum: checkQuorum)))
            .ToDictionary(n => n.NodeId);
        var network = new ProtocolNetwork(nodes.Values.ToArray());
        foreach (var id in nodes.Keys)
            network.Do(id, node => node.Start());
        return (network, nodes);
    }

    /// <summary>A client's command proposed to <paramref name="leaderId"/> and replicated; the network runs until quiet. Returns its index (null: refused).</summary>
    public static long? ProposeAndReplicate(ProtocolNetwork network, string leaderId, string text = "somedata")
    {
        long? index = null;
        network.Do(leaderId, p =>
        {
            index = p.Propose(Command(text));
            p.Replicate();
        });
        network.RunUntilQuiet();
        return index;
    }

    /// <summary>
    /// A membership request to node <paramref name="id"/>, followed by the replication the host
    /// schedules after a request; the network runs until quiet. Returns the refusal, null when started.
    /// </summary>
    public static MembershipRefusal? ChangeMembership(ProtocolNetwork network, string id, long requestId, MembershipChange change)
    {
        MembershipRefusal? refusal = null;
        network.Do(id, p =>
        {
            refusal = p.ChangeMembership(requestId, change);
            p.Replicate();
        });
        network.RunUntilQuiet();
        return refusal;
    }

    /// <summary>etcd's <c>MsgTransferLeader</c> to node <paramref name="id"/>, like <see cref="ChangeMembership"/>.</summary>
    public static MembershipRefusal? TransferLeadership(ProtocolNetwork network, string id, long requestId, string? target)
    {
        MembershipRefusal? refusal = null;
        network.Do(id, p =>
        {
            refusal = p.TransferLeadership(requestId, target);
            p.Replicate();
        });
        network.RunUntilQuiet();
        return refusal;
    }

    /// <summary>etcd's <c>MsgBeat</c>: the node's heartbeat timer fires (a leader heartbeats); the network runs until quiet.</summary>
    public static void Beat(ProtocolNetwork network, string id)
    {
        network.Do(id, p => p.HeartbeatTimeoutElapsed());
        network.RunUntilQuiet();
    }

    /// <summary>
    /// etcd's <c>MsgHup</c>: the node's election timer runs out — through the stretch in which it
    /// still believes in its leader, when it is in it — so it campaigns (with PreVote, canvasses);
    /// then the network runs until quiet.
    /// </summary>
    public static void Hup(ProtocolNetwork network, RaftProtocol node)
    {
        var believed = node.LeaderIsAlive;
        network.Do(node.NodeId, p => p.ElectionTimeoutElapsed());
        if (believed && node.Role == RaftRole.Follower && !node.IsPreCandidate)
            network.Do(node.NodeId, p => p.ElectionTimeoutElapsed());
        network.RunUntilQuiet();
    }

    /// <summary>
    /// etcd's "tick electionTimeout times": the minimum election timeout passes since the follower
    /// last heard from its leader; it stops believing in it, and does not campaign yet.
    /// </summary>
    public static void MinimumElectionTimeoutPasses(ProtocolNetwork network, RaftProtocol follower)
    {
        Assert.True(follower.LeaderIsAlive, $"{follower.NodeId} believes in no leader");
        network.Do(follower.NodeId, p => p.ElectionTimeoutElapsed());
        Assert.False(follower.LeaderIsAlive);
        Assert.False(follower.IsPreCandidate);
        Assert.Equal(RaftRole.Follower, follower.Role);
    }

    /// <summary>Every election timer reset draws a timeout from [min, max).</summary>
    public static void AssertTimeoutsInRange(IReadOnlyList<RaftEffect> effects)
    {
        foreach (var reset in effects.OfType<ResetElectionTimer>())
            Assert.InRange(reset.Timeout, TimeoutMin, TimeoutMax - TimeSpan.FromTicks(1));
    }
}
