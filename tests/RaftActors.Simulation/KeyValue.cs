using RaftActors.Core;

namespace RaftActors.Simulation;

public enum KvKind : byte
{
    Get,
    Put,
    Delete,
    CompareAndSet,
}

/// <summary>A client's key-value operation; <see cref="Expected"/> is CompareAndSet's condition (null: the key must be absent).</summary>
public sealed record KvCommand(KvKind Kind, int Key, string? Value, string? Expected)
{
    public string KeyName => KeyNames.Of(Key);
}

/// <summary>An operation's answer in the checker's terms: Get's value, CompareAndSet's success and the value it found.</summary>
public readonly record struct KvResult(bool Ok, string? Value);

internal static class KeyNames
{
    private static readonly string[] Names = Enumerable.Range(0, 16).Select(i => $"k{i}").ToArray();

    public static string Of(int key) => key < Names.Length ? Names[key] : $"k{key}";
}

/// <summary>
/// The replicated key-value state machine each node applies committed entries to, with client
/// sessions as RaftNode's applier keeps them: a command whose (client, sequence) was applied
/// before is not applied again, and answers with its first result (thesis §6.3). A log entry
/// carries the command's number in the run's command table, so it is compared, stored and
/// replicated like any serialized command.
/// </summary>
internal sealed class KvStore
{
    private readonly string?[] _values;
    private readonly Dictionary<string, Dictionary<long, KvResult>> _sessions = new(StringComparer.Ordinal);

    public KvStore(int keys) => _values = new string?[keys];

    public KvResult Apply(LogEntry entry, IReadOnlyList<KvCommand> commands)
    {
        if (entry.Command is not { } command)
            return default; // a leader's no-op
        Dictionary<long, KvResult>? session = null;
        if (command.ClientId is { } clientId)
        {
            if (!_sessions.TryGetValue(clientId, out session))
                _sessions[clientId] = session = new Dictionary<long, KvResult>();
            else if (session.TryGetValue(command.Sequence, out var first))
                return first;
        }

        var result = Execute(commands[CommandIds.Read(command)]);
        session?.Add(command.Sequence, result);
        return result;
    }

    public string? Read(int key) => _values[key];

    private KvResult Execute(KvCommand command)
    {
        switch (command.Kind)
        {
            case KvKind.Put:
                _values[command.Key] = command.Value;
                return new KvResult(true, null);
            case KvKind.Delete:
                _values[command.Key] = null;
                return new KvResult(true, null);
            case KvKind.CompareAndSet:
                var current = _values[command.Key];
                if (current != command.Expected)
                    return new KvResult(false, current);
                _values[command.Key] = command.Value;
                return new KvResult(true, null);
            default:
                throw new InvalidOperationException($"{command.Kind} is not a log command");
        }
    }
}

/// <summary>Log entries carry a command's number in the run's command table, as 4 bytes.</summary>
internal static class CommandIds
{
    public static EntryCommand Entry(int commandId, string clientId, long sequence) =>
        new(serializerId: 0, "kv", BitConverter.GetBytes(commandId), clientId, sequence);

    public static int Read(EntryCommand command) => BitConverter.ToInt32(command.Data);

    /// <summary>The command number of an entry, -1 for a no-op.</summary>
    public static int Of(LogEntry entry) => entry.Command is { } command ? Read(command) : -1;
}

/// <summary>A client's request to a node: the operation, and which attempt of it this is.</summary>
internal sealed record ClientRequest(int Client, long OperationId, int CommandId, KvCommand Command, EntryCommand? Entry);

internal enum ReplyKind : byte
{
    /// <summary>Committed and applied (or read): <see cref="ClientReply.Result"/> is the answer.</summary>
    Done,

    /// <summary>Certainly not done: this node does not lead; <see cref="ClientReply.LeaderHint"/> may say who does.</summary>
    NotLeader,

    /// <summary>The node lost leadership after the command entered its log: it may still commit.</summary>
    OutcomeUnknown,
}

internal sealed record ClientReply(int Client, long OperationId, ReplyKind Kind, KvResult Result = default, int LeaderHint = -1);
