using System.Text;
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
/// replicated like any serialized command. A snapshot of it is its values and sessions in a
/// deterministic serialization (<see cref="Serialize"/>, <see cref="Restore"/>): equal states give
/// equal bytes.
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

    /// <summary>The state as snapshot content: the values, then the sessions in client and sequence order.</summary>
    public byte[] Serialize()
    {
        using var buffer = new MemoryStream();
        using (var writer = new BinaryWriter(buffer, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write7BitEncodedInt(_values.Length);
            foreach (var value in _values)
                WriteString(writer, value);
            writer.Write7BitEncodedInt(_sessions.Count);
            foreach (var (clientId, session) in _sessions.OrderBy(s => s.Key, StringComparer.Ordinal))
            {
                writer.Write(clientId);
                writer.Write7BitEncodedInt(session.Count);
                foreach (var (sequence, result) in session.OrderBy(r => r.Key))
                {
                    writer.Write7BitEncodedInt64(sequence);
                    writer.Write(result.Ok);
                    WriteString(writer, result.Value);
                }
            }
        }

        return buffer.ToArray();
    }

    /// <summary>A store in the state a snapshot's content holds.</summary>
    public static KvStore Restore(byte[] content)
    {
        using var reader = new BinaryReader(new MemoryStream(content, writable: false), Encoding.UTF8);
        var store = new KvStore(reader.Read7BitEncodedInt());
        for (var key = 0; key < store._values.Length; key++)
            store._values[key] = ReadString(reader);
        var sessions = reader.Read7BitEncodedInt();
        for (var i = 0; i < sessions; i++)
        {
            var session = store._sessions[reader.ReadString()] = new Dictionary<long, KvResult>();
            var results = reader.Read7BitEncodedInt();
            for (var j = 0; j < results; j++)
            {
                var sequence = reader.Read7BitEncodedInt64();
                var ok = reader.ReadBoolean();
                session[sequence] = new KvResult(ok, ReadString(reader));
            }
        }

        if (reader.BaseStream.Position != content.Length)
            throw new InvalidDataException($"{content.Length - reader.BaseStream.Position} bytes after the key-value store's snapshot");
        return store;
    }

    private static void WriteString(BinaryWriter writer, string? value)
    {
        writer.Write(value is not null);
        if (value is not null)
            writer.Write(value);
    }

    private static string? ReadString(BinaryReader reader) => reader.ReadBoolean() ? reader.ReadString() : null;

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

/// <summary>What waits at a node for an answer: a client's operation, or the operator's membership request.</summary>
internal abstract record NodeRequest;

/// <summary>A client's request to a node: the operation, and which attempt of it this is.</summary>
internal sealed record ClientRequest(int Client, long OperationId, int CommandId, KvCommand Command, EntryCommand? Entry) : NodeRequest;

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
