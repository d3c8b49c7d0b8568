using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Configuration;
using RaftActors.Configuration;
using RaftActors.Messages;
using RaftActors.Serialization;
using Xunit.Abstractions;

namespace RaftActors.Tests.Serialization.Allowed
{
    /// <summary>A command in the allowed namespace, with nested data of several shapes.</summary>
    public sealed record Deposit(string Account, decimal Amount, List<string> Tags, Dictionary<string, long> Limits, byte[] Memo, Guid Id, DateTimeOffset At, Note? Note, object? Extra);

    public sealed record Note(string Text, int[] Numbers, (int, string) Pair);

    public sealed record Envelope<T>(T Inner);
}

namespace RaftActors.Tests.Serialization.Forbidden
{
    /// <summary>Stands for a gadget: a type no node should create from bytes a peer sent.</summary>
    public sealed class Gadget
    {
        public string Payload { get; set; } = "";
    }
}

namespace RaftActors.Tests.Serialization
{
    using RaftActors.Tests.Serialization.Allowed;
    using RaftActors.Tests.Serialization.Forbidden;

    /// <summary>
    /// The allow-listed Hyperion serializer: configured by <c>raft.serialization.allowed-command-types</c>,
    /// bound by an ordinary serialization binding (picked up by <see cref="RaftExtension"/>), it
    /// round-trips allowed commands and refuses — without creating them — types outside the list,
    /// at the top or nested anywhere, including when they arrive inside a protocol message.
    /// </summary>
    public sealed class RaftCommandSerializerTests : IDisposable
    {
        private const string AllowedNamespace = "RaftActors.Tests.Serialization.Allowed.*, RaftActors.Tests";

        private readonly ITestOutputHelper _output;
        private readonly ActorSystem _system;

        public RaftCommandSerializerTests(ITestOutputHelper output)
        {
            _output = output;
            _system = ActorSystem.Create("commands", ConfigurationFactory.ParseString($$"""
                akka.loglevel = WARNING
                akka.stdout-loglevel = WARNING
                akka.actor.serialization-bindings {
                  "RaftActors.Tests.Serialization.Allowed.Deposit, RaftActors.Tests" = raft-hyperion
                  "RaftActors.Tests.Serialization.Forbidden.Gadget, RaftActors.Tests" = raft-hyperion
                }
                raft.serialization.allowed-command-types = [ "{{AllowedNamespace}}" ]
                """));
            RaftExtension.Get(_system);
        }

        public void Dispose() => _system.Terminate().Wait(TimeSpan.FromSeconds(10));

        private static Deposit NewDeposit(object? extra = null) => new(
            "счёт-1", 12.34m, ["a", "b"], new Dictionary<string, long> { ["daily"] = 1_000 }, [1, 2, 3], Guid.NewGuid(),
            DateTimeOffset.UnixEpoch, new Note("n", [1, 2], (3, "three")), extra);

        [Fact]
        public void A_binding_to_raft_hyperion_in_the_application_config_is_honoured_without_loading_reference_conf()
        {
            var serializer = _system.Serialization.FindSerializerFor(NewDeposit());

            Assert.IsType<RaftCommandSerializer>(serializer);
            Assert.Equal(RaftCommandSerializer.SerializerId, serializer.Identifier);
            Assert.Contains(typeof(Deposit), RaftExtension.Get(_system).CommandTypes);
        }

        [Fact]
        public void An_allowed_command_round_trips_with_its_nested_data()
        {
            var deposit = NewDeposit(extra: new Envelope<Note>(new Note("inner", [], (0, ""))));

            var back = (Deposit)RoundTrip(deposit);

            _output.WriteLine($"{_system.Serialization.FindSerializerFor(deposit).ToBinary(deposit).Length} bytes");
            Assert.Equal((deposit.Account, deposit.Amount, deposit.Id, deposit.At), (back.Account, back.Amount, back.Id, back.At));
            Assert.Equal(deposit.Tags, back.Tags);
            Assert.Equal(deposit.Limits, back.Limits);
            Assert.Equal(deposit.Memo, back.Memo);
            Assert.Equal(deposit.Note!.Numbers, back.Note!.Numbers);
            Assert.Equal(deposit.Note.Pair, back.Note.Pair);
            Assert.Equal("inner", Assert.IsType<Envelope<Note>>(back.Extra).Inner.Text);
        }

        [Fact]
        public void A_type_outside_the_list_is_refused_on_serializing_with_a_message_naming_the_setting()
        {
            var exception = Assert.Throws<SerializationException>(() => _system.Serialization.FindSerializerFor(new Gadget()).ToBinary(new Gadget()));

            _output.WriteLine(exception.Message);
            Assert.Contains(typeof(Gadget).FullName!, exception.Message);
            Assert.Contains(CommandTypeAllowList.ConfigKey, exception.Message);
        }

