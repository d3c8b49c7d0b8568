using Akka.Actor;
using Akka.Configuration;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using RaftActors.Configuration;

namespace RaftActors.Hosting.Tests;

/// <summary>The options are the raft HOCON: the node's own reader gives the same settings from either.</summary>
public class OptionsTests
{
    private const string Hocon = """
        raft {
          node-id = "n2"
          members = [ { id = "n1", address = "akka.tcp://raft@10.0.0.1:4051" },
                      { id = "n2", address = "akka.tcp://raft@10.0.0.2:4052" },
                      { id = "n3", path = "akka.tcp://raft@10.0.0.3:4053/user/apps/raft-n3" } ]
          actor-name = "consensus"
          join = on
          transfer-leadership-on-shutdown = 750ms
          election-timeout-min = 400ms
          election-timeout-max = 900ms
          heartbeat-interval = 100ms
          random-seed = 42
          pre-vote = off
          check-quorum = off
          forward-to-leader = on
          max-entries-per-append = 64
          max-bytes-per-append = 65536
          max-appends-in-flight = 3
          pipeline-partial-appends = on
          snapshot {
            entries-threshold = 1000
            bytes-threshold = 1048576
            trailing-entries = 10
            chunk-size = 4096
            chunks-in-flight = 2
          }
          serialization.allowed-command-types = [ "MyApp.*, MyApp" ]
          data-dir = "data/n2"
        }
        """;

    private static RaftOptions SameAsHocon()
    {
        var options = new RaftOptions
        {
            NodeId = "n2",
            ActorName = "consensus",
            Join = true,
            TransferLeadershipOnShutdown = TimeSpan.FromMilliseconds(750),
            ElectionTimeoutMin = TimeSpan.FromMilliseconds(400),
            ElectionTimeoutMax = TimeSpan.FromMilliseconds(900),
            HeartbeatInterval = TimeSpan.FromMilliseconds(100),
            RandomSeed = 42,
            PreVote = false,
            CheckQuorum = false,
            ForwardToLeader = true,
            MaxEntriesPerAppend = 64,
            MaxBytesPerAppend = 65536,
            MaxAppendsInFlight = 3,
            PipelinePartialAppends = true,
            DataDirectory = "data/n2",
            Snapshot = { EntriesThreshold = 1000, BytesThreshold = 1 << 20, TrailingEntries = 10, ChunkSize = 4096, ChunksInFlight = 2 },
        };
        options.Members.Add(new RaftMemberOptions("n1", "akka.tcp://raft@10.0.0.1:4051"));
        options.Members.Add(new RaftMemberOptions("n2", "akka.tcp://raft@10.0.0.2:4052"));
        options.Members.Add(new RaftMemberOptions { Id = "n3", Path = "akka.tcp://raft@10.0.0.3:4053/user/apps/raft-n3" });
        options.AllowedCommandTypes.Add("MyApp.*, MyApp");
        return options;
    }

    [Fact]
    public void Options_and_a_hocon_file_give_equal_settings_and_membership()
    {
        var fromHocon = ConfigurationFactory.ParseString(Hocon);
        var fromOptions = SameAsHocon().ToConfig();

        var settings = RaftSettings.FromConfig(fromOptions);
        Assert.Equal(RaftSettings.FromConfig(fromHocon), settings);
        Assert.NotEqual(RaftSettings.Default, settings); // every value above differs from the defaults

        var expected = RaftMembership.FromConfig(fromHocon);
        var membership = RaftMembership.FromConfig(fromOptions);
        Assert.Equal(expected.SelfId, membership.SelfId);
        Assert.Equal(expected.Peers, membership.Peers);
        Assert.Equal(expected.SelfPath, membership.SelfPath);
        Assert.Equal(expected.Discovery, membership.Discovery);
        Assert.Equal(expected.ActorName, membership.ActorName);
        Assert.Equal(expected.Join, membership.Join);
        Assert.Equal("akka.tcp://raft@10.0.0.1:4051/user/consensus", membership.Peers[0].Path!.ToString());

        Assert.Equal(fromHocon.GetStringList("raft.serialization.allowed-command-types"), fromOptions.GetStringList("raft.serialization.allowed-command-types"));
        Assert.Equal(fromHocon.GetString("raft.data-dir"), fromOptions.GetString("raft.data-dir"));
    }

