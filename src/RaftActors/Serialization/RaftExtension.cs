using Akka.Actor;
using Akka.Event;
using RaftActors.Configuration;

namespace RaftActors.Serialization;

/// <summary>
/// What a Raft node needs from its ActorSystem, set up once per system: the embedded defaults
/// (reference.conf) injected beneath the application's configuration, and the Raft serializers
/// registered and bound. Every <c>RaftNode</c> loads it, so an application adds no configuration
/// by hand; <c>RaftExtension.Get(system)</c> loads it earlier, e.g. before any message can arrive.
/// </summary>
/// <remarks>
/// <para>Akka reads <c>akka.actor.serializers</c> and <c>serialization-bindings</c> once, when the
/// ActorSystem starts, so configuration injected later with
/// <see cref="Settings.InjectTopLevelFallback"/> does not register a serializer. This extension
/// therefore registers them through the public API, <see cref="Akka.Serialization.Serialization.AddSerializer(string, Akka.Serialization.Serializer)"/>
/// and <see cref="Akka.Serialization.Serialization.AddSerializationMap"/>:</para>
/// <list type="bullet">
/// <item><see cref="RaftProtocolSerializer"/> ("raft-protocol", id 9571), bound to each message type it handles
/// (exact types, so they win over any broader binding such as <c>System.Object</c>);</item>
/// <item><see cref="RaftCommandSerializer"/> ("raft-hyperion", id 9572), bound to every type that
/// <c>akka.actor.serialization-bindings</c> assigns to "raft-hyperion" (Akka skipped those bindings at
/// start-up, with a warning, if the serializer was not configured then).</item>
/// </list>
/// <para>An application that loads the embedded reference.conf as a fallback of its own
/// configuration (<c>config.WithFallback(RaftSettings.DefaultConfig)</c>) gets the same serializers,
/// bindings and identifiers from HOCON, and <c>akka.extensions</c> loads this extension as the
/// system starts.</para>
/// </remarks>
public sealed class RaftExtension : IExtension
{
    internal RaftExtension(ExtendedActorSystem system)
    {
        system.Settings.InjectTopLevelFallback(RaftSettings.DefaultConfig);
        var scheduler = system.Scheduler;
        MonotonicClock = () => (long)scheduler.MonotonicClock.TotalMilliseconds;
        var serialization = system.Serialization;

        ProtocolSerializer = new RaftProtocolSerializer(system);
        serialization.AddSerializer(RaftProtocolSerializer.SerializerName, ProtocolSerializer);
        foreach (var type in RaftProtocolSerializer.BoundTypes)
            serialization.AddSerializationMap(type, ProtocolSerializer);

        CommandSerializer = new RaftCommandSerializer(system);
        serialization.AddSerializer(RaftCommandSerializer.SerializerName, CommandSerializer);
        var bound = new List<Type>();
        foreach (var (typeName, serializerName) in system.Settings.Config.GetConfig("akka.actor.serialization-bindings").AsEnumerable())
        {
            if (serializerName.GetString() != RaftCommandSerializer.SerializerName)
                continue;
            if (Type.GetType(typeName) is { } type)
            {
                serialization.AddSerializationMap(type, CommandSerializer);
                bound.Add(type);
            }
            else
            {
                system.Log.Warning("akka.actor.serialization-bindings: '{0}' (bound to {1}) is not a type this process can load", typeName, RaftCommandSerializer.SerializerName);
            }
        }

        CommandTypes = bound;
        if (system.Log.IsDebugEnabled)
            system.Log.Debug("Raft serializers registered: {0} for {1} message types; {2} for {3} (allowed: {4})",
                RaftProtocolSerializer.SerializerName, RaftProtocolSerializer.BoundTypes.Count, RaftCommandSerializer.SerializerName,
                bound.Count == 0 ? "no type yet" : string.Join(", ", bound.Select(t => t.FullName)), CommandSerializer.AllowList);
    }

    /// <summary>The binary serializer of the Raft protocol and client messages registered in this system.</summary>
    public RaftProtocolSerializer ProtocolSerializer { get; }

    /// <summary>
    /// The clock, in milliseconds from any origin, by whose elapsed time this system's leaders
    /// advance cluster time (<c>RaftProtocol.MonotonicClock</c>): the scheduler's monotonic clock.
    /// Tests in virtual time set it to the virtual clock (Akka's TestScheduler advances its
    /// <c>Now</c> only; its monotonic clock is the real one).
    /// </summary>
    internal Func<long> MonotonicClock { get; set; }

    /// <summary>The allow-listed Hyperion serializer registered in this system.</summary>
    public RaftCommandSerializer CommandSerializer { get; }

    /// <summary>The types bound to <see cref="CommandSerializer"/> from <c>akka.actor.serialization-bindings</c>.</summary>
    public IReadOnlyList<Type> CommandTypes { get; }

    /// <summary>The extension of <paramref name="system"/>, loading it on first use.</summary>
    public static RaftExtension Get(ActorSystem system) => system.WithExtension<RaftExtension, RaftExtensionProvider>();
}

/// <summary>Creates the <see cref="RaftExtension"/>; named in <c>akka.extensions</c> of reference.conf.</summary>
public sealed class RaftExtensionProvider : ExtensionIdProvider<RaftExtension>
{
    public override RaftExtension CreateExtension(ExtendedActorSystem system) => new(system);
}
