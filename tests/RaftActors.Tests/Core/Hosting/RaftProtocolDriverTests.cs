using RaftActors.Core;
using RaftActors.Core.Hosting;
using RaftActors.Messages;
using static RaftActors.Tests.Core.ProtocolTestKit;

namespace RaftActors.Tests.Core.Hosting;

/// <summary>
/// The hosting rules RaftNode and the simulator share: effects in order through the outbox, one
/// write at a time, and the answers to waiting clients. Node n1 of three, driven by hand: the
/// recording host completes writes only when a test says so.
/// </summary>
public class RaftProtocolDriverTests
{
    private readonly RecordingHost _host = new();
    private readonly RaftProtocolDriver<string, string> _driver;
    private int _acknowledged;

    public RaftProtocolDriverTests()
    {
        _driver = new RaftProtocolDriver<string, string>(NewNode(clusterSize: 3), _host);
        _driver.Run(p => p.Start());
    }

    private RaftProtocol Protocol => _driver.Protocol;

    [Fact]
    public void One_write_is_in_flight_at_a_time_and_what_is_decided_meanwhile_goes_in_the_next()
    {
        _driver.Run(p => p.ElectionTimeoutElapsed());

        var candidacy = Assert.Single(_host.Writes);
        Assert.Equal(new HardState(1, Self), candidacy.HardState);
        Assert.Empty(_host.Delivered); // the RequestVotes wait for the vote for itself

        _driver.Run(p => p.Step(new RequestVote(2, "n2", 0, 0))); // a newer candidate gets this node's vote
        Assert.Single(_host.Writes);
        Assert.Same(candidacy, _driver.WriteInFlight);

        _driver.WriteDurable(candidacy);
        Assert.Equal(["n2", "n3"], _host.Delivered.Select(d => d.To));
        Assert.All(_host.Delivered, d => Assert.Equal(new RequestVote(1, Self, 0, 0), d.Message));
        Assert.Equal(new HardState(2, "n2"), _host.Writes[1].HardState); // started at once
        Assert.Same(_host.Writes[1], _driver.WriteInFlight);

        _driver.WriteDurable(_host.Writes[1]);
        Assert.Equal(new RequestVoteResult(2, Self, VoteGranted: true), _host.Delivered[^1].Message);
        Assert.Equal(3, _host.Delivered.Count);
        Assert.Null(_driver.WriteInFlight);
        Assert.Equal(2, _host.Writes.Count);
        Assert.Equal(2, _host.Landed.Count);
    }

    [Fact]
    public void A_write_that_is_not_the_one_in_flight_is_refused()
    {
        _driver.Run(p => p.ElectionTimeoutElapsed());
        var write = Assert.Single(_host.Writes);
        _driver.WriteDurable(write);

        Assert.Throws<InvalidOperationException>(() => _driver.WriteDurable(write));
    }

    [Fact]
    public void A_committed_command_is_handed_to_the_host_with_its_client_and_commands_that_arrive_together_replicate_together()
    {
        BecomeLeaderWithCommittedNoop();

        _driver.Propose(Command("x"), "c1");
        _driver.Propose(Command("y"), "c2");
        Assert.Equal(1, _host.FlushesScheduled); // one flush for the burst
        Assert.Equal(2, _driver.WaitingCommandCount);

        _driver.Flush();
        CompleteWrites();
        AcknowledgeAppends();

        var apply = _host.Applies[^1];
        Assert.Equal([2L, 3L], apply.Entries.Select(e => e.Index));
        Assert.Equal(new Dictionary<long, string> { [2] = "c1", [3] = "c2" }, apply.Clients);
        Assert.Empty(_host.Answers);
        Assert.Equal(0, _driver.WaitingCommandCount);
    }

    [Fact]
    public void A_leader_that_steps_down_answers_its_waiting_commands_outcome_unknown()
    {
        BecomeLeaderWithCommittedNoop();
        _driver.Propose(Command("x"), "c1");
        var leadershipChanges = _host.LeadershipChanges;

        _driver.Run(p => p.Step(new AppendEntries(2, "n2", 0, 0, [], 0)));

        Assert.Equal(RaftRole.Follower, Protocol.Role);
        Assert.Equal(["c1: outcome unknown (leadership lost before the command was committed)"], _host.Answers);
        Assert.Equal(leadershipChanges + 1, _host.LeadershipChanges);
        Assert.Equal(0, _driver.WaitingCommandCount);
    }

    [Fact]
    public void A_read_is_served_once_confirmed_and_failed_pointing_to_the_new_leader_when_leadership_is_lost()
    {
        BecomeLeaderWithCommittedNoop();

        _driver.Read("r1");
        _driver.Flush();
        AcknowledgeAppends();
        Assert.Equal(["r1: served at 1"], _host.Answers);

        _driver.Read("r2");
        _driver.Run(p => p.Step(new AppendEntries(2, "n2", 0, 0, [], 0)));
        Assert.Equal(["r1: served at 1", "r2: not leader, try n2"], _host.Answers);
        Assert.Equal(0, _driver.WaitingReadCount);
    }

