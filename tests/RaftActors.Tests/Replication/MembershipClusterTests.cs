using RaftActors.Core;
using RaftActors.Messages;
using Xunit.Abstractions;
using static RaftActors.Tests.Replication.ReplicationCluster;

namespace RaftActors.Tests.Replication;

/// <summary>
/// Membership changes and leadership transfer on the in-process harness (real node actors, a
/// simulated network, crashes), after hashicorp/raft's raft_test.go scenarios of the same names:
/// servers added while commands commit, the leader removed, leadership handed to each member in
/// turn, a crashed member replaced. The harness checks at the end that no two leaders shared a
/// term and every acknowledged command is held by a majority of the configuration that committed it.
/// </summary>
[Collection(ReplicationCollection.Name)]
public sealed class MembershipClusterTests(ITestOutputHelper output)
{
    private static AddMember Add(string id) => new(id, $"akka://elsewhere/user/{id}");

    private static async Task<MembershipChanged> Changed(ReplicationCluster cfg, object request)
    {
        for (var attempt = 0; attempt < 20; attempt++)
        {
            var leader = await cfg.CheckOneLeader();
            var answer = await cfg.Request(leader, request);
            switch (answer)
            {
                case MembershipChanged changed:
                    return changed;
                case MembershipRefused { Reason: MembershipRefusalReason.LeaderNotReady } or NotLeader or null:
                    await Task.Delay(50);
                    continue;
                default:
                    cfg.Fail($"{request} was answered {answer}");
                    break;
            }
        }

        cfg.Fail($"{request} was not done after 20 attempts");
        return null!;
    }

    // hashicorp TestRaft_AddVoter (and AddKnownPeer): servers started to join are added one at a
    // time while commands commit; each becomes a voter once caught up, and then holds every command.
    [Fact]
    public Task AddVoter() => RunAsync(5, output, voters: 3, scenario: async cfg =>
    {
        await cfg.One(101, 3, retry: true);
        var changed = await Changed(cfg, Add("n4"));
        Assert.Equal(["n1", "n2", "n3", "n4"], changed.Configuration.Voters);
        await cfg.One(102, 4, retry: true);

        changed = await Changed(cfg, Add("n5"));
        Assert.Equal(5, changed.Configuration.Voters.Count);
        var index = await cfg.One(103, 5, retry: true);
        Assert.Equal(5, cfg.NCommitted(index).Count);
    });

    // hashicorp TestRaft_AddLearner / TestRaft_AddNonVoter: a learner receives every command but
    // is no voter: the cluster commits without it.
    [Fact]
    public Task AddLearner() => RunAsync(4, output, voters: 3, scenario: async cfg =>
    {
        var changed = await Changed(cfg, Add("n4") with { Promote = false });
        Assert.False(changed.Configuration.IsVoter("n4"));
        await cfg.One(201, 4, retry: true);
        Assert.False((await cfg.Status(3))!.IsVoter);

        cfg.Disconnect(3);
        await cfg.One(202, 3, retry: true); // the three voters commit without the learner
    });

    // hashicorp TestRaft_RemoveLeader: the leader removes itself; it keeps leading until the change
    // commits, then steps down and hands over; the others elect a leader and go on; the removed
    // server stays quiet for good.
    [Fact]
    public Task RemoveLeader() => RunAsync(3, output, async cfg =>
    {
        await cfg.One(301, 3, retry: true);
        var leader = await cfg.CheckOneLeader();
        var removed = cfg.Id(leader);

        var changed = (MembershipChanged?)await cfg.Request(leader, new RemoveMember(removed));
        Assert.NotNull(changed);
        Assert.False(changed.Configuration.IsMember(removed));

        var next = await cfg.CheckOneLeader();
        Assert.NotEqual(leader, next);
        await cfg.One(302, 2, retry: true);
        await Task.Delay(ElectionTimeoutMax * 3);
        var status = await cfg.Status(leader);
        Assert.Equal((RaftRole.Follower, false), (status!.Role, status.IsVoter));
        Assert.Equal(next, await cfg.CheckOneLeader());
    });

    // hashicorp TestRaft_LeadershipTransferInCluster (and ...ToTarget): leadership goes to each
    // member in turn; the new leader commits at once.
    [Fact]
    public Task LeadershipTransferToEachMemberInTurn() => RunAsync(3, output, async cfg =>
    {
        await cfg.One(401, 3, retry: true);
        for (var turn = 0; turn < 3; turn++)
        {
            var leader = await cfg.CheckOneLeader();
            var target = cfg.Id((leader + 1) % cfg.Servers);
            var answer = await cfg.Request(leader, new TransferLeadership(target));
            var transferred = Assert.IsType<LeadershipTransferred>(answer);
            Assert.Equal(target, transferred.LeaderId);
            Assert.Equal(cfg.IndexOf(target), await cfg.CheckOneLeader());
            await cfg.One(402 + turn, 3, retry: true);
        }
    });

    // hashicorp TestRaft_LeadershipTransferWithOneNode and ...ToInvalidID: nobody to hand over to
    // is a refusal, and the leader leads on.
    [Fact]
    public Task LeadershipTransferWithOneNodeOrToAStrangerIsRefused() => RunAsync(1, output, async cfg =>
    {
        var leader = await cfg.CheckOneLeader();
        Assert.Equal(MembershipRefusalReason.NotAVoter, Assert.IsType<MembershipRefused>(await cfg.Request(leader, new TransferLeadership())).Reason);
        Assert.Equal(MembershipRefusalReason.NotAVoter, Assert.IsType<MembershipRefused>(await cfg.Request(leader, new TransferLeadership("n9"))).Reason);
        await cfg.One(501, 1, retry: false);
    });

    // Replacing a member that died for good: a new server is added, the dead one removed; no
    // command acknowledged before, during or after is lost.
    [Fact]
    public Task ReplaceACrashedMember() => RunAsync(4, output, voters: 3, scenario: async cfg =>
    {
        await cfg.One(601, 3, retry: true);
        var leader = await cfg.CheckOneLeader();
        var dead = (leader + 1) % 3;
        await cfg.Crash(dead);
        await cfg.One(602, 2, retry: true);

        await Changed(cfg, Add("n4"));
        var changed = await Changed(cfg, new RemoveMember(cfg.Id(dead)));
        Assert.Equal(3, changed.Configuration.Voters.Count);
        Assert.False(changed.Configuration.IsMember(cfg.Id(dead)));
        await cfg.One(603, 3, retry: true);
    });
}
