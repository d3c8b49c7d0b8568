using RaftActors.Core;
using RaftActors.Messages;
using static RaftActors.Tests.Core.ProtocolTestKit;

namespace RaftActors.Tests.Core;

/// <summary>
/// Log replication (§5.3) and safety (§5.4) on the pure protocol: the tests of etcd-io/raft's
/// raft_paper_test.go, each named after etcd's and tagged with its paper section. Where our
/// design differs from etcd's, the test says how and checks our behaviour instead:
/// <list type="bullet">
/// <item>our new leader appends a no-op of its term at once (etcd does too, as an empty entry);</item>
/// <item><see cref="RaftProtocol.Propose"/> only appends; <see cref="RaftProtocol.Replicate"/> sends, so a
/// burst of commands travels in one AppendEntries;</item>
/// <item>writes are PersistEntries/PersistHardState effects, and a leader counts its own entries toward a
/// quorum only once the host reports them durable through <see cref="RaftProtocol.Persisted"/>
/// (etcd: <c>advanceMessagesAfterAppend</c>/<c>stableTo</c>);</item>
/// <item>AppendEntries replies carry MatchIndex, ConflictIndex/ConflictTerm and the request's Sequence,
/// where etcd replies with Index, RejectHint and LogTerm;</item>
/// <item>the commit index is volatile: it cannot be loaded, it is learnt again from the leader.</item>
/// </list>
/// </summary>
public class RaftProtocolReplicationPaperTests
{
    // Raft §5.3: "The leader appends the command to its log as a new entry, then issues
    // AppendEntries RPCs in parallel to each of the other servers to replicate the entry." The
    // request carries the index and term of the entry preceding the new ones, and the new entry
    // is written to stable storage. Port of etcd TestLeaderStartReplication. Ours: Propose only
    // appends; Replicate sends, and asks for the write of what it sends first. The sends do not
    // wait for the leader's own write (AfterLogDurable is false).
    [Fact]
    public void LeaderStartReplication_5_3()
    {
        var leader = LeaderWithCommittedNoop(term: 1);
        var li = leader.LastLog.Index;

        var index = leader.Propose(Command("some data"));
        var proposed = leader.DrainEffects();

        var entry = new LogEntry(li + 1, 1, Command("some data"));
        Assert.Equal(li + 1, index);
        Assert.Equal(li + 1, leader.LastLog.Index);
        Assert.Equal(li, leader.CommitIndex);
        Assert.Empty(proposed);

        leader.Replicate();
        var replicated = leader.DrainEffects();
        var persist = Assert.IsType<PersistEntries>(replicated[0]);
        Assert.Equal(AppendDecision.NoTruncation, persist.TruncateFrom);
        Assert.Equal([entry], persist.Entries);
        Assert.Equal(entry.Position, persist.LastAfter);
        Assert.Single(replicated.OfType<PersistEntries>());
        var sends = Sends(replicated).OrderBy(s => s.To, StringComparer.Ordinal).ToList();

        Assert.Equal(["n2", "n3"], sends.Select(s => s.To));
        foreach (var send in sends)
        {
            var append = Assert.IsType<AppendEntries>(send.Message);
            Assert.Equal(new AppendEntries(1, Self, PrevLogIndex: li, PrevLogTerm: 1, [entry], LeaderCommit: li, append.Sequence), append);
            Assert.False(send.AfterLogDurable);
        }
    }

    // Raft §5.3: "When the entry has been safely replicated, the leader applies the entry to its
    // state machine ... The leader keeps track of the highest index it knows to be committed, and
    // it includes that index in future AppendEntries RPCs." Port of etcd TestLeaderCommitEntry.
    // Ours: the leader does not broadcast an AppendEntries the moment its commit index moves (etcd
    // does); the followers learn it from the next AppendEntries, at the latest the next heartbeat.
    [Fact]
    public void LeaderCommitEntry_5_3()
    {
        var leader = LeaderWithCommittedNoop(term: 1);
        var li = leader.LastLog.Index;
        leader.Propose(Command("some data"));
        leader.Replicate();

        var effects = new List<RaftEffect>();
        foreach (var send in Sends(leader.DrainEffects()))
        {
            leader.Step(AcceptAndReply(send));
            effects.AddRange(leader.DrainEffects());
        }

        Assert.Equal(li + 1, leader.CommitIndex);
        Assert.Equal([new LogEntry(li + 1, 1, Command("some data"))], Applied(effects));

        leader.HeartbeatTimeoutElapsed();
        var heartbeats = Appends(leader.DrainEffects()).OrderBy(a => a.To, StringComparer.Ordinal).ToList();
        Assert.Equal(["n2", "n3"], heartbeats.Select(h => h.To));
        Assert.All(heartbeats, h => Assert.Equal(li + 1, h.Message.LeaderCommit));
    }

