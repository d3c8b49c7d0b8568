using RaftActors.Core;
using RaftActors.Messages;
using static RaftActors.Tests.Core.ProtocolTestKit;

namespace RaftActors.Tests.Core;

/// <summary>
/// Who may campaign while a change removes a server (thesis §4.2.2): a server whose latest
/// configuration no longer lists it as a voter still campaigns while that configuration is not
/// known committed — it may be the only server able to finish the change — and falls silent once it
/// knows the removal committed. LogCabin, Ongaro's own implementation, follows the same rule.
/// </summary>
public class RaftProtocolRemovalElectionTests
{
    /// <summary>
    /// Found by the simulator (seed 72): n1 leads {n1, n3}, is cut off, and appends its own removal
    /// ({n3}) that n3 never receives; it steps down. n3, lacking the entry, cannot win without n1's vote,
    /// which n1 refuses (its log is longer); if n1, no voter of {n3}, does not campaign either, the
    /// cluster never elects a leader again. n1 must campaign in {n3} (its own vote not counted), win
    /// n3's vote, commit its removal, and hand over.
    /// </summary>
    [Fact]
    public void ARemovedServer_WhoseRemovalIsNotCommitted_CampaignsAndFinishesTheChange()
    {
        var n1 = NewNode("n1", clusterSize: 2);
        var n2 = NewNode("n2", clusterSize: 2);
        var net = new ProtocolNetwork(n1, n2);
        DropAnswersFromOutsiders(net, n1, n2);
        net.Do("n1", p => p.Start());
        net.Do("n2", p => p.Start());
        net.Do("n1", p => p.ElectionTimeoutElapsed());
        net.RunUntilQuiet();
        net.Do("n1", p => p.HeartbeatTimeoutElapsed()); // n2 learns the no-op is committed
        net.RunUntilQuiet();
        Assert.Equal(RaftRole.Leader, n1.Role);

        // n1 removes itself while cut off: {n2} is in n1's log only.
        net.Isolate("n1");
        net.Do("n1", p =>
        {
            Assert.Null(p.ChangeMembership(1, MembershipChange.Remove("n1")));
            p.Replicate();
        });
        net.RunUntilQuiet();
        Assert.False(n1.IsVoter);

        // n2 campaigns; n1 adopts the term and steps down, refusing its vote (n1's log is longer).
        net.Recover();
        DropAnswersFromOutsiders(net, n1, n2);
        net.Do("n2", p => p.ElectionTimeoutElapsed());
        net.RunUntilQuiet();
        Assert.Equal(RaftRole.Follower, n1.Role);
        Assert.NotEqual(RaftRole.Leader, n2.Role);

        // n1's removal is not committed: n1 campaigns in {n2}, wins, commits it, and hands over to n2.
        net.Do("n1", p => p.ElectionTimeoutElapsed());
        net.RunUntilQuiet();

        Assert.Equal(RaftRole.Leader, n2.Role);
        Assert.Equal(ClusterConfiguration.OfVoters(["n2"]), n2.Configuration);
        Assert.True(n2.CommitIndex >= n2.ConfigurationIndex, "the removal is committed");
        Assert.Equal(RaftRole.Follower, n1.Role);
    }

    /// <summary>The other side: a server that knows its removal is committed never campaigns (it would only disrupt).</summary>
    [Fact]
    public void ARemovedServer_WhoseRemovalIsCommitted_DoesNotCampaign()
    {
        var n1 = NewNode("n1", clusterSize: 3);
        var n2 = NewNode("n2", clusterSize: 3);
        var n3 = NewNode("n3", clusterSize: 3);
        var net = new ProtocolNetwork(n1, n2, n3);
        foreach (var id in new[] { "n1", "n2", "n3" })
            net.Do(id, p => p.Start());
        net.Do("n1", p => p.ElectionTimeoutElapsed());
        net.RunUntilQuiet();

        DropAnswersFromOutsiders(net, n1, n2, n3);
        net.Do("n1", p =>
        {
            Assert.Null(p.ChangeMembership(1, MembershipChange.Remove("n3")));
            p.Replicate(); // as the host's flush does
        });
        net.RunUntilQuiet();

        // The leader dropped n3 once the removal committed, with a last heartbeat that says so.
        Assert.False(n3.IsVoter);
        Assert.True(n3.CommitIndex >= n3.ConfigurationIndex, $"n3 knows entries through {n3.CommitIndex} committed; its removal is entry {n3.ConfigurationIndex}");

        var before = net.Trace.Count;
        net.Do("n3", p => p.ElectionTimeoutElapsed());
        net.RunUntilQuiet();

        Assert.Equal(RaftRole.Follower, n3.Role);
        Assert.False(n3.IsPreCandidate);
        Assert.DoesNotContain(net.Trace.Skip(before), line => line.Contains("n3->"));
    }

    /// <summary>
    /// Answers from a server outside the recipient's configuration are lost: the protocol ignores them
    /// once the change that removed their sender is committed, and the test network asserts that no
    /// message is ignored.
    /// </summary>
    private static void DropAnswersFromOutsiders(ProtocolNetwork net, params RaftProtocol[] nodes)
    {
        var byId = nodes.ToDictionary(n => n.NodeId);
        net.Drop = (to, message) => message is AppendEntriesResult or RequestVoteResult or InstallSnapshotResult && !byId[to].Configuration.IsMember(message.From);
    }
}
