using Akka.Actor;
using Akka.TestKit;
using RaftActors.Core;
using RaftActors.Messages;
using RaftActors.Storage;

namespace RaftActors.Tests.Replication;

/// <summary>
/// The harness must do what the scenarios rely on — the network drops, delays, duplicates and
/// cuts off; crashed storage loses exactly the writes in flight; the recorder catches unsafe
/// applies — or a green scenario proves nothing.
/// </summary>
public sealed class HarnessTests() : Akka.TestKit.Xunit2.TestKit("akka.loglevel = WARNING")
{
    private static readonly AppendEntries Heartbeat = new(1, "n1", 0, 0, [], 0, 1);

    [Fact]
    public void The_recorder_catches_two_commands_applied_at_one_index()
    {
        var recorder = new ApplyRecorder();
        recorder.Applied("n1", 1, 1, 10);
        recorder.Applied("n2", 1, 1, 10);
        Assert.Empty(recorder.Violations);

        recorder.Applied("n3", 1, 1, 11);

        Assert.Contains(recorder.Violations, v => v.Contains("State Machine Safety") && v.Contains("index 1"));
    }

    [Fact]
    public void The_recorder_catches_an_index_applied_out_of_order_or_a_skipped_command()
    {
        var recorder = new ApplyRecorder();
        recorder.Applied("n1", 1, 2, 20);
        recorder.Applied("n1", 1, 1, 10);
        Assert.Contains(recorder.Violations, v => v.Contains("out of order"));

        var skipped = new ApplyRecorder();
        skipped.Applied("n1", 1, 1, 10);
        skipped.Applied("n1", 1, 2, 20);
        skipped.Applied("n2", 1, 2, 20); // n2 skipped index 1, which n1 applied
        Assert.Contains(skipped.Violations, v => v.Contains("skipping index 1"));

        var late = new ApplyRecorder();
        late.Applied("n1", 1, 2, 20);
        late.Applied("n2", 1, 1, 10); // n1 passed index 1 before anyone applied it: caught at the end
        late.Applied("n2", 1, 2, 20);
        Assert.Empty(late.Violations);
        Assert.Contains(late.GapViolations(), v => v.StartsWith("n1#1", StringComparison.Ordinal));
    }

    [Fact]
    public void NCommitted_counts_each_node_by_its_latest_incarnation()
    {
        var recorder = new ApplyRecorder();
        recorder.Started("n1", 1);
        recorder.Started("n2", 1);
        recorder.Applied("n1", 1, 1, 10);
        recorder.Applied("n2", 1, 1, 10);
        Assert.Equal((2, (object?)10), recorder.NCommitted(1));

        recorder.Started("n2", 2); // restarted: it has applied nothing yet

        Assert.Equal(1, recorder.NCommitted(1).Count);
    }

    [Fact]
    public async Task A_crash_loses_the_writes_in_flight_and_keeps_the_completed_ones()
    {
        var disk = new InMemoryRaftStorage();
        var delay = 1;
        var storage = new CrashableStorage(disk, () => delay);
        await storage.WriteAsync(new StorageWrite(new HardState(1, "n1"), [new AppendToLog([new LogEntry(1, 1, null)])]));
        Assert.Single(disk.Entries);

        delay = 200;
        var inFlight = storage.WriteAsync(new StorageWrite(new HardState(2, null), [new AppendToLog([new LogEntry(2, 2, null)])]));
        Assert.Equal(2, storage.AcceptedLastIndex);
        Assert.Equal(1, storage.Crash());
        await Task.Delay(400);

        Assert.False(inFlight.IsCompleted);
        Assert.Equal(new HardState(1, "n1"), disk.HardState);
        Assert.Single(disk.Entries);
        var afterCrash = storage.WriteAsync(StorageWrite.OfHardState(new HardState(3, null)));
        await Task.Delay(50);
        Assert.False(afterCrash.IsCompleted);
        Assert.Equal(1, disk.HardState.Term);

        var restarted = new CrashableStorage(disk, () => 1);
        Assert.Equal(new HardState(1, "n1"), restarted.HardState);
        Assert.Single(restarted.Entries);
    }

    [Fact]
    public async Task The_network_delivers_through_the_link_proxies_and_cuts_off_disconnected_nodes()
    {
        var (network, proxies, nodes) = await StartNetwork(3);
        network.Connect(0);
        network.Connect(1);

        proxies[(0, 1)].Tell(Heartbeat, nodes[0].Ref);
        nodes[1].ExpectMsg(Heartbeat);

        // n3 is registered but not connected (as after MIT's start1).
        proxies[(0, 2)].Tell(Heartbeat, nodes[0].Ref);
        nodes[2].ExpectNoMsg(TimeSpan.FromMilliseconds(100));

        network.Disconnect(1);
        proxies[(0, 1)].Tell(Heartbeat, nodes[0].Ref);
        proxies[(1, 0)].Tell(Heartbeat, nodes[1].Ref);
        nodes[1].ExpectNoMsg(TimeSpan.FromMilliseconds(100));
        nodes[0].ExpectNoMsg(TimeSpan.FromMilliseconds(1));
    }