    // Raft §5.3: "A log entry is committed once the leader that created the entry has replicated
    // it on a majority of the servers." Port of etcd TestLeaderAcknowledgeCommit; the leader's own
    // copy counts once durable (etcd's advanceMessagesAfterAppend), so it is reported durable first.
    [Theory]
    [InlineData(1, "", true)]
    [InlineData(3, "", false)]
    [InlineData(3, "n2", true)]
    [InlineData(3, "n2 n3", true)]
    [InlineData(5, "", false)]
    [InlineData(5, "n2", false)]
    [InlineData(5, "n2 n3", true)]
    [InlineData(5, "n2 n3 n4", true)]
    [InlineData(5, "n2 n3 n4 n5", true)]
    public void LeaderAcknowledgeCommit_5_3(int clusterSize, string acceptors, bool committed)
    {
        var leader = LeaderWithCommittedNoop(term: 1, clusterSize);
        var li = leader.LastLog.Index;
        leader.Propose(Command("some data"));
        leader.Persisted(leader.LastLog);
        leader.Replicate();

        var accepting = acceptors.Split(' ', StringSplitOptions.RemoveEmptyEntries).ToHashSet();
        foreach (var send in Sends(leader.DrainEffects()).Where(s => accepting.Contains(s.To)))
            leader.Step(AcceptAndReply(send));

        Assert.Equal(committed, leader.CommitIndex > li);
    }

    // Raft §5.3 with our durability rule (DESIGN "Durability and I/O"): the leader replicates while
    // its own write is in flight, and its own copy joins the majority only once durable. Not in
    // etcd's paper tests; it is the other half of LeaderAcknowledgeCommit.
    [Theory]
    [InlineData(1, "", false)]
    [InlineData(3, "n2", false)]
    [InlineData(3, "n2 n3", true)]
    [InlineData(5, "n2 n3", false)]
    [InlineData(5, "n2 n3 n4", true)]
    public void LeaderAcknowledgeCommit_CountsTheLeadersOwnEntryOnlyOnceDurable_5_3(int clusterSize, string acceptors, bool committedBeforeDurable)
    {
        var leader = LeaderWithCommittedNoop(term: 1, clusterSize);
        var index = leader.Propose(Command("some data"))!.Value;
        leader.Replicate();

        var accepting = acceptors.Split(' ', StringSplitOptions.RemoveEmptyEntries).ToHashSet();
        foreach (var send in Sends(leader.DrainEffects()).Where(s => accepting.Contains(s.To)))
            leader.Step(AcceptAndReply(send));
        Assert.Equal(committedBeforeDurable, leader.CommitIndex == index);

        leader.Persisted(leader.LastLog);
        Assert.Equal(index, leader.CommitIndex);
    }

    // Raft §5.3: "When the leader commits a log entry, it also commits all preceding entries in
    // the leader's log, including entries created by previous leaders", and applies them in log
    // order. Port of etcd TestLeaderCommitPrecedingEntries: the leader of term 3 holds the given
    // log from earlier terms; its no-op and a command of term 3 follow it.
    [Theory]
    [InlineData("")]
    [InlineData("2")]
    [InlineData("1 2")]
    [InlineData("1")]
    public void LeaderCommitPrecedingEntries_5_3(string earlierLog)
    {
        var log = Entries(Terms(earlierLog));
        var (leader, electionEffects) = ElectedLeader(term: 3, log: log);
        leader.Propose(Command("some data"));
        leader.Replicate();

        // Every AppendEntries accepted, those the answers release included (the command waits
        // for the answer to the no-op's message).
        var effects = new List<RaftEffect>();
        var pending = new Queue<SendMessage>(Sends(electionEffects.Concat(leader.DrainEffects()).ToList()));
        while (pending.TryDequeue(out var send))
        {
            leader.Step(AcceptAndReply(send));
            var released = leader.DrainEffects();
            effects.AddRange(released);
            foreach (var next in Sends(released))
                pending.Enqueue(next);
        }

        var li = log.Length;
        Assert.Equal(
            log.Append(new LogEntry(li + 1, 3, Command: null)).Append(new LogEntry(li + 2, 3, Command("some data"))),
            Applied(effects));
        Assert.Equal(li + 2, leader.CommitIndex);
    }