        [Fact]
        public void Bytes_naming_a_type_outside_the_list_are_refused_before_it_is_created()
        {
            // A peer with a permissive serializer produces the bytes; this node's serializer reads them.
            var permissive = new RaftCommandSerializer((ExtendedActorSystem)_system, new CommandTypeAllowList(["*, RaftActors.Tests"]));
            var strict = RaftExtension.Get(_system).CommandSerializer;

            var topLevel = permissive.ToBinary(new Gadget { Payload = "calc.exe" });
            var nested = permissive.ToBinary(NewDeposit(extra: new Gadget { Payload = "calc.exe" }));
            var inList = permissive.ToBinary(NewDeposit(extra: new List<object> { new Gadget() }));
            var asGenericArgument = permissive.ToBinary(NewDeposit(extra: new Envelope<Gadget>(new Gadget())));

            foreach (var (what, bytes) in new[] { ("top level", topLevel), ("nested", nested), ("in a list", inList), ("as a generic argument", asGenericArgument) })
            {
                var exception = Assert.Throws<SerializationException>(() => _system.Serialization.Deserialize(bytes, RaftCommandSerializer.SerializerId, ""));
                _output.WriteLine($"{what}: {exception.Message}");
                Assert.Contains("Gadget", exception.ToString());
                Assert.Contains(CommandTypeAllowList.ConfigKey, exception.Message);
            }

            Assert.IsType<Gadget>(permissive.FromBinary(topLevel, typeof(object))); // the bytes themselves are fine
        }

        [Fact]
        public void A_forbidden_command_inside_a_ClientCommand_makes_the_protocol_message_fail_with_SerializationException()
        {
            var permissive = new RaftCommandSerializer((ExtendedActorSystem)_system, new CommandTypeAllowList(["*, RaftActors.Tests"]));
            var gadget = permissive.ToBinary(new Gadget { Payload = "x" });
            // ClientCommand: payload tag zigzag(9572) + 1, empty manifest, the bytes; then a null client id and sequence 0
            var writer = new List<byte>();
            WriteVarint(writer, ((ulong)RaftCommandSerializer.SerializerId << 1) + 1);
            writer.Add(1);
            WriteVarint(writer, (ulong)gadget.Length);
            writer.AddRange(gadget);
            writer.AddRange([0, 0]);

            var exception = Assert.Throws<SerializationException>(() =>
                _system.Serialization.Deserialize(writer.ToArray(), RaftProtocolSerializer.SerializerId, "CC"));

            _output.WriteLine(exception.Message);
            Assert.Contains("Gadget", exception.ToString());
        }

        [Fact]
        public async Task With_no_pattern_configured_only_framework_types_are_accepted()
        {
            var system = ActorSystem.Create("defaults", "akka.loglevel = WARNING");
            try
            {
                var serializer = RaftExtension.Get(system).CommandSerializer;

                Assert.Empty(serializer.AllowList.Patterns);
                Assert.Equal(new List<string> { "x" }, serializer.FromBinary(serializer.ToBinary(new List<string> { "x" }), typeof(object)));
                Assert.Throws<SerializationException>(() => serializer.ToBinary(NewDeposit()));
            }
            finally
            {
                await system.Terminate();
            }
        }

        [Fact]
        public async Task A_malformed_pattern_fails_naming_the_setting()
        {
            var config = ConfigurationFactory.ParseString("raft.serialization.allowed-command-types = [ \"MyApp.Commands.*\" ]");
            var system = ActorSystem.Create("bad", config.WithFallback(ConfigurationFactory.ParseString("akka.loglevel = OFF\nakka.stdout-loglevel = OFF")));
            try
            {
                var exception = Assert.ThrowsAny<Exception>(() => RaftExtension.Get(system));

                var configuration = FindCause<RaftConfigurationException>(exception);
                Assert.Equal(CommandTypeAllowList.ConfigKey, configuration.Key);
                _output.WriteLine(configuration.Message);
            }
            finally
            {
                await system.Terminate();
            }
        }

        private object RoundTrip(object message)
        {
            var serializer = _system.Serialization.FindSerializerFor(message);
            return _system.Serialization.Deserialize(serializer.ToBinary(message), serializer.Identifier, Akka.Serialization.Serialization.ManifestFor(serializer, message));
        }

        private static T FindCause<T>(Exception exception)
            where T : Exception
        {
            for (Exception? e = exception; e is not null; e = e.InnerException)
                if (e is T found)
                    return found;
            throw new Xunit.Sdk.XunitException($"no {typeof(T).Name} in {exception}");
        }

        private static void WriteVarint(List<byte> bytes, ulong value)
        {
            while (value >= 0x80)
            {
                bytes.Add((byte)(value | 0x80));
                value >>= 7;
            }

            bytes.Add((byte)value);
        }
    }

