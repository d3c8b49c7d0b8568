using System.Collections.Concurrent;
using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using RaftActors.Core;
using RaftActors.Messages;
using Xunit.Abstractions;

namespace RaftActors.Tests.Cluster;

/// <summary>
/// The four protocol records cross Akka.Remote intact with the serialization the node systems
/// are configured with: same values, same order, nothing logged about serialization.
/// </summary>
/// <remarks>
/// Entries travel in a <see cref="List{T}"/>, as <c>RaftLog.Slice</c> makes them: Akka's default
/// JSON serializer writes the list's concrete type and cannot rebuild every IReadOnlyList (a
/// collection expression's compiler-made type fails to deserialize, and the message is dropped
/// with only a warning), which a binary protocol serializer would not care about.
/// </remarks>
[Collection(RemoteClusterCollection.Name)]
public sealed class ProtocolMessagesOverRemotingTests(ITestOutputHelper output)
{
    private static readonly IRaftProtocolMessage[] Messages =
    [
        new RequestVote(7, "n1", 0, 0),
        new RequestVoteResult(long.MaxValue, "nœud-2", VoteGranted: true),
        new AppendEntries(9, "n3", 4, 8, [], LeaderCommit: 5, Sequence: 3),
        new AppendEntries(
            9,
            "n3",
            long.MaxValue - 2,
            8,
            new List<LogEntry>
            {
                new(long.MaxValue - 1, 9, Command: null),
                new(long.MaxValue, 9, new EntryCommand(42, "m", [0, 1, 254, 255], clientId: "client-1", sequence: 17)),
            },
            LeaderCommit: 5,
            Sequence: long.MaxValue),
        new AppendEntriesResult(9, "n2", Success: false, MatchIndex: 0, ConflictIndex: 3, ConflictTerm: 2, Sequence: 4),
        new AppendEntriesResult(9, "n2", Success: true, MatchIndex: long.MaxValue, Sequence: 5),
        new RequestVoteResult(1, "n2", VoteGranted: false),
    ];

    [Fact]
    public async Task Protocol_messages_arrive_equal_and_in_order_in_another_actor_system()
    {
        var sender = ActorSystem.Create(LocalRemoteCluster.SystemName, LocalRemoteCluster.NodeConfig);
        var receiver = ActorSystem.Create(LocalRemoteCluster.SystemName, LocalRemoteCluster.NodeConfig);
        try
        {
            var logs = new ConcurrentQueue<string>();
            foreach (var system in new[] { sender, receiver })
            {
                var logRecorder = system.ActorOf(Props.Create(() => new LogRecorder(logs)));
                system.EventStream.Subscribe(logRecorder, typeof(Warning));
                system.EventStream.Subscribe(logRecorder, typeof(Error));
            }

            foreach (var message in Messages)
                output.WriteLine($"{message.GetType().Name} is serialized by {sender.Serialization.FindSerializerFor(message).GetType().FullName}");

            var received = new ConcurrentQueue<object>();
            var all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            receiver.ActorOf(Props.Create(() => new Recorder(received, Messages.Length, all)), "raft");
            var address = ((ExtendedActorSystem)receiver).Provider.DefaultAddress;
            var remote = ((ExtendedActorSystem)sender).Provider.ResolveActorRef(new RootActorPath(address) / "user" / "raft");

            var clock = Stopwatch.StartNew();
            foreach (var message in Messages)
                remote.Tell(message);

            var arrived = await Task.WhenAny(all.Task, Task.Delay(TimeSpan.FromSeconds(10))) == all.Task;
            output.WriteLine($"{received.Count} messages arrived after {clock.ElapsedMilliseconds} ms (the first association included)");
            Assert.True(arrived, $"{received.Count} of {Messages.Length} messages arrived; logged:\n{string.Join("\n", logs)}");
            Assert.Equal<object>(Messages, received.ToArray());
            Assert.DoesNotContain(logs, l => l.Contains("serializ", StringComparison.OrdinalIgnoreCase));
        }
        finally
        {
            await Task.WhenAll(sender.Terminate(), receiver.Terminate()).WaitAsync(TimeSpan.FromSeconds(10));
        }
    }

    private sealed class Recorder : ReceiveActor
    {
        public Recorder(ConcurrentQueue<object> received, int expected, TaskCompletionSource all)
        {
            ReceiveAny(message =>
            {
                received.Enqueue(message);
                if (received.Count >= expected)
                    all.TrySetResult();
            });
        }
    }

    private sealed class LogRecorder : ReceiveActor
    {
        public LogRecorder(ConcurrentQueue<string> logs) =>
            Receive<LogEvent>(log => logs.Enqueue($"{log.LogLevel()} {log.LogSource}: {log.Message} {log.Cause}"));
    }
}
