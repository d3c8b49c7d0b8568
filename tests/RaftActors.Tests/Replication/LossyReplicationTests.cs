using Xunit.Abstractions;
using static RaftActors.Tests.Replication.ReplicationCluster;

namespace RaftActors.Tests.Replication;

/// <summary>
/// Scenarios beyond MIT's lab, on the same harness: network failures the lab's symmetric
/// "unreliable" network makes unlikely.
/// </summary>
[Collection(ReplicationCollection.Name)]
public sealed class LossyReplicationTests(ITestOutputHelper output)
{
    /// <summary>
    /// Requests get through, 30% of the replies do not (asymmetric loss). A leader must not
    /// count a message whose answer was lost as in flight forever: after a few lost
    /// acknowledgements its window to that follower would be full, and the follower would get
    /// heartbeats but never another entry. Every command must still reach every node.
    /// </summary>
    [Fact]
    public Task LostAcknowledgements() => RunAsync(3, output, async cfg =>
    {
        cfg.Network.Faults = new NetworkFaults { ReplyDropRate = 0.3 };
        for (var command = 1; command <= 60; command++)
            await cfg.One(command, cfg.Servers, retry: true);
    });
}