    public static TheoryData<LogEntry[], long> FollowerCommitEntryCases() => new()
    {
        { [new LogEntry(1, 1, Command("some data"))], 1 },
        { [new LogEntry(1, 1, Command("some data")), new LogEntry(2, 1, Command("some data2"))], 2 },
        { [new LogEntry(1, 1, Command("some data2")), new LogEntry(2, 1, Command("some data"))], 2 },
        { [new LogEntry(1, 1, Command("some data")), new LogEntry(2, 1, Command("some data2"))], 1 },
    };

    // Raft §5.3: "Once a follower learns that a log entry is committed, it applies the entry to
    // its local state machine (in log order)." Port of etcd TestFollowerCommitEntry.
    [Theory]
    [MemberData(nameof(FollowerCommitEntryCases))]
    public void FollowerCommitEntry_5_3(LogEntry[] entries, long leaderCommit)
    {
        var follower = InRole(RaftRole.Follower, term: 1);

        follower.Step(new AppendEntries(1, "n2", PrevLogIndex: 0, PrevLogTerm: 0, entries, leaderCommit));

        Assert.Equal(leaderCommit, follower.CommitIndex);
        Assert.Equal(entries.Take((int)leaderCommit), Applied(follower.DrainEffects()));
    }

    // Raft §5.3: "If the follower does not find an entry in its log with the same index and term,
    // then it refuses the new entries"; otherwise it accepts. Port of etcd TestFollowerCheckMsgApp,
    // follower log (1:1, 2:2). Ours: a success says MatchIndex = prevLogIndex + entries (what this
    // request made agree; etcd answers max(that, its commit index), and its test loads commit 1,
    // which our volatile commit index cannot); a refusal hints ConflictTerm = the follower's term at
    // prevLogIndex and ConflictIndex = that term's first index, or last + 1 with ConflictTerm 0 when
    // the log is too short (etcd hints the largest (index, term) at or before prevLogIndex whose
    // term is at most prevLogTerm). Both echo the request's Sequence; only a success waits for
    // the log to be durable.
    [Theory]
    // match with (what etcd calls) committed entries
    [InlineData(0, 0, true, 0, 0, 0)]
    [InlineData(1, 1, true, 1, 0, 0)]
    // match with uncommitted entries
    [InlineData(2, 2, true, 2, 0, 0)]
    // mismatch with an existing entry (etcd: hint index 1, term 1)
    [InlineData(1, 2, false, 0, 2, 2)]
    // no entry at prevLogIndex (etcd: hint index 2, term 2)
    [InlineData(3, 3, false, 0, 3, 0)]
    public void FollowerCheckMsgApp_5_3(
        long prevLogTerm, long prevLogIndex, bool success, long matchIndex, long conflictIndex, long conflictTerm)
    {
        var follower = NewNode(persisted: new HardState(2, null), log: Entries(1, 2));
        follower.Start();
        follower.DrainEffects();

        follower.Step(new AppendEntries(2, "n2", prevLogIndex, prevLogTerm, [], LeaderCommit: 0, Sequence: 7));
        var effects = follower.DrainEffects();

        var reply = new AppendEntriesResult(2, Self, success, matchIndex, conflictIndex, conflictTerm, Sequence: 7);
        Assert.Equal(new SendMessage("n2", reply, AfterLogDurable: success), Assert.Single(Sends(effects)));
        Assert.DoesNotContain(effects, e => e is PersistEntries or PersistHardState);
        Assert.Equal(Entries(1, 2), AllEntries(follower));
        Assert.Equal("n2", follower.LeaderId);
    }

    public static TheoryData<long, long, LogEntry[], LogEntry[], long?, LogEntry[]> FollowerAppendEntriesCases() => new()
    {
        // prevLogIndex, prevLogTerm, entries sent, log after, truncated from (null: no write), entries written
        { 2, 2, EntriesFrom(3, 3), Entries(1, 2, 3), AppendDecision.NoTruncation, EntriesFrom(3, 3) },
        { 1, 1, EntriesFrom(2, 3, 4), Entries(1, 3, 4), 2, EntriesFrom(2, 3, 4) },
        { 0, 0, EntriesFrom(1, 1), Entries(1, 2), null, [] },
        { 0, 0, EntriesFrom(1, 3), Entries(3), 1, EntriesFrom(1, 3) },
    };

