using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Configuration;
using Akka.Serialization;
using Akka.Util;
using Newtonsoft.Json;
using Newtonsoft.Json.Serialization;

namespace RaftActors.Serialization;

/// <summary>
/// Akka's JSON serializer (the fallback for every type bound to nothing else) restricted to the
/// types of <c>raft.serialization.allowed-command-types</c>. Akka's own instantiates whatever type
/// a <c>$type</c> in the bytes names — any type the process can load, the classic
/// deserialization attack — and a peer chooses those bytes. This one writes the same JSON, under
/// the same name ("json") and identifier (1), so it interoperates with Akka's; reading, it
/// refuses every type name that is not allowed before Json.NET loads it.
/// </summary>
/// <remarks>
/// <para>Allowed: the <see cref="CommandTypeAllowList"/> (framework types and the configured
/// patterns), and Akka's own surrogates (how Akka's JSON carries actor references and paths).
/// RaftActors' reference.conf binds it as <c>akka.actor.serializers.json</c>, so it takes Akka's
/// place in an ActorSystem created with that file as a fallback (the server's is), and in any other
/// as soon as <see cref="RaftExtension"/> loads (every RaftNode loads it): Akka reloads its
/// serializers when the extension injects that file beneath the system's configuration. Generic
/// arguments must be allowed too: a message type bound to nothing that carries an
/// <c>IActorRef</c> as a generic argument needs <c>"Akka.Actor.IActorRef, Akka"</c> in the list.</para>
/// </remarks>
public sealed class AllowListJsonSerializer : Serializer
{
    /// <summary>The identifier of Akka's JSON serializer, which this one replaces on the wire.</summary>
    public const int SerializerId = 1;

    /// <summary>The name Akka binds <c>System.Object</c> to.</summary>
    public const string SerializerName = "json";

    private readonly NewtonSoftJsonSerializer _json;

    public AllowListJsonSerializer(ExtendedActorSystem system)
        : this(system, new NewtonSoftJsonSerializer(system))
    {
    }

    /// <summary>What Akka calls when <c>akka.actor.serialization-settings.json</c> exists (Akka's defaults have it): Json.NET's options.</summary>
    public AllowListJsonSerializer(ExtendedActorSystem system, Config settings)
        : this(system, new NewtonSoftJsonSerializer(system, settings))
    {
    }

    private AllowListJsonSerializer(ExtendedActorSystem system, NewtonSoftJsonSerializer json)
        : base(system)
    {
        AllowList = RaftCommandSerializer.ReadAllowList(system);
        _json = json;
        var binder = new AllowListBinder(AllowList);
        _json.Settings.SerializationBinder = binder;
        ((JsonSerializer)_json.Serializer).SerializationBinder = binder; // the copy Akka made of the settings, used for untyped objects
    }

    /// <summary>The types this serializer will instantiate (Akka's surrogates besides).</summary>
    public CommandTypeAllowList AllowList { get; }

    public override int Identifier => SerializerId;

    public override bool IncludeManifest => _json.IncludeManifest;

    /// <summary>
    /// Writes Akka's JSON, refusing a type it would refuse to read: a command of such a type is then
    /// refused when it is proposed, rather than committed to a log no node can apply.
    /// </summary>
    public override byte[] ToBinary(object obj)
    {
        try
        {
            return _json.ToBinary(obj);
        }
        catch (TypeRefusedException refused)
        {
            throw Refused(refused.TypeName, refused);
        }
    }

    public override object FromBinary(byte[] bytes, Type type)
    {
        if (type is not null && !IsAllowed(type))
            throw Refused(type.AssemblyQualifiedName ?? type.FullName ?? type.Name);
        try
        {
            return _json.FromBinary(bytes, type!);
        }
        catch (JsonException e)
        {
            throw e.InnerException is TypeRefusedException refused
                ? Refused(refused.TypeName, e)
                : new SerializationException($"{SerializerName} ({nameof(AllowListJsonSerializer)}): the bytes are not a JSON message: {e.Message}", e);
        }
    }

    private bool IsAllowed(Type type) => AllowList.IsAllowed(type) || IsAkkaSurrogate(type);

    private static bool IsAkkaSurrogate(Type type) => type.Assembly == typeof(ISurrogate).Assembly && typeof(ISurrogate).IsAssignableFrom(type);

    private SerializationException Refused(string typeName, Exception? cause = null) => new(
        $"{SerializerName} ({nameof(AllowListJsonSerializer)}) refused '{typeName}': not a type that {CommandTypeAllowList.ConfigKey} " +
        $"allows ({AllowList}), so no node would create it from bytes. Bind your message types to a serializer of their own, or allow them there",
        cause);

    /// <summary>Checks each type name Json.NET meets before it loads the type.</summary>
    private sealed class AllowListBinder(CommandTypeAllowList allowList) : ISerializationBinder
    {
        private static readonly string AkkaAssembly = typeof(ISurrogate).Assembly.GetName().Name!;
        private readonly DefaultSerializationBinder _default = new();

        public Type BindToType(string? assemblyName, string typeName)
        {
            var name = assemblyName is null ? typeName : $"{typeName}, {assemblyName}";
            if (allowList.IsAllowed(name))
                return _default.BindToType(assemblyName, typeName);
            // Only Akka's own assembly is loaded from to look for a surrogate.
            if (assemblyName is not null && assemblyName.Split(',')[0].Trim() == AkkaAssembly &&
                _default.BindToType(assemblyName, typeName) is { } type && IsAkkaSurrogate(type))
                return type;
            throw new TypeRefusedException(name);
        }

        public void BindToName(Type serializedType, out string? assemblyName, out string? typeName)
        {
            _default.BindToName(serializedType, out assemblyName, out typeName);
            if (!allowList.IsAllowed(serializedType) && !IsAkkaSurrogate(serializedType))
                throw new TypeRefusedException(serializedType.AssemblyQualifiedName ?? serializedType.FullName ?? serializedType.Name);
        }
    }

    private sealed class TypeRefusedException(string typeName) : Exception($"type '{typeName}' is not allowed")
    {
        public string TypeName { get; } = typeName;
    }
}
