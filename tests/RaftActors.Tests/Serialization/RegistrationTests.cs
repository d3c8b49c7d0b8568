using Akka.Actor;
using Akka.Configuration;
using RaftActors.Configuration;
using RaftActors.Messages;
using RaftActors.Node;
using RaftActors.Serialization;
using RaftActors.Storage;

namespace RaftActors.Tests.Serialization;

/// <summary>
/// The two ways the Raft serializers get into an ActorSystem: a RaftNode loads
/// <see cref="RaftExtension"/> by itself (no configuration by hand), and an application that
/// loads the embedded reference.conf gets serializers, bindings and the extension from HOCON.
/// </summary>
public sealed class RegistrationTests
{
    [Fact]
    public async Task Starting_a_RaftNode_registers_the_serializers_in_a_system_configured_for_nothing()
    {
        var system = ActorSystem.Create("node", "akka.loglevel = WARNING\nakka.stdout-loglevel = WARNING");
        try
        {
            Assert.False(system.HasExtension<RaftExtension>());
            var self = new RaftMember("n1", new RootActorPath(((ExtendedActorSystem)system).Provider.DefaultAddress) / "user" / "raft");
            var node = system.ActorOf(RaftNode.Props(RaftMembership.Create("n1", [self]), RaftSettings.Default, new InMemoryRaftStorage()), "raft");

            await node.Ask<RaftStatus>(GetRaftStatus.Instance, TimeSpan.FromSeconds(5)); // the constructor has run

            Assert.True(system.HasExtension<RaftExtension>());
            Assert.IsType<RaftProtocolSerializer>(system.Serialization.FindSerializerFor(new AppendEntries(1, "n1", 0, 0, [], 0)));
            Assert.IsType<RaftProtocolSerializer>(system.Serialization.FindSerializerFor(new NotLeader(null, null)));
        }
        finally
        {
            await system.Terminate();
        }
    }

    [Fact]
    public async Task Loading_reference_conf_registers_the_serializers_and_the_extension_as_the_system_starts()
    {
        var config = ConfigurationFactory.ParseString("""
            akka.loglevel = WARNING
            akka.stdout-loglevel = WARNING
            akka.actor.serialization-bindings { "RaftActors.Tests.Serialization.Allowed.Deposit, RaftActors.Tests" = raft-hyperion }
            raft.serialization.allowed-command-types = [ "RaftActors.Tests.Serialization.Allowed.*, RaftActors.Tests" ]
            """).WithFallback(RaftSettings.DefaultConfig);
        var system = ActorSystem.Create("configured", config);
        try
        {
            Assert.True(system.HasExtension<RaftExtension>()); // akka.extensions of reference.conf
            Assert.Equal(
                RaftProtocolSerializer.SerializerId,
                system.Settings.Config.GetInt("akka.actor.serialization-identifiers.\"RaftActors.Serialization.RaftProtocolSerializer, RaftActors\""));
            Assert.Equal(
                RaftCommandSerializer.SerializerId,
                system.Settings.Config.GetInt("akka.actor.serialization-identifiers.\"RaftActors.Serialization.RaftCommandSerializer, RaftActors\""));
            foreach (var type in RaftProtocolSerializer.Manifests.Keys)
                Assert.IsType<RaftProtocolSerializer>(system.Serialization.FindSerializerForType(type));
            Assert.IsType<RaftCommandSerializer>(system.Serialization.FindSerializerForType(typeof(Allowed.Deposit)));
        }
        finally
        {
            await system.Terminate();
        }
    }

    [Fact]
    public void The_serializer_identifiers_are_in_the_user_range_and_distinct()
    {
        Assert.Equal(9571, RaftProtocolSerializer.SerializerId);
        Assert.Equal(9572, RaftCommandSerializer.SerializerId);
    }
}
