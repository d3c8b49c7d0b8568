using Akka.Configuration;
using Akka.Coordination;
using RaftActors.Client;

namespace RaftActors.Coordination.Tests;

public sealed class RaftLeaseOptionTests
{
    [Fact]
    public void The_option_writes_the_section_the_lease_reads_its_class_timeouts_and_members_from()
    {
        var option = new RaftLeaseOption
        {
            Members = new Dictionary<string, string> { ["n1"] = "akka.tcp://raft@10.0.0.1:4053", ["n2"] = "akka.tcp://raft@10.0.0.2:4053" },
            ActorName = "leases",
            HeartbeatTimeout = TimeSpan.FromSeconds(30),
            HeartbeatInterval = TimeSpan.FromSeconds(3),
            LeaseOperationTimeout = TimeSpan.FromSeconds(4),
        };

        var section = ConfigurationFactory.ParseString(option.ToHocon()).GetConfig(RaftLeaseOption.Path)
            .WithFallback(LeaseProvider.DefaultConfig().GetConfig("akka.coordination.lease"));
        var settings = LeaseSettings.Create(section, "sbr", "owner");

        Assert.Equal(typeof(RaftLease), Type.GetType(section.GetString("lease-class"), throwOnError: true));
        Assert.Equal((TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(4)),
            (settings.TimeoutSettings.HeartbeatTimeout, settings.TimeoutSettings.HeartbeatInterval, settings.TimeoutSettings.OperationTimeout));
        Assert.Equal(
            ["akka.tcp://raft@10.0.0.1:4053/user/leases", "akka.tcp://raft@10.0.0.2:4053/user/leases"],
            RaftClient.MembersFromConfig(section).Select(m => m.Path!.ToString()));
    }

    [Fact]
    public void Without_members_the_option_is_refused()
    {
        Assert.Throws<ArgumentException>(() => new RaftLeaseOption().ToHocon());
    }
}
