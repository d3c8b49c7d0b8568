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

    /// <summary>A node that has not been started; no effects yet.</summary>
    public static RaftProtocol NewNode(int clusterSize = 3, HardState? persisted = null, int seed = DefaultSeed) =>
        new(Self, PeersOf(clusterSize), persisted ?? HardState.Initial,
            new ElectionTimeouts(TimeoutMin, TimeoutMax, new Random(seed)), Heartbeat);

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

    /// <summary>Every election timer reset draws a timeout from [min, max).</summary>
    public static void AssertTimeoutsInRange(IReadOnlyList<RaftEffect> effects)
    {
        foreach (var reset in effects.OfType<ResetElectionTimer>())
            Assert.InRange(reset.Timeout, TimeoutMin, TimeoutMax - TimeSpan.FromTicks(1));
    }
}