    // Raft §5.3: "If an existing entry conflicts with a new one (same index but different terms),
    // delete the existing entry and all that follow it; append any new entries not already in
    // the log", and write them to stable storage. Port of etcd TestFollowerAppendEntries on the
    // follower log (1:1, 2:2); etcd's "unstable entries" are our PersistEntries effect (with the
    // truncation it implies), and nothing is written when nothing is new.
    [Theory]
    [MemberData(nameof(FollowerAppendEntriesCases))]
    public void FollowerAppendEntries_5_3(
        long prevLogIndex, long prevLogTerm, LogEntry[] sent, LogEntry[] logAfter, long? truncatedFrom, LogEntry[] written)
    {
        var follower = NewNode(persisted: new HardState(2, null), log: Entries(1, 2));
        follower.Start();
        follower.DrainEffects();

        follower.Step(new AppendEntries(2, "n2", prevLogIndex, prevLogTerm, sent, LeaderCommit: 0));
        var effects = follower.DrainEffects();

        Assert.Equal(logAfter, AllEntries(follower));
        var persists = effects.OfType<PersistEntries>().ToList();
        if (truncatedFrom is null)
        {
            Assert.Empty(persists);
        }
        else
        {
            var persist = Assert.Single(persists);
            Assert.Equal(truncatedFrom, persist.TruncateFrom);
            Assert.Equal(written, persist.Entries);
            Assert.Equal(logAfter[^1].Position, persist.LastAfter);
            Assert.True(effects.ToList().IndexOf(persist) < FirstIndexOf<SendMessage>(effects), Describe(effects));
        }

        var reply = Assert.Single(Sends(effects));
        Assert.True(reply.AfterLogDurable);
        Assert.Equal(new AppendEntriesResult(2, Self, true, MatchIndex: prevLogIndex + sent.Length), reply.Message);
    }

    public static TheoryData<string, string> Figure7FollowerLogs() => new()
    {
        // The paper's Figure 7, followers (a)-(f); the leader of term 8 holds 1 1 1 4 4 5 5 6 6 6.
        { "a", "1 1 1 4 4 5 5 6 6" },
        { "b", "1 1 1 4" },
        { "c", "1 1 1 4 4 5 5 6 6 6 6" },
        { "d", "1 1 1 4 4 5 5 6 6 6 7 7" },
        { "e", "1 1 1 4 4 4 4" },
        { "f", "1 1 1 2 2 2 3 3 3 3 3" },
    };

    // Raft §5.3, Figure 7: "the leader handles inconsistencies by forcing the followers' logs to
    // duplicate its own": missing entries are sent, extraneous ones deleted. Port of etcd
    // TestLeaderSyncFollowerLog: n1 (log 1 1 1 4 4 5 5 6 6 6, term 8) and n2 (one of the logs (a)-(f),
    // term 7) exchange messages; n3 only grants n1 its vote (n2 may refuse, its log may be more up to
    // date); n1 is elected in term 9, proposes a command, and the two talk until quiet. Then both
    // logs are equal, and, the disks being instant, everything up to the leader's new entries is
    // committed on both (the follower learns it from the next heartbeat).
    [Theory]
    [MemberData(nameof(Figure7FollowerLogs))]
    public void LeaderSyncFollowerLog_5_3_Figure7(string follower, string followerLog)
    {
        var n1 = NewNode("n1", 3, new HardState(8, null), log: Entries(1, 1, 1, 4, 4, 5, 5, 6, 6, 6));
        var n2 = NewNode("n2", 3, new HardState(7, null), log: Entries(Terms(followerLog)));
        var network = new ProtocolNetwork(n1, n2);
        network.Do("n1", n => n.Start());
        network.Do("n2", n => n.Start());

        network.Do("n1", n => n.ElectionTimeoutElapsed());
        network.RunUntilQuiet();
        network.Do("n1", n => n.Step(new RequestVoteResult(9, "n3", VoteGranted: true)));
        Assert.Equal(RaftRole.Leader, n1.Role);
        Assert.Equal(9, n1.Term);
        network.RunUntilQuiet();

        network.Do("n1", n =>
        {
            n.Propose(Command("x"));
            n.Replicate();
        });
        network.RunUntilQuiet();

        var leaderLog = AllEntries(n1);
        Assert.Equal(Entries(1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 9).Append(new LogEntry(12, 9, Command("x"))), leaderLog);
        Assert.True(leaderLog.SequenceEqual(AllEntries(n2)), $"follower ({follower}): {string.Join(" ", AllEntries(n2).Select(e => e.Term))}");
        Assert.Equal(RaftRole.Follower, n2.Role);
        Assert.Equal(12, n1.CommitIndex);

        network.Do("n1", n => n.HeartbeatTimeoutElapsed());
        network.RunUntilQuiet();
        Assert.Equal(12, n2.CommitIndex);
        Assert.Equal(leaderLog, network.AppliedBy("n1"));
        Assert.Equal(leaderLog, network.AppliedBy("n2"));
    }