    [Fact]
    public void Unset_options_write_nothing_so_the_hocon_and_defaults_stand()
    {
        Assert.True(new RaftOptions().ToConfig().IsEmpty);

        var hocon = ConfigurationFactory.ParseString("raft { node-id = n1, heartbeat-interval = 20ms, members = [ { id = n1, path = \"akka://a/user/raft\" } ] }");
        var options = new RaftOptions { ElectionTimeoutMin = TimeSpan.FromMilliseconds(100) };
        var settings = RaftSettings.FromConfig(options.ToConfig().WithFallback(hocon));

        Assert.Equal(TimeSpan.FromMilliseconds(100), settings.ElectionTimeoutMin); // the option
        Assert.Equal(TimeSpan.FromMilliseconds(20), settings.HeartbeatInterval);   // the HOCON
        Assert.Equal(RaftSettings.Default.ElectionTimeoutMax, settings.ElectionTimeoutMax); // the default
        Assert.Equal("n1", RaftMembership.FromConfig(options.ToConfig().WithFallback(hocon)).SelfId);
    }

    [Fact]
    public void Lease_reads_are_written_as_raft_lease_reads()
    {
        Assert.True(RaftSettings.FromConfig(new RaftOptions { LeaseReads = true }.ToConfig()).LeaseReads);
        Assert.Equal(
            "raft.lease-reads",
            Assert.Throws<RaftConfigurationException>(() => RaftSettings.FromConfig(new RaftOptions { LeaseReads = true, CheckQuorum = false }.ToConfig())).Key);
    }

    [Fact]
    public void Durations_and_strings_are_read_back_exactly()
    {
        var options = new RaftOptions
        {
            NodeId = "n \"1\" \\ {x} = ünï",
            ElectionTimeoutMin = TimeSpan.FromTicks(1_234_567), // 123.4567 ms
            ElectionTimeoutMax = TimeSpan.FromSeconds(1.5),
            HeartbeatInterval = TimeSpan.FromMilliseconds(0.5),
        };
        var config = options.ToConfig();

        Assert.Equal(options.NodeId, config.GetString("raft.node-id"));
        var settings = RaftSettings.FromConfig(config);
        Assert.Equal(options.ElectionTimeoutMin, settings.ElectionTimeoutMin);
        Assert.Equal(options.ElectionTimeoutMax, settings.ElectionTimeoutMax);
        Assert.Equal(options.HeartbeatInterval, settings.HeartbeatInterval);
    }

    [Fact]
    public void Cluster_discovery_is_written_as_the_node_reads_it()
    {
        var options = new RaftOptions { NodeId = "n1", Discovery = RaftDiscovery.Cluster };
        options.Members.Add(new RaftMemberOptions("n1"));
        options.Members.Add(new RaftMemberOptions("n2"));
        var config = options.ToConfig().WithFallback(ConfigurationFactory.ParseString(
            "akka.actor.provider = cluster, akka.cluster.roles = [raft, \"raft-id:n1\"]"));

        var membership = RaftMembership.FromConfig(config);

        Assert.Equal(RaftDiscovery.Cluster, membership.Discovery);
        Assert.Equal(["n2"], membership.Peers.Select(p => p.Id));
    }

    [Fact]
    public void A_discovery_mode_that_does_not_exist_is_refused_naming_the_key()
    {
        var error = Assert.Throws<RaftConfigurationException>(() => new RaftOptions { Discovery = (RaftDiscovery)7 }.ToConfig());

        Assert.Equal("raft.discovery", error.Key);
        Assert.Contains("RaftOptions.Discovery", error.Message);
    }

    [Fact]
    public void A_health_check_that_may_not_wait_is_refused()
    {
        var builder = new AkkaConfigurationBuilder(new ServiceCollection(), "raft");

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => builder.WithRaftHealthCheck(TimeSpan.Zero));

        Assert.Equal("answerWithin", error.ParamName);
    }

    [Fact]
    public void The_client_of_a_system_without_a_hosted_node_is_refused_saying_why()
    {
        using var system = ActorSystem.Create("no-raft");

        var error = Assert.Throws<InvalidOperationException>(() => RaftHosting.ClientOf(system));

        Assert.Contains("WithRaft", error.Message);
    }
}