    [Fact]
    public async Task Partitions_cut_links_between_groups_only()
    {
        var (network, _, _) = await StartNetwork(5);
        network.Heal();
        network.Partition([0, 1], [2, 3]);

        Assert.True(network.LinkWorks(0, 1));
        Assert.True(network.LinkWorks(3, 2));
        Assert.False(network.LinkWorks(1, 2));
        Assert.False(network.LinkWorks(4, 0)); // n5, named in no group, is a group of its own

        network.Heal();
        Assert.True(network.LinkWorks(1, 2));
    }

    [Fact]
    public async Task Messages_from_a_stopped_incarnation_are_dropped_and_the_new_one_gets_what_is_sent_after_it_registered()
    {
        var (network, proxies, nodes) = await StartNetwork(2);
        network.Heal();
        var successor = CreateTestProbe("n2-2");

        network.Kill(1);
        network.Register(1, successor.Ref, incarnation: 2);
        network.Connect(1);

        proxies[(1, 0)].Tell(Heartbeat, nodes[1].Ref); // the dead incarnation still sends
        nodes[0].ExpectNoMsg(TimeSpan.FromMilliseconds(100));
        proxies[(0, 1)].Tell(Heartbeat, nodes[0].Ref);
        successor.ExpectMsg(Heartbeat);
        nodes[1].ExpectNoMsg(TimeSpan.FromMilliseconds(1));
    }

    [Fact]
    public async Task Faults_drop_duplicate_and_delay_messages()
    {
        var (network, proxies, nodes) = await StartNetwork(2);
        network.Heal();

        network.Faults = new NetworkFaults { DropRate = 1 };
        proxies[(0, 1)].Tell(Heartbeat, nodes[0].Ref);
        nodes[1].ExpectNoMsg(TimeSpan.FromMilliseconds(100));

        network.Faults = new NetworkFaults { DuplicateRate = 1 };
        proxies[(0, 1)].Tell(Heartbeat, nodes[0].Ref);
        nodes[1].ExpectMsg(Heartbeat);
        nodes[1].ExpectMsg(Heartbeat);

        network.Faults = new NetworkFaults { MinDelayMs = 300, MaxDelayMs = 301 };
        proxies[(0, 1)].Tell(Heartbeat, nodes[0].Ref);
        nodes[1].ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        nodes[1].ExpectMsg(Heartbeat, TimeSpan.FromSeconds(2));

        // A delayed message does not arrive once its link is cut.
        proxies[(0, 1)].Tell(Heartbeat, nodes[0].Ref);
        network.Disconnect(0);
        nodes[1].ExpectNoMsg(TimeSpan.FromMilliseconds(500));
    }

    [Fact]
    public async Task Counts_RPCs_and_the_bytes_of_entries()
    {
        var (network, proxies, nodes) = await StartNetwork(2);
        network.Heal();
        var entry = new LogEntry(1, 1, new EntryCommand(1, "", new byte[5000]));

        proxies[(0, 1)].Tell(new AppendEntries(1, "n1", 0, 0, new List<LogEntry> { entry }, 0, 1), nodes[0].Ref);
        proxies[(1, 0)].Tell(new AppendEntriesResult(1, "n2", true, 1, Sequence: 1), nodes[1].Ref);
        nodes[0].ExpectMsg<AppendEntriesResult>();

        Assert.Equal(1, network.RpcCount);
        Assert.InRange(network.ByteCount, 5000, 5200);
    }

    private async Task<(SimulatedNetwork Network, Dictionary<(int, int), IActorRef> Proxies, TestProbe[] Nodes)> StartNetwork(int size)
    {
        var ids = Enumerable.Range(1, size).Select(i => $"n{i}").ToList();
        var network = new SimulatedNetwork(ids, seed: 1);
        var net = Sys.ActorOf(NetworkActor.Props(network), "net");
        await net.Ask<NetworkActor.Ready>(NetworkActor.Ready.Instance, TimeSpan.FromSeconds(5));
        var nodes = ids.Select(id => CreateTestProbe(id)).ToArray();
        for (var i = 0; i < size; i++)
            network.Register(i, nodes[i].Ref, incarnation: 1);
        var proxies = new Dictionary<(int, int), IActorRef>();
        for (var from = 0; from < size; from++)
        {
            for (var to = 0; to < size; to++)
            {
                if (from != to)
                    proxies[(from, to)] = await Sys.ActorSelection(net.Path / SimulatedNetwork.LinkName(ids[from], ids[to])).ResolveOne(TimeSpan.FromSeconds(5));
            }
        }

        return (network, proxies, nodes);
    }
}
