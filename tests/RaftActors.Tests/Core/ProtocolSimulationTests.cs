using RaftActors.Core;
using RaftActors.Messages;
using RaftActors.Storage;
using static RaftActors.Tests.Core.ProtocolTestKit;

namespace RaftActors.Tests.Core;

/// <summary>
/// Seeded random schedules over whole clusters of <see cref="RaftProtocol"/>s, each hosted the
/// way RaftNode hosts it: a <see cref="DurableOutbox"/> holds messages back until their writes
/// are durable, disks complete writes one at a time whenever the schedule says, and a crash loses
/// whatever was not durable (the write in flight included, or not). The network loses,
/// duplicates and reorders messages, and cuts one node off for a while; election timeouts, heartbeats and client commands come at
/// random, and linearizable reads. After every step the invariants of Raft's Figure 3 are checked:
/// Election Safety, Leader Append-Only, Leader Completeness, State Machine Safety (with in-order
/// apply), and no read served from before what was committed when it was asked; at the end Log
/// Matching. Every failure names its seed; the run replays exactly.
/// </summary>
public class ProtocolSimulationTests
{
    public static TheoryData<int, int> Schedules()
    {
        var data = new TheoryData<int, int>();
        for (var seed = 1; seed <= 40; seed++)
            data.Add(seed, seed % 2 == 0 ? 3 : 5);
        return data;
    }

    [Theory]
    [MemberData(nameof(Schedules))]
    public void RandomSchedules_WithLossReorderingSlowDisksAndCrashes_KeepRaftsInvariants(int seed, int clusterSize)
    {
        var simulation = new Simulation(seed, clusterSize);

        simulation.Run(steps: 20_000);

        simulation.AssertLogMatching();
        Assert.True(simulation.Committed > 20, $"seed {seed}: only {simulation.Committed} entries committed in {simulation.Terms} terms");
        Assert.True(simulation.ReadsServed > 2, $"seed {seed}: only {simulation.ReadsServed} reads served");
    }

    private sealed class Host
    {
        public required RaftProtocol Node { get; set; }

        public DurableOutbox Outbox { get; } = new();

        public DurableWrite? Writing { get; set; }

        public required HardState DurableHardState { get; set; }

        public required List<LogEntry> DurableLog { get; init; }

        public List<LogEntry> Applied { get; } = new();
    }

    private sealed class Simulation
    {
        private static readonly ReplicationLimits Limits = new(MaxEntriesPerAppend: 2, MaxBytesPerAppend: 1 << 20, MaxAppendsInFlight: 2);

        private readonly int _seed;
        private readonly Random _random;
        private readonly string[] _ids;
        private readonly Dictionary<string, Host> _hosts = new(StringComparer.Ordinal);
        private readonly List<(string To, IRaftProtocolMessage Message)> _network = new();
        private readonly Dictionary<long, string> _leaderOfTerm = new();
        private readonly Dictionary<(string, long), List<LogEntry>> _leaderLogs = new();
        private readonly Dictionary<long, (LogEntry Entry, long TermBound)> _committed = new();
        private readonly Dictionary<long, long> _readFloors = new();
        private int _proposals;
        private long _reads;
        private string? _isolated;

        public Simulation(int seed, int clusterSize)
        {
            _seed = seed;
            _random = new Random(seed);
            _ids = MembersOf(clusterSize);
            foreach (var id in _ids)
            {
                _hosts[id] = new Host { Node = null!, DurableHardState = HardState.Initial, DurableLog = new List<LogEntry>() };
                _hosts[id].Node = NewProtocol(id, _hosts[id]);
                _hosts[id].Node.Start();
                Collect(id);
            }
        }

        public int Committed => _committed.Count;

        public int Terms => _leaderOfTerm.Count;

        public int ReadsServed { get; private set; }

