using RaftActors.StateMachine;

namespace RaftActors.Tests.Replication;

/// <summary>
/// The state machine of every node incarnation in a replication test: it records each
/// (index, command) it applies into the cluster's shared <see cref="ApplyRecorder"/>.
/// A leader's no-ops never reach a state machine, so a node's applied indexes skip them.
/// Its state is every (index, command) it holds, which is also its snapshot (like MIT's tester,
/// whose snapshots carry the applied log): a restore hands the snapshot's commands to the
/// recorder, which checks them against what every node applied.
/// </summary>
public sealed class RecordingStateMachine(string nodeId, int incarnation, ApplyRecorder recorder) : ISnapshotStateMachine
{
    private SortedDictionary<long, object> _applied = new();

    public object? Apply(long index, object command)
    {
        _applied[index] = command;
        recorder.Applied(nodeId, incarnation, index, command);
        return index;
    }

    public object? Query(object query) => null;

    public Task WriteSnapshotAsync(Stream destination, CancellationToken cancellationToken)
    {
        using var writer = new BinaryWriter(destination, System.Text.Encoding.UTF8, leaveOpen: true);
        writer.Write(_applied.Count);
        foreach (var (index, command) in _applied)
        {
            writer.Write(index);
            switch (command)
            {
                case int i:
                    writer.Write((byte)1);
                    writer.Write(i);
                    break;
                case long l:
                    writer.Write((byte)2);
                    writer.Write(l);
                    break;
                case string text:
                    writer.Write((byte)3);
                    writer.Write(text);
                    break;
                default:
                    throw new NotSupportedException($"the recording state machine snapshots int, long and string commands, not {command.GetType()}");
            }
        }

        return Task.CompletedTask;
    }

    public Task RestoreAsync(Stream source, CancellationToken cancellationToken)
    {
        _applied = Decode(source);
        recorder.Restored(nodeId, incarnation, _applied);
        return Task.CompletedTask;
    }

    /// <summary>The commands a snapshot of this state machine holds, by index.</summary>
    public static SortedDictionary<long, object> Decode(Stream snapshot)
    {
        using var reader = new BinaryReader(snapshot, System.Text.Encoding.UTF8, leaveOpen: true);
        var applied = new SortedDictionary<long, object>();
        for (var count = reader.ReadInt32(); count > 0; count--)
        {
            var index = reader.ReadInt64();
            applied[index] = reader.ReadByte() switch
            {
                1 => reader.ReadInt32(),
                2 => reader.ReadInt64(),
                3 => reader.ReadString(),
                var tag => throw new InvalidDataException($"unknown command tag {tag} at index {index}"),
            };
        }

        return applied;
    }
}

/// <summary>
/// Everything every node incarnation applied, checked as it happens (like MIT's applier):
/// State Machine Safety — no index is applied with two different commands, on any nodes — and
/// order — each incarnation applies increasing indexes, never skipping an index at which some
/// node applied a command. Violations are collected (an exception on the applier's thread would
/// only turn into a failed command) and the test fails on them.
/// </summary>
public sealed class ApplyRecorder
{
    private readonly object _lock = new();
    private readonly Dictionary<long, (object Command, string By)> _byIndex = new();
    private readonly Dictionary<(string Node, int Incarnation), AppliedLog> _byIncarnation = new();
    private readonly Dictionary<string, int> _latest = new(StringComparer.Ordinal);
    private readonly List<string> _violations = new();
    private readonly List<(long Index, object Command)> _acknowledged = new();
    private long _applies;
    private long _restores;

    public IReadOnlyList<string> Violations
    {
        get
        {
            lock (_lock)
                return _violations.ToArray();
        }
    }

    /// <summary>Every (index, command) some node applied, by index.</summary>
    public IReadOnlyDictionary<long, object> AppliedAnywhere
    {
        get
        {
            lock (_lock)
                return _byIndex.ToDictionary(kv => kv.Key, kv => kv.Value.Command);
        }
    }

    /// <summary>Commands a client was told were applied (CommandApplied), at their index.</summary>
    public IReadOnlyList<(long Index, object Command)> Acknowledged
    {
        get
        {
            lock (_lock)
                return _acknowledged.ToArray();
        }
    }

    /// <summary>A new incarnation of <paramref name="nodeId"/> starts: from now on it is the one that counts for the node.</summary>
    public void Started(string nodeId, int incarnation)
    {
        lock (_lock)
        {
            _latest[nodeId] = incarnation;
            _byIncarnation[(nodeId, incarnation)] = new AppliedLog();
        }
    }

    /// <summary>
    /// An incarnation's state machine took a snapshot's state: it now holds these commands (MIT's
    /// ingestSnap), each checked against what every node applied at its index.
    /// </summary>
    public void Restored(string nodeId, int incarnation, IReadOnlyDictionary<long, object> commands)
    {
        lock (_lock)
        {
            _restores++;
            var who = $"{nodeId}#{incarnation} (restored from a snapshot)";
            var mine = Incarnation(nodeId, incarnation);
            foreach (var (index, command) in commands)
            {
                CheckStateMachineSafety(index, command, who);
                mine.Commands[index] = command;
                mine.Last = Math.Max(mine.Last, index);
            }
        }
    }