    // Raft §5.4.1: the RequestVote RPC "includes information about the candidate's log", its last
    // index and term, and goes to every other server. Port of etcd TestVoteRequest: the node first
    // takes the entries from a leader of term wterm - 1, then times out.
    [Theory]
    [InlineData("1", 2)]
    [InlineData("1 2", 3)]
    public void VoteRequest_5_4_1(string terms, long expectedTerm)
    {
        var entries = Entries(Terms(terms));
        var node = NewNode();
        node.Start();
        node.Step(new AppendEntries(expectedTerm - 1, "n2", PrevLogIndex: 0, PrevLogTerm: 0, entries, LeaderCommit: 0));
        node.DrainEffects();

        node.ElectionTimeoutElapsed();
        var sends = Sends(node.DrainEffects()).OrderBy(s => s.To, StringComparer.Ordinal).ToList();

        var last = entries[^1];
        Assert.Equal(
            new[] { "n2", "n3" }.Select(p => new SendMessage(p, new RequestVote(expectedTerm, Self, last.Index, last.Term))),
            sends);
    }

    // Raft §5.4.1: "The RequestVote RPC implements this restriction: ... the voter denies its vote
    // if its own log is more up-to-date than that of the candidate." Port of etcd TestVoter on the
    // whole protocol (VoteRulesTests has it on the rule alone): a two-node cluster, the voter's log
    // given by its terms, a RequestVote of term 3 with the candidate's last log term and index.
    [Theory]
    // same last term
    [InlineData("1", 1, 1, true)]
    [InlineData("1", 1, 2, true)]
    [InlineData("1 1", 1, 1, false)]
    // the candidate has the higher last term
    [InlineData("1", 2, 1, true)]
    [InlineData("1", 2, 2, true)]
    [InlineData("1 1", 2, 1, true)]
    // the voter has the higher last term
    [InlineData("2", 1, 1, false)]
    [InlineData("2", 1, 2, false)]
    [InlineData("2 2", 1, 1, false)]
    // (etcd's last row, voter "1 1" against candidate (1, 1), repeats the third; xunit refuses duplicates)
    // a candidate with an empty log against a voter with entries, and both empty
    [InlineData("1", 0, 0, false)]
    [InlineData("", 0, 0, true)]
    public void Voter_5_4_1(string voterLog, long candidateLastTerm, long candidateLastIndex, bool granted)
    {
        var voter = NewNode(clusterSize: 2, log: Entries(Terms(voterLog)));
        voter.Start();
        voter.DrainEffects();

        voter.Step(new RequestVote(3, "n2", candidateLastIndex, candidateLastTerm));
        var effects = voter.DrainEffects();

        Assert.Equal(new SendMessage("n2", new RequestVoteResult(3, Self, granted)), Assert.Single(Sends(effects)));
        Assert.Equal(new HardState(3, granted ? "n2" : null), voter.HardState);
    }

    // Raft §5.4.2: "Raft never commits log entries from previous terms by counting replicas. Only
    // log entries from the leader's current term are committed by counting replicas." Port of
    // etcd TestLeaderOnlyCommitsLogFromCurrentTerm: a two-node cluster, log (1:1, 2:2), n1 leader of
    // term 3 with its no-op at 3 and a command at 4 (both durable on it); n2 acknowledges up to
    // the given index.
    [Theory]
    // do not commit entries of previous terms
    [InlineData(1, 0)]
    [InlineData(2, 0)]
    // commit an entry of the current term, and everything before it
    [InlineData(3, 3)]
    [InlineData(4, 4)]
    public void LeaderOnlyCommitsLogFromCurrentTerm_5_4_2(long acknowledged, long expectedCommit)
    {
        var (leader, _) = ElectedLeader(term: 3, clusterSize: 2, log: Entries(1, 2));
        leader.Propose(Command("x"));
        leader.Persisted(leader.LastLog);
        leader.DrainEffects();

        leader.Step(new AppendEntriesResult(3, "n2", Success: true, MatchIndex: acknowledged, Sequence: 1));

        Assert.Equal(expectedCommit, leader.CommitIndex);
        Assert.Equal(expectedCommit == 0 ? [] : Entries(1, 2, 3).Concat([new LogEntry(4, 3, Command("x"))]).Take((int)expectedCommit),
            Applied(leader.DrainEffects()));
    }
}