    [Fact]
    public void Only_a_leader_takes_requests()
    {
        Assert.Throws<InvalidOperationException>(() => _driver.Propose(Command("x"), "c1"));
        Assert.False(_driver.Read("r1")); // a follower that knows no leader has none to ask
        Assert.Equal(0, _driver.WaitingCommandCount);
        Assert.Equal(0, _driver.WaitingReadCount);
    }

    [Fact]
    public void Stopping_answers_every_waiting_client()
    {
        BecomeLeaderWithCommittedNoop();
        _driver.Propose(Command("x"), "c1");
        _driver.Read("r1");

        _driver.Stop("the node stopped");

        Assert.Equal(["c1: outcome unknown (the node stopped)", "r1: not leader, try -"], _host.Answers);
        Assert.Equal(0, _driver.WaitingCommandCount);
        Assert.Equal(0, _driver.WaitingReadCount);
    }

    /// <summary>Elected in term 1 by n2's vote, its no-op durable and acknowledged by both followers.</summary>
    private void BecomeLeaderWithCommittedNoop()
    {
        _driver.Run(p => p.ElectionTimeoutElapsed());
        CompleteWrites();
        _driver.Run(p => p.Step(new RequestVoteResult(1, "n2", VoteGranted: true)));
        Assert.Equal(RaftRole.Leader, Protocol.Role);
        CompleteWrites();
        AcknowledgeAppends();
        Assert.Equal(1, Protocol.CommitIndex);
        Assert.Equal([1L], _host.Applies.SelectMany(a => a.Entries).Select(e => e.Index));
    }

    private void CompleteWrites()
    {
        while (_driver.WriteInFlight is { } write)
            _driver.WriteDurable(write);
    }

    /// <summary>The followers accept every AppendEntries delivered since the last call, and those their answers bring.</summary>
    private void AcknowledgeAppends()
    {
        while (_acknowledged < _host.Delivered.Count)
        {
            var (to, message) = _host.Delivered[_acknowledged++];
            if (message is AppendEntries)
                _driver.Run(p => p.Step(AcceptAndReply(new SendMessage(to, message))));
        }
    }

    private sealed class RecordingHost : IRaftProtocolHost<string, string>
    {
        public List<(string To, IRaftProtocolMessage Message)> Delivered { get; } = new();

        public List<DurableWrite> Writes { get; } = new();

        public List<DurableWrite> Landed { get; } = new();

        public List<(IReadOnlyList<LogEntry> Entries, IReadOnlyDictionary<long, string> Clients)> Applies { get; } = new();

        public List<string> Answers { get; } = new();

        public int FlushesScheduled { get; private set; }

        public int LeadershipChanges { get; private set; }

        public void Deliver(string to, IRaftProtocolMessage message) => Delivered.Add((to, message));

        public void ResetElectionTimer(TimeSpan timeout)
        {
        }

        public void StopElectionTimer()
        {
        }

        public void StartHeartbeatTimer(TimeSpan interval)
        {
        }

        public void StopHeartbeatTimer()
        {
        }

        public void ScheduleFlush() => FlushesScheduled++;

        public void StartWrite(DurableWrite write) => Writes.Add(write);

        public void WriteLanded(DurableWrite write) => Landed.Add(write);

        public void Apply(IReadOnlyList<LogEntry> entries, IReadOnlyDictionary<long, string> clients) => Applies.Add((entries, clients));

        public void ServeRead(string read, long readIndex) => Answers.Add($"{read}: served at {readIndex}");

        public void FailRead(string read, string? leaderId) => Answers.Add($"{read}: not leader, try {leaderId ?? "-"}");

        public void CommandOutcomeUnknown(string client, string reason) => Answers.Add($"{client}: outcome unknown ({reason})");

        public void MembershipChanged(string client, ClusterConfiguration configuration, long index) => Answers.Add($"{client}: {configuration} at {index}");

        public void MembershipRefused(string client, MembershipRefusal refusal) => Answers.Add($"{client}: refused, {refusal.Reason}");

        public void LeadershipTransferred(string client, string leaderId, long term) => Answers.Add($"{client}: {leaderId} leads term {term}");

        public void LeadershipChanged() => LeadershipChanges++;

        public void SendSnapshot(string to) => throw new NotSupportedException();

        public void AcceptSnapshotChunk(InstallSnapshot chunk) => throw new NotSupportedException();

        public void RestoreSnapshot(LogPosition snapshot) => throw new NotSupportedException();
    }
}