    /// <summary>The allow-list's matching on the type names Hyperion reads from the wire.</summary>
    public sealed class CommandTypeAllowListTests
    {
        private static readonly CommandTypeAllowList List = new([
            "MyApp.Commands.*, MyApp",
            "MyApp.Other.Single, MyApp",
            "*, MyApp.Messages",
            "MyApp.Envelope`1, MyApp",
        ]);

        [Theory]
        [InlineData("MyApp.Commands.Put, MyApp")]
        [InlineData("MyApp.Commands.Deep.Er.Put, MyApp")]
        [InlineData("MyApp.Commands.Outer+Inner, MyApp")]
        [InlineData("MyApp.Commands.Put, MyApp, Version=1.2.3.4, Culture=neutral, PublicKeyToken=null")]
        [InlineData("MyApp.Other.Single, MyApp")]
        [InlineData("Anything.At.All, MyApp.Messages")]
        [InlineData("MyApp.Commands.Put[], MyApp")]
        [InlineData("MyApp.Envelope`1[[MyApp.Commands.Put, MyApp]], MyApp")]
        [InlineData("System.String, System.Private.CoreLib,%core%")]
        [InlineData("System.Collections.Generic.List`1[[MyApp.Commands.Put, MyApp]], System.Private.CoreLib,%core%")]
        [InlineData("System.Collections.Generic.Dictionary`2[[System.String, System.Private.CoreLib,%core%],[System.Int64, System.Private.CoreLib,%core%]], System.Private.CoreLib,%core%")]
        [InlineData("System.Collections.Immutable.ImmutableList`1[[System.Int32, System.Private.CoreLib,%core%]], System.Collections.Immutable")]
        [InlineData("System.Nullable`1[[System.Guid, System.Private.CoreLib,%core%]], System.Private.CoreLib,%core%")]
        public void Allowed(string typeName) => Assert.True(List.IsAllowed(typeName), typeName);

        [Theory]
        [InlineData("MyApp.CommandsEvil.Put, MyApp")]
        [InlineData("MyApp.Commands.Put, OtherAssembly")]
        [InlineData("MyApp.Commands.Put")]
        [InlineData("MyApp.Other.Single2, MyApp")]
        [InlineData("MyApp.Other.Single+Nested, MyApp")]
        [InlineData("MyApp.Envelope`2[[MyApp.Commands.Put, MyApp],[MyApp.Commands.Put, MyApp]], MyApp")]
        [InlineData("MyApp.Envelope`1[[System.Diagnostics.Process, System.Diagnostics.Process]], MyApp")]
        [InlineData("System.Collections.Generic.List`1[[System.Diagnostics.Process, System.Diagnostics.Process]], System.Private.CoreLib,%core%")]
        [InlineData("System.Diagnostics.Process, System.Diagnostics.Process")]
        [InlineData("System.IO.FileInfo, System.Private.CoreLib,%core%")]
        [InlineData("System.String, EvilAssembly")]
        [InlineData("System.Action, System.Private.CoreLib,%core%")]
        [InlineData("System.Type, System.Private.CoreLib,%core%")]
        [InlineData("MyApp.Commands.Put*, MyApp")]
        [InlineData("MyApp.Commands.Put&, MyApp")]
        [InlineData("")]
        [InlineData("]]][[[, ,,")]
        public void Refused(string typeName) => Assert.False(List.IsAllowed(typeName), typeName);

        [Fact]
        public void Real_types_are_checked_with_their_generic_arguments()
        {
            var list = new CommandTypeAllowList(["RaftActors.Tests.Serialization.Allowed.*, RaftActors.Tests"]);

            Assert.True(list.IsAllowed(typeof(Deposit)));
            Assert.True(list.IsAllowed(typeof(Dictionary<string, List<Deposit>>)));
            Assert.True(list.IsAllowed(typeof(Deposit[])));
            Assert.False(list.IsAllowed(typeof(Gadget)));
            Assert.False(list.IsAllowed(typeof(List<Gadget>)));
            Assert.False(list.IsAllowed(typeof(Envelope<Gadget>)));
            Assert.False(list.IsAllowed(typeof(RequestVote)));
        }

        [Theory]
        [InlineData("MyApp.Commands.*")]
        [InlineData("*")]
        [InlineData("MyApp.*.Commands, MyApp")]
        [InlineData("MyApp.Comm*, MyApp")]
        [InlineData(", MyApp")]
        [InlineData("MyApp.Put, MyApp, Version=1.0.0.0")]
        [InlineData("MyApp.Envelope`1[[MyApp.Put, MyApp]], MyApp")]
        public void A_malformed_pattern_is_a_configuration_error(string pattern)
        {
            var exception = Assert.Throws<RaftConfigurationException>(() => new CommandTypeAllowList([pattern]));

            Assert.Equal(CommandTypeAllowList.ConfigKey, exception.Key);
        }
    }
}
