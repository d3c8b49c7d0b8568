using System.Collections.Frozen;
using System.Reflection.Metadata;
using Hyperion;
using RaftActors.Configuration;

namespace RaftActors.Serialization;

/// <summary>
/// The types the Raft Hyperion serializer (<see cref="RaftCommandSerializer"/>) will instantiate
/// when it reads bytes from the network or the log: the patterns of
/// <c>raft.serialization.allowed-command-types</c> plus a fixed set of harmless framework types
/// (primitives, strings, Guid, dates, tuples, Nullable and the generic and immutable collections).
/// Anything else — above all the gadget types of deserialization attacks — is refused before
/// Hyperion loads it, so a peer cannot make a node create arbitrary objects.
/// </summary>
/// <remarks>
/// <para>A pattern is <c>"TypeName, Assembly"</c> (no version, culture or key: the assembly is matched by
/// simple name):</para>
/// <list type="bullet">
/// <item><c>"MyApp.Commands.Put, MyApp"</c> — that type (nested types are written <c>Outer+Inner</c>; a
/// generic type definition as <c>MyApp.Envelope`1</c>);</item>
/// <item><c>"MyApp.Commands.*, MyApp"</c> — every type whose full name starts with <c>MyApp.Commands.</c>
/// in assembly MyApp (sub-namespaces and nested types included);</item>
/// <item><c>"*, MyApp"</c> — every type of assembly MyApp.</item>
/// </list>
/// <para>A constructed generic type is allowed when its definition and every type argument are; an
/// array when its element type is. Pointers and by-refs never are. Type names are parsed with the
/// runtime's own parser (<see cref="TypeName"/>), the one <see cref="Type.GetType(string)"/> uses, so
/// what is checked is what would be loaded.</para>
/// </remarks>
public sealed class CommandTypeAllowList : ITypeFilter
{
    /// <summary>The HOCON key the patterns are read from.</summary>
    public const string ConfigKey = "raft.serialization.allowed-command-types";

    private const int MaxDepth = 32;

    // Assemblies that hold (or forward to) the framework types below; matched by simple name.
    private static readonly FrozenSet<string> FrameworkAssemblies = new[]
    {
        "System.Private.CoreLib", "mscorlib", "netstandard", "System.Runtime", "System.Collections", "System.Collections.Immutable",
    }.ToFrozenSet(StringComparer.Ordinal);

    // Plain data: creating one runs no code that an attacker could steer.
    private static readonly FrozenSet<string> FrameworkTypes = new[]
    {
        "System.Object", "System.Boolean", "System.Char", "System.SByte", "System.Byte", "System.Int16", "System.UInt16",
        "System.Int32", "System.UInt32", "System.Int64", "System.UInt64", "System.Int128", "System.UInt128", "System.Half",
        "System.Single", "System.Double", "System.Decimal", "System.String", "System.Guid", "System.DateTime",
        "System.DateTimeOffset", "System.TimeSpan", "System.DateOnly", "System.TimeOnly", "System.Nullable`1",
        "System.ValueTuple", "System.ValueTuple`1", "System.ValueTuple`2", "System.ValueTuple`3", "System.ValueTuple`4",
        "System.ValueTuple`5", "System.ValueTuple`6", "System.ValueTuple`7", "System.ValueTuple`8",
        "System.Tuple`1", "System.Tuple`2", "System.Tuple`3", "System.Tuple`4", "System.Tuple`5", "System.Tuple`6",
        "System.Tuple`7", "System.Tuple`8",
        "System.Collections.DictionaryEntry", "System.Collections.Generic.List`1", "System.Collections.Generic.Dictionary`2", "System.Collections.Generic.HashSet`1",
        "System.Collections.Generic.SortedDictionary`2", "System.Collections.Generic.SortedList`2",
        "System.Collections.Generic.SortedSet`1", "System.Collections.Generic.Queue`1", "System.Collections.Generic.Stack`1",
        "System.Collections.Generic.LinkedList`1", "System.Collections.Generic.KeyValuePair`2",
        "System.Collections.Immutable.ImmutableArray`1", "System.Collections.Immutable.ImmutableList`1",
        "System.Collections.Immutable.ImmutableDictionary`2", "System.Collections.Immutable.ImmutableHashSet`1",
        "System.Collections.Immutable.ImmutableSortedDictionary`2", "System.Collections.Immutable.ImmutableSortedSet`1",
        "System.Collections.Immutable.ImmutableQueue`1", "System.Collections.Immutable.ImmutableStack`1",
    }.ToFrozenSet(StringComparer.Ordinal);

