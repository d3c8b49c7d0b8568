namespace RaftActors.Server.KeyValue;

/// <summary>
/// Every command, query and result of the key-value store. They travel in log entries and
/// between nodes, so each is a plain record bound to <see cref="KvSerializer"/>: a compact
/// binary form that instantiates nothing but these types.
/// </summary>
public interface IKvMessage;

/// <summary>A command of the replicated key-value store.</summary>
public interface IKvCommand : IKvMessage
{
    string Key { get; }
}

/// <summary>Sets <see cref="Key"/> to <see cref="Value"/>. Result: null.</summary>
public sealed record Put(string Key, string Value) : IKvCommand;

/// <summary>Removes <see cref="Key"/>. Result: <see cref="DeleteResult"/>.</summary>
public sealed record Delete(string Key) : IKvCommand;

/// <summary>
/// Sets <see cref="Key"/> to <see cref="Value"/> only if its value is <see cref="Expected"/>
/// (null: only if the key is absent). Result: <see cref="CasResult"/>.
/// </summary>
public sealed record Cas(string Key, string? Expected, string Value) : IKvCommand;

/// <summary>Reads <see cref="Key"/>. Result: <see cref="GetResult"/>.</summary>
public sealed record Get(string Key) : IKvMessage;

/// <summary>Whether the deleted key was there.</summary>
public sealed record DeleteResult(bool Existed) : IKvMessage;

/// <summary>Whether the swap happened, and the key's value after the command (null: absent).</summary>
public sealed record CasResult(bool Ok, string? Current) : IKvMessage;

/// <summary>A key's value, null when the key is absent.</summary>
public sealed record GetResult(string? Value) : IKvMessage;
