using System.Collections.Concurrent;
using Akka.Actor;
using Akka.Configuration;
using Akka.Event;
using RaftActors.Core;
using RaftActors.Messages;
using RaftActors.Serialization;
using Xunit.Abstractions;

namespace RaftActors.Tests.Serialization;

/// <summary>Commands for the allow-listed Hyperion serializer, as an application would declare them.</summary>
public interface IKvCommand;

public sealed record PutCommand(string Key, List<string> Values, Dictionary<string, int> Counts, Guid Id) : IKvCommand;

/// <summary>
/// Two ActorSystems over real Akka.Remote on 127.0.0.1, set up only by <see cref="RaftExtension"/>
/// (no Raft configuration): protocol messages travel through the binary serializer — a third
/// system without the extension cannot read them, which shows what went over the wire — and a
/// client command bound to "raft-hyperion" crosses inside a ClientCommand.
/// </summary>
[Collection(SerializationRemotingCollection.Name)]
public sealed class SerializationOverRemotingTests(ITestOutputHelper output)
{
    private static readonly Config RemoteConfig = ConfigurationFactory.ParseString("""
        akka {
          loglevel = WARNING
          stdout-loglevel = WARNING
          loggers = []
          log-dead-letters = off
          log-dead-letters-during-shutdown = off
          actor.provider = remote
          actor.serialization-bindings { "RaftActors.Tests.Serialization.IKvCommand, RaftActors.Tests" = raft-hyperion }
          remote {
            log-remote-lifecycle-events = off
            dot-netty.tcp { hostname = "127.0.0.1", port = 0, tcp-reuse-addr = off }
          }
        }
        raft.serialization.allowed-command-types = [ "RaftActors.Tests.Serialization.PutCommand, RaftActors.Tests" ]
        """);

    private static readonly AppendEntries Append = new(
        7,
        "n1-лидер",
        41,
        6,
        new List<LogEntry>
        {
            new(42, 7, null),
            new(43, 7, new EntryCommand(RaftCommandSerializer.SerializerId, "", SerializationTestData.Bytes(128, 3), "client-1", 17)),
            new(44, 7, new EntryCommand(1, "MyApp.Put, MyApp", SerializationTestData.Bytes(300, 4), null, 0)),
        },
        LeaderCommit: 42,
        Sequence: long.MaxValue);

    [Fact]
    public async Task AppendEntries_with_entries_arrives_intact_through_the_binary_serializer()
    {
        var logs = new ConcurrentQueue<string>();
        var sender = Start("sender", logs, withExtension: true);
        var receiver = Start("receiver", logs, withExtension: true);
        var bystander = Start("bystander", logs, withExtension: false);
        try
        {
            var serializer = sender.Serialization.FindSerializerFor(Append);
            output.WriteLine($"sender serializes AppendEntries with {serializer.GetType().Name} (id {serializer.Identifier}), " +
                             $"{serializer.ToBinary(Append).Length} bytes");
            Assert.IsType<RaftProtocolSerializer>(serializer);

            var received = new ConcurrentQueue<object>();
            receiver.ActorOf(Props.Create(() => new Recorder(received)), "raft");
            bystander.ActorOf(Props.Create(() => new Recorder(received)), "raft");

            var command = new ClientCommand(new PutCommand("ключ", ["a", "b"], new Dictionary<string, int> { ["x"] = 1 }, Guid.NewGuid()), "client-1", 3);
            Remote(sender, receiver).Tell(Append);
            Remote(sender, receiver).Tell(command);
            Remote(sender, bystander).Tell(Append);

            await WaitFor(() => received.Count >= 2 && logs.Any(l => l.Contains("9571")), TimeSpan.FromSeconds(15));
            var arrived = received.ToArray();
            output.WriteLine(string.Join("\n", logs));

            Assert.Equal(2, arrived.Length);
            var append = Assert.IsType<AppendEntries>(arrived[0]);
            Assert.Equal(Append, append);
            Assert.Equal(Append.Entries.Select(e => e.Command?.Data), append.Entries.Select(e => e.Command?.Data));

            var clientCommand = Assert.IsType<ClientCommand>(arrived[1]);
            var put = Assert.IsType<PutCommand>(clientCommand.Command);
            var sent = (PutCommand)command.Command;
            Assert.Equal((sent.Key, sent.Id, "client-1", 3L), (put.Key, put.Id, clientCommand.ClientId, clientCommand.Sequence));
            Assert.Equal(sent.Values, put.Values);
            Assert.Equal(sent.Counts, put.Counts);

            // The system without the extension cannot read serializer 9571: the wire carried the binary form.
            Assert.Contains(logs, l => l.StartsWith("bystander", StringComparison.Ordinal) && l.Contains("9571"));
            Assert.DoesNotContain(logs, l => !l.StartsWith("bystander", StringComparison.Ordinal) && l.Contains("serializ", StringComparison.OrdinalIgnoreCase));
        }
        finally
        {
            await Task.WhenAll(sender.Terminate(), receiver.Terminate(), bystander.Terminate()).WaitAsync(TimeSpan.FromSeconds(15));
        }
    }

    private static IActorRef Remote(ActorSystem from, ActorSystem to) =>
        ((ExtendedActorSystem)from).Provider.ResolveActorRef(new RootActorPath(((ExtendedActorSystem)to).Provider.DefaultAddress) / "user" / "raft");

    private static ActorSystem Start(string name, ConcurrentQueue<string> logs, bool withExtension)
    {
        var system = ActorSystem.Create("raft", RemoteConfig);
        var recorder = system.ActorOf(Props.Create(() => new LogRecorder(name, logs)));
        system.EventStream.Subscribe(recorder, typeof(Warning));
        system.EventStream.Subscribe(recorder, typeof(Error));
        if (withExtension)
            RaftExtension.Get(system);
        return system;
    }

    private static async Task WaitFor(Func<bool> condition, TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        while (!condition() && !cancel.IsCancellationRequested)
            await Task.Delay(20);
    }

    private sealed class Recorder : ReceiveActor
    {
        public Recorder(ConcurrentQueue<object> received) => ReceiveAny(received.Enqueue);
    }

    private sealed class LogRecorder : ReceiveActor
    {
        public LogRecorder(string system, ConcurrentQueue<string> logs) =>
            Receive<LogEvent>(log => logs.Enqueue($"{system} {log.LogLevel()} {log.LogSource}: {log.Message} {log.Cause?.Message}"));
    }
}

/// <summary>Remoting tests run one at a time: each binds ports and spins up several systems.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SerializationRemotingCollection
{
    public const string Name = "serialization over remoting";
}