        public void Run(int steps)
        {
            for (var step = 0; step < steps; step++)
            {
                var id = _ids[_random.Next(_ids.Length)];
                var host = _hosts[id];
                var dice = _random.NextDouble();
                if (dice < 0.01)
                {
                    host.Node.ElectionTimeoutElapsed();
                }
                else if (dice < 0.04)
                {
                    host.Node.HeartbeatTimeoutElapsed();
                }
                else if (dice < 0.07)
                {
                    if (host.Node.Propose(Command($"p{_proposals}")) is not null)
                        _proposals++;
                    if (_random.NextDouble() < 0.5)
                        host.Node.Replicate();
                }
                else if (dice < 0.072)
                {
                    Crash(id);
                }
                else if (dice < 0.075)
                {
                    // Cut one node off from the rest (a deposed leader keeps believing it leads), or heal.
                    _isolated = _isolated is null ? id : null;
                }
                else if (dice < 0.09)
                {
                    // A read must see every entry committed anywhere before it was asked for.
                    if (host.Node.RequestRead(++_reads))
                        _readFloors[_reads] = _hosts.Values.Max(h => h.Node.CommitIndex);
                }
                else if (dice < 0.25)
                {
                    CompleteWrite(id);
                }
                else if (_network.Count > 0)
                {
                    var index = _random.NextDouble() < 0.3 ? _random.Next(_network.Count) : 0; // reorder
                    var (to, message) = _network[index];
                    _network.RemoveAt(index);
                    if (_random.NextDouble() < 0.1 || to == _isolated || message.From == _isolated)
                        continue; // lost
                    id = to;
                    _hosts[to].Node.Step(message);
                }

                Collect(id);
            }
        }

        public void AssertLogMatching()
        {
            foreach (var a in _ids)
            {
                foreach (var b in _ids.Where(b => string.CompareOrdinal(a, b) < 0))
                {
                    var logA = AllEntries(_hosts[a].Node);
                    var logB = AllEntries(_hosts[b].Node);
                    var common = Math.Min(logA.Count, logB.Count);
                    var lastSame = -1;
                    for (var i = common - 1; i >= 0 && lastSame < 0; i--)
                    {
                        if (logA[i].Term == logB[i].Term)
                            lastSame = i;
                    }

                    Assert.True(logA.Take(lastSame + 1).SequenceEqual(logB.Take(lastSame + 1)),
                        $"seed {_seed}: Log Matching: {a} and {b} agree on ({lastSame + 1}, {(lastSame >= 0 ? logA[lastSame].Term : 0)}) but not before it");
                }
            }
        }

        private RaftProtocol NewProtocol(string id, Host host) =>
            new(id, _ids.Where(p => p != id).ToArray(), host.DurableHardState,
                new ElectionTimeouts(TimeoutMin, TimeoutMax, new Random(_random.Next())), Heartbeat, host.DurableLog.ToList(), Limits);

        private void Send(string to, IRaftProtocolMessage message)
        {
            AssertDurableBeforeSent(to, message);
            _network.Add((to, message));
            if (_random.NextDouble() < 0.03)
                _network.Add((to, message)); // duplicated
        }

        /// <summary>
        /// Figure 2's "before responding to RPCs": the simulated disks record what is durable, and
        /// every message, the moment it leaves, must depend only on that — its term, a granted
        /// vote, and the entries an acknowledgement vouches for.
        /// </summary>
        private void AssertDurableBeforeSent(string to, IRaftProtocolMessage message)
        {
            var sender = _hosts[message.From];
            var durable = sender.DurableHardState;
            Assert.True(durable.Term >= message.Term,
                $"seed {_seed}: {message.From} sent {message} in term {message.Term} while its durable term is {durable.Term}");
            switch (message)
            {
                case RequestVoteResult { VoteGranted: true } vote:
                    Assert.True(durable.Term > vote.Term || durable.VotedFor == to,
                        $"seed {_seed}: {message.From} granted {to} its vote in term {vote.Term} before the vote was durable (durable: {durable})");
                    break;
                case AppendEntriesResult { Success: true } ack:
                    // Group commit may carry, in the same write, a later truncation by the leader of
                    // a newer term: the acknowledgement then leaves once that write is durable, as
                    // it would have between two writes. So either the entries are durable, or a
                    // newer term is (which alone may truncate them).
                    Assert.True(sender.DurableLog.Count >= ack.MatchIndex || durable.Term > ack.Term,
                        $"seed {_seed}: {message.From} acknowledged entries up to {ack.MatchIndex} of term {ack.Term} " +
                        $"with only {sender.DurableLog.Count} durable (durable: {durable})");
                    break;
            }
        }