    private static readonly TypeNameParseOptions ParseOptions = new() { MaxNodes = 64 };

    private readonly (string TypePattern, string Assembly)[] _patterns;

    /// <summary>An allow-list of the framework types and the given patterns.</summary>
    /// <exception cref="RaftConfigurationException">A pattern is not <c>"TypeName, Assembly"</c>.</exception>
    public CommandTypeAllowList(IEnumerable<string> patterns)
    {
        ArgumentNullException.ThrowIfNull(patterns);
        Patterns = patterns.ToArray();
        _patterns = Patterns.Select(Parse).ToArray();
    }

    /// <summary>The allow-list of the framework types alone: what a node accepts when no pattern is configured.</summary>
    public static CommandTypeAllowList FrameworkOnly { get; } = new([]);

    /// <summary>The configured patterns, as given.</summary>
    public IReadOnlyList<string> Patterns { get; }

    /// <summary>Whether Hyperion may load the type named <paramref name="typeName"/> as it appears on the wire.</summary>
    public bool IsAllowed(string typeName)
    {
        if (string.IsNullOrWhiteSpace(typeName))
            return false;
        // Hyperion writes the core library's version and key as the token ",%core%"; the name is what counts.
        var name = typeName.Replace(",%core%", "", StringComparison.Ordinal);
        return TypeName.TryParse(name.AsSpan(), out var parsed, ParseOptions) && IsAllowed(parsed, 0);
    }

    /// <summary>Whether <paramref name="type"/> (its generic arguments and element types included) is allowed.</summary>
    public bool IsAllowed(Type type)
    {
        ArgumentNullException.ThrowIfNull(type);
        return type.AssemblyQualifiedName is { } name && IsAllowed(name);
    }

    public override string ToString() =>
        Patterns.Count == 0 ? "framework types only" : "framework types and " + string.Join("; ", Patterns);

    private bool IsAllowed(TypeName type, int depth)
    {
        if (depth > MaxDepth || type.IsPointer || type.IsByRef)
            return false;
        if (type.IsArray)
            return IsAllowed(type.GetElementType(), depth + 1);
        if (type.IsConstructedGenericType)
            return IsAllowed(type.GetGenericTypeDefinition(), depth + 1) &&
                   type.GetGenericArguments().All(argument => IsAllowed(argument, depth + 1));

        var assembly = type.AssemblyName?.Name;
        var fullName = type.FullName;
        if (FrameworkTypes.Contains(fullName) && (assembly is null || FrameworkAssemblies.Contains(assembly)))
            return true;
        if (assembly is null)
            return false;
        foreach (var (pattern, patternAssembly) in _patterns)
        {
            if (!string.Equals(assembly, patternAssembly, StringComparison.OrdinalIgnoreCase))
                continue;
            if (pattern == "*")
                return true;
            if (pattern.EndsWith(".*", StringComparison.Ordinal)
                    ? fullName.StartsWith(pattern[..^1], StringComparison.Ordinal)
                    : fullName == pattern)
                return true;
        }

        return false;
    }

    private static (string, string) Parse(string pattern)
    {
        var parts = (pattern ?? "").Split(',', StringSplitOptions.TrimEntries);
        if (parts.Length != 2 || parts[0].Length == 0 || parts[1].Length == 0)
            throw new RaftConfigurationException(
                ConfigKey,
                $"'{pattern}' is not \"TypeName, Assembly\", \"Namespace.*, Assembly\" or \"*, Assembly\" (the assembly by simple name, without version)");
        var type = parts[0];
        var wildcardOk = type == "*" || !type.Contains('*') ||
                         (type.Length > 2 && type.EndsWith(".*", StringComparison.Ordinal) && !type[..^2].Contains('*'));
        if (!wildcardOk)
            throw new RaftConfigurationException(ConfigKey, $"'{pattern}': a '*' may only end a namespace (\"MyApp.Commands.*, MyApp\") or stand alone (\"*, MyApp\")");

        if (type.Contains('[') || type.Contains(']'))
            throw new RaftConfigurationException(ConfigKey, $"'{pattern}': name the generic type definition (\"MyApp.Envelope`1, MyApp\"); its arguments are checked on their own");
        return (type, parts[1]);
    }
}