    public void Applied(string nodeId, int incarnation, long index, object command)
    {
        lock (_lock)
        {
            _applies++;
            var who = $"{nodeId}#{incarnation}";
            var mine = Incarnation(nodeId, incarnation);
            if (index <= mine.Last)
                _violations.Add($"{who} applied index {index} after index {mine.Last}: out of order");
            else
            {
                // Indexes skipped since the last one must be no-ops: none may hold a command anyone applied.
                for (var skipped = mine.Last + 1; skipped < index; skipped++)
                {
                    if (_byIndex.TryGetValue(skipped, out var other))
                        _violations.Add($"{who} applied index {index} after {mine.Last}, skipping index {skipped}, where {other.By} applied {Show(other.Command)}");
                }
            }

            CheckStateMachineSafety(index, command, who);
            mine.Commands[index] = command;
            mine.Last = Math.Max(mine.Last, index);
        }
    }

    private AppliedLog Incarnation(string nodeId, int incarnation)
    {
        if (!_byIncarnation.TryGetValue((nodeId, incarnation), out var mine))
            _byIncarnation[(nodeId, incarnation)] = mine = new AppliedLog();
        return mine;
    }

    private void CheckStateMachineSafety(long index, object command, string who)
    {
        if (_byIndex.TryGetValue(index, out var first))
        {
            if (!Equals(first.Command, command))
                _violations.Add($"State Machine Safety: index {index} applied as {Show(first.Command)} by {first.By} and as {Show(command)} by {who}");
        }
        else
        {
            _byIndex[index] = (command, who);
        }
    }

    public void Acknowledge(long index, object command)
    {
        lock (_lock)
            _acknowledged.Add((index, command));
    }

    /// <summary>
    /// MIT's nCommitted: how many nodes applied index <paramref name="index"/> (each node counted
    /// by its latest incarnation, which restores its snapshot and re-applies the log after it), and the command.
    /// </summary>
    public (int Count, object? Command) NCommitted(long index)
    {
        lock (_lock)
        {
            var count = 0;
            object? command = null;
            foreach (var (node, incarnation) in _latest)
            {
                if (_byIncarnation[(node, incarnation)].Commands.TryGetValue(index, out var applied))
                {
                    count++;
                    command = applied;
                }
            }

            return (count, command);
        }
    }

    /// <summary>How many nodes (latest incarnations) applied <paramref name="command"/>, at any index.</summary>
    public int NodesThatApplied(object command)
    {
        lock (_lock)
            return _latest.Count(kv => _byIncarnation[(kv.Key, kv.Value)].Commands.Values.Any(c => Equals(c, command)));
    }

    /// <summary>The highest index any node's latest incarnation applied.</summary>
    public long HighestApplied()
    {
        lock (_lock)
            return _latest.Select(kv => _byIncarnation[(kv.Key, kv.Value)].Last).DefaultIfEmpty(0).Max();
    }

    /// <summary>
    /// The end-of-run gap check: every incarnation applied, up to the last index it applied, every
    /// index at which any node applied a command (a command applied after the incarnation passed
    /// its index is caught only here).
    /// </summary>
    public IReadOnlyList<string> GapViolations()
    {
        lock (_lock)
        {
            var violations = new List<string>();
            foreach (var ((node, incarnation), applied) in _byIncarnation)
            {
                var missing = _byIndex.Keys.Where(i => i <= applied.Last && !applied.Commands.ContainsKey(i)).OrderBy(i => i).ToList();
                if (missing.Count > 0)
                    violations.Add($"{node}#{incarnation} applied up to index {applied.Last} but not the commands at {string.Join(", ", missing.Take(10))}{(missing.Count > 10 ? ", ..." : "")}");
            }

            return violations;
        }
    }

    public string Describe()
    {
        lock (_lock)
        {
            return $"applied: {_applies} applies of {_byIndex.Count} distinct indexes (highest {(_byIndex.Count == 0 ? 0 : _byIndex.Keys.Max())}), {_restores} restores from snapshots; " +
                   string.Join(", ", _byIncarnation.OrderBy(kv => kv.Key.Node, StringComparer.Ordinal).ThenBy(kv => kv.Key.Incarnation)
                       .Select(kv => $"{kv.Key.Node}#{kv.Key.Incarnation} through {kv.Value.Last} ({kv.Value.Commands.Count} commands)")) +
                   $"; {_acknowledged.Count} acknowledged to clients";
        }
    }

    public static string Show(object? command) => command switch
    {
        null => "null",
        string s when s.Length > 24 => $"\"{s[..12]}...\" ({s.Length} chars)",
        string s => $"\"{s}\"",
        _ => command.ToString() ?? "?",
    };

    private sealed class AppliedLog
    {
        public long Last { get; set; }

        public Dictionary<long, object> Commands { get; } = new();
    }
}
