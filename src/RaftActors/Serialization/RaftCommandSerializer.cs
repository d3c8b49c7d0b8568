using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Configuration;
using Akka.Serialization;
using RaftActors.Configuration;

namespace RaftActors.Serialization;

/// <summary>
/// Hyperion for users' commands, queries and results, restricted to an allow-list of types:
/// bind a command type to it (<c>akka.actor.serialization-bindings { "MyApp.ICommand, MyApp" = raft-hyperion }</c>)
/// and list what it may instantiate in <c>raft.serialization.allowed-command-types</c>.
/// </summary>
/// <remarks>
/// <para>Identifier <see cref="SerializerId"/> (9572), name <see cref="SerializerName"/> ("raft-hyperion"). Hyperion
/// writes type names into its bytes and, unrestricted, would create any type those names say —
/// the classic deserialization attack. Here Hyperion's <c>disallow-unsafe-type</c> is always on and
/// its type filter is a <see cref="CommandTypeAllowList"/>: every type name in the bytes, nested
/// ones included, must be allowed, or deserialization fails with a
/// <see cref="SerializationException"/> before the type is loaded. With no pattern configured
/// only the framework's plain data types are accepted, so the safe setting is the default.</para>
/// <para>Serializing an object whose own type is not allowed fails at once, on the node that
/// accepts the command, rather than on every node that later applies it.</para>
/// <para>The other Hyperion options (<c>preserve-object-references</c>, <c>version-tolerance</c>,
/// <c>known-types-provider</c>, <c>surrogates</c>, <c>cross-platform-package-name-overrides</c>) are read from
/// <c>raft.serialization.hyperion</c>, over Hyperion's own defaults.</para>
/// </remarks>
public sealed class RaftCommandSerializer : HyperionSerializer
{
    /// <summary>This serializer's identifier on the wire and in the log.</summary>
    public const int SerializerId = 9572;

    /// <summary>This serializer's name in <c>akka.actor.serializers</c>, for serialization bindings.</summary>
    public const string SerializerName = "raft-hyperion";

    /// <summary>Reads <c>raft.serialization</c> from the system's configuration (the embedded defaults beneath it).</summary>
    public RaftCommandSerializer(ExtendedActorSystem system)
        : this(system, ReadAllowList(system), ReadHyperionSettings(system))
    {
    }

    /// <summary>Built with the given allow-list; the other Hyperion options from the system's configuration.</summary>
    public RaftCommandSerializer(ExtendedActorSystem system, CommandTypeAllowList allowList)
        : this(system, allowList, ReadHyperionSettings(system))
    {
    }

    /// <summary>
    /// What Akka calls when <c>akka.actor.serialization-settings.raft-hyperion</c> exists: that section
    /// gives the Hyperion options (over Hyperion's defaults); the allow-list still comes from
    /// <c>raft.serialization.allowed-command-types</c>.
    /// </summary>
    public RaftCommandSerializer(ExtendedActorSystem system, Config hyperionOptions)
        : this(system, ReadAllowList(system), ReadHyperionSettings(hyperionOptions, "akka.actor.serialization-settings.raft-hyperion"))
    {
    }

    private RaftCommandSerializer(ExtendedActorSystem system, CommandTypeAllowList allowList, HyperionSerializerSettings settings)
        : base(system, settings.WithDisallowUnsafeType(true).WithTypeFilter(allowList))
    {
        AllowList = allowList;
    }

    /// <summary>The types this serializer will instantiate.</summary>
    public CommandTypeAllowList AllowList { get; }

    public override int Identifier => SerializerId;

    public override byte[] ToBinary(object obj)
    {
        if (obj is not null && !AllowList.IsAllowed(obj.GetType()))
            throw new SerializationException(
                $"{obj.GetType().FullName}, {obj.GetType().Assembly.GetName().Name} is not an allowed command type: add it (or its namespace) " +
                $"to {CommandTypeAllowList.ConfigKey}, or the nodes will refuse to deserialize it (allowed now: {AllowList})");
        return base.ToBinary(obj!);
    }

    public override object FromBinary(byte[] bytes, Type type)
    {
        try
        {
            return base.FromBinary(bytes, type);
        }
        catch (SerializationException e) when (IsRefusedType(e))
        {
            throw new SerializationException(
                $"{SerializerName} refused to instantiate a type that {CommandTypeAllowList.ConfigKey} does not allow ({AllowList}): {e.Message}", e);
        }
    }

    private static bool IsRefusedType(Exception e)
    {
        for (var cause = e.InnerException; cause is not null; cause = cause.InnerException)
            if (cause.GetType().Name.Contains("EvilDeserialization", StringComparison.Ordinal))
                return true;
        return false;
    }

    private static Config RaftConfig(ExtendedActorSystem system) => system.Settings.Config.WithFallback(RaftSettings.DefaultConfig);

    internal static CommandTypeAllowList ReadAllowList(ExtendedActorSystem system) =>
        new(HoconReader.Read(RaftConfig(system), CommandTypeAllowList.ConfigKey, c => c.GetStringList(CommandTypeAllowList.ConfigKey)));

    private static HyperionSerializerSettings ReadHyperionSettings(ExtendedActorSystem system)
    {
        const string key = "raft.serialization.hyperion";
        return ReadHyperionSettings(RaftConfig(system).GetConfig(key), key);
    }

    private static HyperionSerializerSettings ReadHyperionSettings(Config? options, string key)
    {
        var hyperionDefaults = DefaultConfiguration().GetConfig("akka.actor.serialization-settings.hyperion");
        return HoconReader.Read(
            hyperionDefaults,
            key,
            defaults => HyperionSerializerSettings.Create(options is null || options.IsEmpty ? defaults : options.WithFallback(defaults)));
    }
}
