using Akka.Actor;
using Akka.Configuration;
using RaftActors.Client;
using RaftActors.Configuration;

namespace RaftActors.Tests.Client;

public sealed class RaftClientOptionsTests
{
    [Fact]
    public void Defaults_are_valid_and_each_client_is_a_new_session()
    {
        var a = new RaftClientOptions();
        a.Validate();
        Assert.NotEqual(a.ClientId, new RaftClientOptions().ClientId);
        Assert.True(Guid.TryParse(a.ClientId, out _));
    }

    [Fact]
    public void Backoff_doubles_from_min_to_max_with_jitter_in_the_upper_half()
    {
        var options = new RaftClientOptions { RetryBackoffMin = TimeSpan.FromMilliseconds(20), RetryBackoffMax = TimeSpan.FromMilliseconds(500) };
        var random = new Random(1);
        for (var failures = 1; failures <= 100; failures++)
        {
            var ceiling = Math.Min(500, 20 * Math.Pow(2, Math.Min(failures - 1, 30)));
            for (var i = 0; i < 20; i++)
            {
                var delay = options.Backoff(failures, random).TotalMilliseconds;
                Assert.InRange(delay, Math.Max(20, ceiling / 2) - 0.001, ceiling + 0.001);
            }
        }
    }

    [Fact]
    public void Backoff_is_replayable_from_the_seed()
    {
        var options = new RaftClientOptions();
        var first = Enumerable.Range(1, 10).Select(n => options.Backoff(n, new Random(5))).ToList();
        var again = Enumerable.Range(1, 10).Select(n => options.Backoff(n, new Random(5))).ToList();
        Assert.Equal(first, again);
    }

    [Fact]
    public void Members_are_read_from_the_nodes_HOCON_without_a_node_id()
    {
        var config = ConfigurationFactory.ParseString("""
            raft.actor-name = "node"
            raft.members = [
              { id = "n1", address = "akka.tcp://raft@127.0.0.1:4051" },
              { id = "n2", path = "akka.tcp://raft@127.0.0.1:4052/user/custom" },
            ]
            """);
        var members = RaftClient.MembersFromConfig(config);
        Assert.Equal(
            [new RaftMember("n1", ActorPath.Parse("akka.tcp://raft@127.0.0.1:4051/user/node")), new RaftMember("n2", ActorPath.Parse("akka.tcp://raft@127.0.0.1:4052/user/custom"))],
            members);
    }

    [Theory]
    [InlineData("raft.members = []", "raft.members")]
    [InlineData("raft.members = [ { address = \"akka.tcp://raft@127.0.0.1:4051\" } ]", "raft.members[0].id")]
    [InlineData("raft.members = [ { id = n1 } ]", "raft.members[0].address")]
    [InlineData("raft.members = [ { id = n1, path = \"not a path\" } ]", "raft.members[0].path")]
    [InlineData("raft.members = [ { id = n1, path = \"akka://a/user/x\" }, { id = n1, path = \"akka://a/user/y\" } ]", "raft.members")]
    public void Bad_members_are_refused_naming_the_key(string hocon, string key)
    {
        var error = Assert.Throws<RaftConfigurationException>(() => RaftClient.MembersFromConfig(ConfigurationFactory.ParseString(hocon)));
        Assert.Equal(key, error.Key);
    }
}
