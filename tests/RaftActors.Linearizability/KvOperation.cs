using System.Globalization;
using System.Text;

namespace RaftActors.Linearizability;

public enum KvOperationKind
{
    Get,
    Put,
    Delete,
    CompareAndSet,
}

/// <summary>
/// One client operation on a key-value store as its client saw it: when it was invoked, when (and
/// whether) it returned, and what it answered. A process (client) has at most one operation
/// open at a time.
/// </summary>
/// <param name="Value">Put and CompareAndSet: the value written; otherwise null.</param>
/// <param name="Expected">CompareAndSet: the value the key must hold (null: the key must be absent).</param>
/// <param name="Call">When the client invoked it, on any monotonic clock shared by the whole history.</param>
/// <param name="Return">
/// When the client got its answer; null when the outcome is unknown (a timeout, a 504, a crash):
/// the operation may take effect at any point after its call, or never.
/// </param>
/// <param name="Output">The answer; null exactly when <paramref name="Return"/> is null.</param>
public sealed record KvOperation(
    int Process,
    KvOperationKind Kind,
    string Key,
    string? Value,
    string? Expected,
    long Call,
    long? Return,
    KvOutput? Output)
{
    public bool IsUnknown => Return is null;

    /// <summary>Throws an <see cref="ArgumentException"/> naming what is wrong with this operation, if anything.</summary>
    public void Validate()
    {
        string? problem = null;
        if (Key is null)
            problem = "it has no key";
        else if ((Return is null) != (Output is null))
            problem = "Output must be null exactly when Return is null (the outcome is unknown)";
        else if (Return < Call)
            problem = $"it returned ({Return}) before it was called ({Call})";
        else if (Kind is KvOperationKind.Put or KvOperationKind.CompareAndSet && Value is null)
            problem = $"a {Kind} needs the Value it writes";
        else if (Kind is KvOperationKind.Get or KvOperationKind.Delete && Value is not null)
            problem = $"a {Kind} writes no Value";
        else if (Kind != KvOperationKind.CompareAndSet && Expected is not null)
            problem = "only a CompareAndSet has an Expected value";
        else if (Output is { Ok: false } && Kind != KvOperationKind.CompareAndSet)
            problem = $"a {Kind} that returned succeeded (Ok = true); record one that certainly failed by leaving it out";
        else if (Output is { Value: not null } && Kind is KvOperationKind.Put or KvOperationKind.Delete)
            problem = $"a {Kind}'s output carries no value";
        else if (Output is { Ok: true, Value: not null } && Kind == KvOperationKind.CompareAndSet)
            problem = "a successful CompareAndSet's output carries no value";
        if (problem is not null)
            throw new ArgumentException($"malformed operation {this}: {problem}");
    }

    /// <summary>One line, e.g. <c>p3 cas "k" "a"->"b" = failed, was "c"  [120 .. 180]</c>.</summary>
    public override string ToString() => Describe(origin: 0);

    /// <summary>As <see cref="ToString"/>, with times relative to <paramref name="origin"/>.</summary>
    public string Describe(long origin)
    {
        var text = new StringBuilder();
        text.Append('p').Append(Process.ToString(CultureInfo.InvariantCulture)).Append(' ');
        text.Append(Kind switch
        {
            KvOperationKind.Get => $"get {Quote(Key)}",
            KvOperationKind.Put => $"put {Quote(Key)} {Quote(Value)}",
            KvOperationKind.Delete => $"delete {Quote(Key)}",
            _ => $"cas {Quote(Key)} {Quote(Expected)}->{Quote(Value)}",
        });
        text.Append(Output switch
        {
            null => " = unknown",
            _ when Kind == KvOperationKind.Get => $" = {Quote(Output.Value)}",
            _ when Kind != KvOperationKind.CompareAndSet => " = ok",
            { Ok: true } => " = swapped",
            _ => $" = failed, was {Quote(Output.Value)}",
        });
        text.Append("  [").Append((Call - origin).ToString(CultureInfo.InvariantCulture)).Append(" .. ");
        text.Append(Return is { } r ? (r - origin).ToString(CultureInfo.InvariantCulture) : "?").Append(']');
        return text.ToString();
    }

    /// <summary>A value as the checker prints it: quoted, or <c>absent</c> for null.</summary>
    internal static string Quote(string? value) => value is null ? "absent" : $"\"{value}\"";
}

/// <summary>
/// What an operation answered. Get: <see cref="Value"/> is the value read (null: absent), Ok =
/// true. Put and Delete: Ok = true. CompareAndSet: Ok = whether it swapped; when it did not,
/// <see cref="Value"/> is the current value it reported (null: absent).
/// </summary>
public sealed record KvOutput(bool Ok, string? Value);
