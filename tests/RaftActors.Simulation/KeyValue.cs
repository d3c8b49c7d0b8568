using System.Runtime.Serialization;
using System.Text;
using RaftActors.Configuration;
using RaftActors.Core;
using RaftActors.Messages;
using RaftActors.Serialization;
using RaftActors.StateMachine;

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
/// The key-value state machine each node applies committed commands to, the library's
/// <see cref="ISnapshotStateMachine"/> as users write one: a command is a <see cref="KvCommand"/>,
/// its result a <see cref="KvResult"/>, its snapshot the values in a deterministic serialization
/// (equal states give equal bytes). Client sessions are not its business: the node's
/// <see cref="KvReplica"/> keeps them, as RaftNode's applier does.
/// </summary>
internal sealed class KvStore(int keys) : ISnapshotStateMachine
{
    private string?[] _values = new string?[keys];

    public string? Read(int key) => _values[key];

    public object Apply(long index, object command)
    {
        var kv = (KvCommand)command;
        switch (kv.Kind)
        {
            case KvKind.Put:
                _values[kv.Key] = kv.Value;
                return new KvResult(true, null);
            case KvKind.Delete:
                _values[kv.Key] = null;
                return new KvResult(true, null);
            case KvKind.CompareAndSet:
                var current = _values[kv.Key];
                if (current != kv.Expected)
                    return new KvResult(false, current);
                _values[kv.Key] = kv.Value;
                return new KvResult(true, null);
            default:
                throw new InvalidOperationException($"{kv.Kind} is not a log command");
        }
    }

    public object? Query(object query) => Read((int)query);

    /// <summary>The values: their count, then each as whether it is set and its text.</summary>
    public Task WriteSnapshotAsync(Stream destination, CancellationToken cancellationToken)
    {
        using var writer = new BinaryWriter(destination, Encoding.UTF8, leaveOpen: true);
        writer.Write7BitEncodedInt(_values.Length);
        foreach (var value in _values)
        {
            writer.Write(value is not null);
            if (value is not null)
                writer.Write(value);
        }

        return Task.CompletedTask;
    }

    public Task RestoreAsync(Stream source, CancellationToken cancellationToken)
    {
        using var reader = new BinaryReader(source, Encoding.UTF8, leaveOpen: true);
        var values = new string?[reader.Read7BitEncodedInt()];
        for (var key = 0; key < values.Length; key++)
            values[key] = reader.ReadBoolean() ? reader.ReadString() : null;
        if (source.Position != source.Length)
            throw new InvalidDataException($"{source.Length - source.Position} bytes after the key-value store's snapshot");
        _values = values;
        return Task.CompletedTask;
    }
}

/// <summary>
/// A node's replicated state as RaftNode's applier keeps it, with the library's own parts: the
/// <see cref="KvStore"/>, and an <see cref="AppliedState"/> that decides which entries to apply,
/// keeps the client sessions (<see cref="ClientSessions"/>: a retry answered with its first
/// result, the last 64 results per client, sessions expired and evicted by the policy and the
/// time stamps the log carries) and says when a snapshot is due. Its snapshot content is a
/// node's (<see cref="SnapshotContent"/>: the sessions, then the store's values).
/// </summary>
internal sealed class KvReplica
{
    private readonly IReadOnlyList<KvCommand> _commands;

    /// <param name="commands">The run's command table, which log entries refer to by number.</param>
    /// <param name="configuration">The configuration in force before the first entry.</param>
    /// <param name="snapshots">When a snapshot is due.</param>
    public KvReplica(int keys, IReadOnlyList<KvCommand> commands, ClusterConfiguration configuration, SnapshotSettings snapshots)
    {
        _commands = commands;
        Store = new KvStore(keys);
        Applied = new AppliedState(configuration, snapshots.IsDue);
    }

    public KvStore Store { get; }

    public AppliedState Applied { get; }

    /// <summary>Applies a committed entry as the applier does (<see cref="AppliedState.Apply"/>); its command's answer, null for none.</summary>
    public bool Apply(LogEntry entry, out IClientReply? reply) =>
        Applied.Apply(entry, (index, command) => new CommandApplied(index, Store.Apply(index, _commands[CommandIds.Read(command)])), out reply);

    /// <summary>The state as a snapshot's content: the sessions and the values, as a node writes them.</summary>
    public byte[] SnapshotContent()
    {
        using var content = new MemoryStream();
        RaftActors.StateMachine.SnapshotContent.WriteAsync(content, Applied.Sessions, KvReplyFormat.Instance, Store, CancellationToken.None).GetAwaiter().GetResult();
        return content.ToArray();
    }

    /// <summary>Takes the state a snapshot's content holds (Figure 13, rule 8).</summary>
    /// <exception cref="SerializationException">The content is not a node's snapshot.</exception>
    /// <exception cref="InvalidDataException">The store's part is not a store's snapshot.</exception>
    public void Restore(LogPosition snapshot, ClusterConfiguration configuration, Stream content)
    {
        var sessions = RaftActors.StateMachine.SnapshotContent.ReadSessionsAsync(content, KvReplyFormat.Instance, CancellationToken.None).GetAwaiter().GetResult();
        Store.RestoreAsync(content, CancellationToken.None).GetAwaiter().GetResult();
        Applied.Restored(snapshot, configuration, sessions);
    }
}

/// <summary>How the sessions of a <see cref="KvReplica"/> keep their results in a snapshot: the replies a key-value command gets.</summary>
internal sealed class KvReplyFormat : IClientReplyFormat
{
    public static readonly KvReplyFormat Instance = new();

    private const string Applied = "A";
    private const string Unknown = "U";
    private const string Expired = "E";

    public string Manifest(object o) => o switch
    {
        CommandApplied => Applied,
        CommandOutcomeUnknown => Unknown,
        SessionExpired => Expired,
        _ => throw new SerializationException($"{o.GetType()} is not a key-value command's reply"),
    };

    /// <summary>Every reply as three fields: an index, a flag and a text (an applied command's result; the others' index and reason).</summary>
    public byte[] ToBinary(object obj)
    {
        var (index, ok, text) = obj switch
        {
            CommandApplied { Result: KvResult result } applied => (applied.Index, result.Ok, result.Value),
            CommandOutcomeUnknown unknown => (0L, false, unknown.Reason),
            SessionExpired expired => (expired.Index, false, expired.Reason),
            _ => throw new SerializationException($"{obj} is not a key-value command's reply"),
        };
        var w = new WireWriter();
        w.Long(index);
        w.Bool(ok);
        w.String(text, "text");
        return w.ToArray();
    }

    public object FromBinary(byte[] bytes, string manifest)
    {
        var r = new WireReader(bytes, "a key-value command's reply");
        var index = r.Long("index");
        var ok = r.Bool("ok");
        var text = r.String("text");
        r.End();
        return manifest switch
        {
            Applied => new CommandApplied(index, new KvResult(ok, text)),
            Unknown => new CommandOutcomeUnknown(text ?? ""),
            Expired => new SessionExpired(index, text ?? ""),
            _ => throw new SerializationException($"'{manifest}' is not a key-value reply's manifest"),
        };
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

    /// <summary>Certainly not applied: the command's client session is unknown to the cluster (expired, evicted, or never opened).</summary>
    SessionExpired,

    /// <summary>Certainly not applied: the command would open a session, but the cluster's table is full of sessions too young to evict.</summary>
    TooManySessions,
}

internal sealed record ClientReply(int Client, long OperationId, ReplyKind Kind, KvResult Result = default, int LeaderHint = -1);