        private void CompleteWrite(string id)
        {
            var host = _hosts[id];
            if (host.Writing is not { } write)
                return;
            if (write.HardState is { } hardState)
                host.DurableHardState = hardState;
            LogOperations.ApplyTo(host.DurableLog, LogOperations.Of(write.LogChanges));

            host.Writing = null;
            host.Outbox.Durable(write.Version, Send);
            if (write.LastAfter is { } last)
                host.Node.Persisted(last);
        }

        private void Crash(string id)
        {
            var old = _hosts[id];
            if (_random.NextDouble() < 0.5)
                CompleteWrite(id); // the write in flight made it, or not
            var host = new Host { Node = null!, DurableHardState = old.DurableHardState, DurableLog = old.DurableLog };
            host.Node = NewProtocol(id, host);
            _hosts[id] = host;
            _network.RemoveAll(m => m.To == id && _random.NextDouble() < 0.5);
            host.Node.Start();
        }

        private void Collect(string id)
        {
            var host = _hosts[id];
            foreach (var effect in host.Node.DrainEffects())
            {
                switch (effect)
                {
                    case PersistHardState persist:
                        host.Outbox.Persist(persist.State);
                        break;
                    case PersistEntries persist:
                        host.Outbox.Persist(persist);
                        break;
                    case SendMessage send:
                        host.Outbox.Send(send.To, send.Message, Send, send.AfterLogDurable);
                        break;
                    case ApplyEntries apply:
                        foreach (var entry in apply.Entries)
                            Applied(id, host, entry);
                        break;
                    case ServeRead serve:
                        // Linearizable reads (ReadIndex): never served from behind what was committed
                        // when the read came in, as a deposed leader unaware of its successor would.
                        Assert.True(serve.ReadIndex >= _readFloors[serve.ReadId],
                            $"seed {_seed}: {id} served read {serve.ReadId} at {serve.ReadIndex}; {_readFloors[serve.ReadId]} was committed before it was asked");
                        Assert.True(serve.ReadIndex <= host.Node.CommitIndex, $"seed {_seed}: read index past {id}'s commit index");
                        ReadsServed++;
                        break;
                }
            }

            host.Writing ??= host.Outbox.TakeNextWrite();
            CheckLeader(id, host.Node);
        }

        private void Applied(string id, Host host, LogEntry entry)
        {
            Assert.True(entry.Index == host.Applied.Count + 1, $"seed {_seed}: {id} applied {entry.Index} after {host.Applied.Count}");
            host.Applied.Add(entry);

            // State Machine Safety: no two nodes apply different entries at one index.
            if (_committed.TryGetValue(entry.Index, out var known))
            {
                Assert.True(known.Entry == entry, $"seed {_seed}: State Machine Safety: {id} applied {entry}, another node {known.Entry}");
            }
            else
            {
                // Committed in a term no later than the highest any node has reached now.
                _committed[entry.Index] = (entry, _hosts.Values.Max(h => h.Node.Term));
            }
        }

        private void CheckLeader(string id, RaftProtocol node)
        {
            if (node.Role != RaftRole.Leader)
                return;

            // Election Safety: at most one leader per term.
            if (_leaderOfTerm.TryGetValue(node.Term, out var leader))
                Assert.True(leader == id, $"seed {_seed}: Election Safety: {leader} and {id} both lead term {node.Term}");
            else
                _leaderOfTerm[node.Term] = id;

            // Leader Append-Only: within its term, a leader's log only grows.
            var log = AllEntries(node).ToList();
            var elected = !_leaderLogs.TryGetValue((id, node.Term), out var before);
            if (!elected)
                Assert.True(log.Take(before!.Count).SequenceEqual(before), $"seed {_seed}: Leader Append-Only: {id} changed its log in term {node.Term}");
            _leaderLogs[(id, node.Term)] = log;

            // Leader Completeness: a leader of a later term holds every committed entry (checked as
            // it takes office; Append-Only keeps it so).
            if (!elected)
                return;
            foreach (var (index, (entry, termBound)) in _committed)
            {
                if (node.Term > termBound)
                    Assert.True(index <= log.Count && log[(int)index - 1] == entry,
                        $"seed {_seed}: Leader Completeness: {id}, leader of term {node.Term}, lacks committed entry {entry}");
            }
        }
    }
}
