using System.Collections.Concurrent;
using System.Runtime.Serialization;
using System.Text;
using Akka.Actor;
using Akka.Configuration;
using Akka.Serialization;
using RaftActors.Configuration;
using RaftActors.Serialization;
using RaftActors.Tests.Serialization.Allowed;

namespace RaftActors.Tests.Serialization.Forbidden
{
    /// <summary>Stands for a gadget whose creation runs code: it records every one made, by name.</summary>
    public sealed class RecordingGadget
    {
        private string _name = "";

        public static ConcurrentDictionary<string, bool> Created { get; } = new();

        public string Name
        {
            get => _name;
            set
            {
                _name = value;
                Created[value] = true;
            }
        }
    }
}

namespace RaftActors.Tests.Serialization
{
    using RaftActors.Tests.Serialization.Forbidden;

    /// <summary>
    /// Akka's JSON fallback in a system with RaftActors' defaults: it reads and writes Akka's JSON
    /// but creates only the allowed types (and Akka's surrogates); a <c>$type</c> naming any other —
    /// at the top, nested, as a generic argument, or the type hint of the manifest — is refused
    /// before the object exists. Akka's own serializer, the control, creates it.
    /// </summary>
    public sealed class AllowListJsonSerializerTests : IDisposable
    {
        private static readonly string GadgetType = $"{typeof(RecordingGadget).FullName}, {typeof(RecordingGadget).Assembly.GetName().Name}";

        private readonly ActorSystem _system = ActorSystem.Create(
            "json",
            ConfigurationFactory.ParseString("""
                akka.loglevel = WARNING
                akka.stdout-loglevel = WARNING
                raft.serialization.allowed-command-types = [ "RaftActors.Tests.Serialization.Allowed.*, RaftActors.Tests" ]
                """).WithFallback(RaftSettings.DefaultConfig));

        public void Dispose() => _system.Terminate().Wait(TimeSpan.FromSeconds(10));

        /// <summary>JSON a peer could send, each naming the gadget somewhere, with a name unique to the case.</summary>
        public static TheoryData<string, string> HostilePayloads() => new()
        {
            { "at the top", """{"$type":"GADGET","Name":"NAME"}""" },
            { "nested in an allowed list", """{"$type":"System.Collections.Generic.List`1[[System.Object, System.Private.CoreLib]], System.Private.CoreLib","$values":[{"$type":"GADGET","Name":"NAME"}]}""" },
            { "as a generic argument", """{"$type":"System.Collections.Generic.List`1[[GADGET]], System.Private.CoreLib","$values":[{"Name":"NAME"}]}""" },
            { "in an allowed command's object field", """{"$type":"RaftActors.Tests.Serialization.Allowed.Envelope`1[[System.Object, System.Private.CoreLib]], RaftActors.Tests","Inner":{"$type":"GADGET","Name":"NAME"}}""" },
        };

        [Fact]
        public void The_systems_JSON_fallback_is_the_allow_listed_one()
        {
            Assert.IsType<AllowListJsonSerializer>(_system.Serialization.FindSerializerForType(typeof(object)));
        }

        [Theory]
        [MemberData(nameof(HostilePayloads))]
        public void A_type_that_is_not_allowed_is_not_created_wherever_the_JSON_names_it(string where, string template)
        {
            var name = Guid.NewGuid().ToString("N");
            var bytes = Encoding.UTF8.GetBytes(template.Replace("GADGET", GadgetType, StringComparison.Ordinal).Replace("NAME", name, StringComparison.Ordinal));

            var e = Assert.Throws<SerializationException>(() => _system.Serialization.Deserialize(bytes, AllowListJsonSerializer.SerializerId, ""));

            Assert.Contains("refused", e.Message);
            Assert.False(RecordingGadget.Created.ContainsKey(name), $"{where}: the gadget was created");
        }

        [Fact]
        public void A_type_that_is_not_allowed_is_refused_when_written_so_a_node_rejects_such_a_command_rather_than_commit_it()
        {
            var serializer = _system.Serialization.FindSerializerForType(typeof(object));

            var e = Assert.Throws<SerializationException>(() => serializer.ToBinary(new RecordingGadget { Name = "outbound" }));
            Assert.Contains(typeof(RecordingGadget).FullName!, e.Message);
            Assert.Throws<SerializationException>(() => serializer.ToBinary(new List<object> { "fine", new RecordingGadget { Name = "nested" } }));
        }

        [Fact]
        public void A_type_hint_that_is_not_allowed_is_refused()
        {
            var name = Guid.NewGuid().ToString("N");
            var bytes = Encoding.UTF8.GetBytes($$"""{"Name":"{{name}}"}""");

            Assert.Throws<SerializationException>(() => _system.Serialization.Deserialize(bytes, AllowListJsonSerializer.SerializerId, typeof(RecordingGadget).AssemblyQualifiedName));

            Assert.False(RecordingGadget.Created.ContainsKey(name));
        }

        [Theory]
        [MemberData(nameof(HostilePayloads))]
        public void Akkas_own_JSON_serializer_creates_the_gadget(string where, string template)
        {
            var name = Guid.NewGuid().ToString("N");
            var bytes = Encoding.UTF8.GetBytes(template.Replace("GADGET", GadgetType, StringComparison.Ordinal).Replace("NAME", name, StringComparison.Ordinal));

            new NewtonSoftJsonSerializer((ExtendedActorSystem)_system).FromBinary(bytes, null!);

            Assert.True(RecordingGadget.Created.ContainsKey(name), $"{where}: the control did not create the gadget, so the payload proves nothing");
        }

        [Fact]
        public void Allowed_types_and_actor_references_round_trip_as_Akka_writes_them()
        {
            var serializer = _system.Serialization.FindSerializerForType(typeof(object));
            var deposit = new Deposit("acct", 12.5m, ["a"], new Dictionary<string, long> { ["x"] = 1 }, [1, 2], Guid.NewGuid(), DateTimeOffset.UnixEpoch, new Note("n", [1], (1, "p")), "extra");
            var withRef = deposit with { Extra = _system.DeadLetters }; // written as Akka's surrogate of a reference
            var akkas = new NewtonSoftJsonSerializer((ExtendedActorSystem)_system);

            foreach (var value in new object[] { deposit, withRef, new List<string> { "a", "b" } })
            {
                var back = serializer.FromBinary(akkas.ToBinary(value), null!);
                Assert.Equal(Encoding.UTF8.GetString(akkas.ToBinary(value)), Encoding.UTF8.GetString(serializer.ToBinary(back)));
            }
        }

        [Fact]
        public async Task A_system_created_without_RaftActors_defaults_gets_the_allow_listed_JSON_serializer_once_RaftExtension_loads()
        {
            var plain = ActorSystem.Create("plain", "akka.loglevel = WARNING\nakka.stdout-loglevel = WARNING");
            try
            {
                Assert.IsType<NewtonSoftJsonSerializer>(plain.Serialization.FindSerializerForType(typeof(object)));
                var name = Guid.NewGuid().ToString("N");
                var bytes = Encoding.UTF8.GetBytes($$"""{"$type":"{{GadgetType}}","Name":"{{name}}"}""");

                RaftExtension.Get(plain);

                Assert.IsType<AllowListJsonSerializer>(plain.Serialization.FindSerializerForType(typeof(object)));
                Assert.Throws<SerializationException>(() => plain.Serialization.Deserialize(bytes, AllowListJsonSerializer.SerializerId, ""));
                Assert.False(RecordingGadget.Created.ContainsKey(name));
            }
            finally
            {
                await plain.Terminate();
            }
        }
    }
}
