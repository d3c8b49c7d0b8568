using Akka.Configuration;
using RaftActors.Configuration;
using RaftActors.Core;

namespace RaftActors.Tests.Configuration;

/// <summary>The node's timing settings, read from HOCON and validated at start.</summary>
public class RaftSettingsTests
{
    private static RaftSettings Parse(string hocon) => RaftSettings.FromConfig(ConfigurationFactory.ParseString(hocon));

    private static RaftConfigurationException Fails(string hocon) =>
        Assert.Throws<RaftConfigurationException>(() => Parse(hocon));

    [Fact]
    public void Defaults_Are150To300msAndA50msHeartbeat()
    {
        foreach (var settings in new[] { RaftSettings.FromConfig(Config.Empty), RaftSettings.Default, Parse("other { x = 1 }") })
        {
            Assert.Equal(TimeSpan.FromMilliseconds(150), settings.ElectionTimeoutMin);
            Assert.Equal(TimeSpan.FromMilliseconds(300), settings.ElectionTimeoutMax);
            Assert.Equal(TimeSpan.FromMilliseconds(50), settings.HeartbeatInterval);
            Assert.Null(settings.RandomSeed);
        }
    }

    [Fact]
    public void Overrides_FromHocon_AreRead()
    {
        var settings = Parse("""
            raft {
              election-timeout-min = 1s
              election-timeout-max = 2500ms
              heartbeat-interval = 100 milliseconds
              random-seed = 1234
            }
            """);

        Assert.Equal(TimeSpan.FromSeconds(1), settings.ElectionTimeoutMin);
        Assert.Equal(TimeSpan.FromMilliseconds(2500), settings.ElectionTimeoutMax);
        Assert.Equal(TimeSpan.FromMilliseconds(100), settings.HeartbeatInterval);
        Assert.Equal(1234, settings.RandomSeed);
    }

    // An application sets only what it changes; the rest comes from the embedded defaults.
    [Fact]
    public void PartialOverride_KeepsTheOtherDefaults()
    {
        var settings = Parse("raft.heartbeat-interval = 20ms");

        Assert.Equal(TimeSpan.FromMilliseconds(20), settings.HeartbeatInterval);
        Assert.Equal(TimeSpan.FromMilliseconds(150), settings.ElectionTimeoutMin);
        Assert.Equal(TimeSpan.FromMilliseconds(300), settings.ElectionTimeoutMax);
    }

    [Theory]
    [InlineData("300ms", "300ms")]
    [InlineData("400ms", "300ms")]
    [InlineData("1s", "999ms")]
    public void MinNotBelowMax_FailsNamingElectionTimeoutMax(string min, string max)
    {
        var e = Fails($"raft {{ election-timeout-min = {min}, election-timeout-max = {max}, heartbeat-interval = 10ms }}");

        Assert.Equal("raft.election-timeout-max", e.Key);
        Assert.StartsWith("raft.election-timeout-max", e.Message);
    }

    [Theory]
    [InlineData("0ms")]
    [InlineData("-10ms")]
    public void NonPositiveMin_FailsNamingElectionTimeoutMin(string min)
    {
        var e = Fails($"raft.election-timeout-min = {min}");

        Assert.Equal("raft.election-timeout-min", e.Key);
    }

    // A heartbeat must come at least twice per shortest election timeout, so that one lost
    // heartbeat does not start an election. The boundary (exactly half) is accepted.
    [Theory]
    [InlineData(150, 76, false)]
    [InlineData(150, 75, true)]
    [InlineData(150, 150, false)]
    [InlineData(150, 1000, false)]
    [InlineData(150, 0, false)]
    [InlineData(150, -5, false)]
    [InlineData(150, 1, true)]
    [InlineData(1000, 500, true)]
    [InlineData(1000, 501, false)]
    public void Heartbeat_MustBePositiveAndAtMostHalfOfMin(int minMs, int heartbeatMs, bool valid)
    {
        var hocon = $"raft {{ election-timeout-min = {minMs}ms, election-timeout-max = 10s, heartbeat-interval = {heartbeatMs}ms }}";

        if (valid)
        {
            Assert.Equal(TimeSpan.FromMilliseconds(heartbeatMs), Parse(hocon).HeartbeatInterval);
        }
        else
        {
            var e = Fails(hocon);
            Assert.Equal("raft.heartbeat-interval", e.Key);
            Assert.StartsWith("raft.heartbeat-interval", e.Message);
        }
    }

    [Theory]
    [InlineData("raft.election-timeout-min")]
    [InlineData("raft.election-timeout-max")]
    [InlineData("raft.heartbeat-interval")]
    public void NonDurationValue_FailsNamingItsKey(string key)
    {
        var e = Fails($"{key} = banana");

        Assert.Equal(key, e.Key);
        Assert.StartsWith(key, e.Message);
    }

    [Fact]
    public void Sessions_DefaultToTenMinutesTwoHundredThousandAndFifteenSecondsMinIdle_AndAreRead()
    {
        Assert.Equal(new SessionPolicy(TimeSpan.FromMinutes(10), 200_000, TimeSpan.FromSeconds(15)), RaftSettings.Default.Sessions);
        Assert.Equal(SessionPolicy.Default, RaftSettings.Default.Sessions);

        var settings = Parse("raft.sessions { expiry = 90s, max = 500, min-idle = 20s }");

        Assert.Equal(new SessionPolicy(TimeSpan.FromSeconds(90), 500, TimeSpan.FromSeconds(20)), settings.Sessions);
    }

    [Theory]
    [InlineData("raft.sessions.expiry", "0s")]
    [InlineData("raft.sessions.expiry", "-1m")]
    [InlineData("raft.sessions.expiry", "1500us")]
    [InlineData("raft.sessions.expiry", "banana")]
    [InlineData("raft.sessions.expiry", "infinite")]
    [InlineData("raft.sessions.max", "0")]
    [InlineData("raft.sessions.max", "-5")]
    [InlineData("raft.sessions.max", "many")]
    [InlineData("raft.sessions.max", "3000000000")]
    [InlineData("raft.sessions.min-idle", "-1s")]
    [InlineData("raft.sessions.min-idle", "1500us")]
    [InlineData("raft.sessions.min-idle", "banana")]
    public void MalformedSessionSetting_FailsNamingItsKey(string key, string value)
    {
        var e = Fails($"{key} = {value}");

        Assert.Equal(key, e.Key);
        Assert.StartsWith(key, e.Message);
    }

    [Fact]
    public void An_expiry_shorter_than_the_minimum_idle_age_fails_naming_the_expiry()
    {
        var e = Fails("raft.sessions { expiry = 10s, min-idle = 15s }");

        Assert.Equal("raft.sessions.expiry", e.Key);
        Assert.Contains("raft.sessions.min-idle", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("raft.election-timeout-min")]
    [InlineData("raft.heartbeat-interval")]
    public void InfiniteDuration_FailsNamingItsKey(string key)
    {
        var e = Fails($"{key} = infinite");

        Assert.Equal(key, e.Key);
    }

    [Theory]
    [InlineData("off", null)]
    [InlineData("\"\"", null)]
    [InlineData("0", 0)]
    [InlineData("42", 42)]
    [InlineData("-7", -7)]
    [InlineData("2147483647", int.MaxValue)]
    [InlineData("\"123\"", 123)]
    public void RandomSeed_IsAnIntOrOff(string value, int? expected)
    {
        Assert.Equal(expected, Parse($"raft.random-seed = {value}").RandomSeed);
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("on")]
    [InlineData("1.5")]
    [InlineData("99999999999")]
    public void RandomSeed_NotAnInt_FailsNamingRandomSeed(string value)
    {
        var e = Fails($"raft.random-seed = {value}");

        Assert.Equal("raft.random-seed", e.Key);
    }

    // PreVote and CheckQuorum are on unless turned off; a value that is not a switch fails naming its key.
    [Fact]
    public void PreVoteAndCheckQuorum_AreOnByDefault()
    {
        Assert.True(RaftSettings.Default.PreVote);
        Assert.True(RaftSettings.Default.CheckQuorum);
        var built = new RaftSettings(TimeSpan.FromMilliseconds(150), TimeSpan.FromMilliseconds(300), TimeSpan.FromMilliseconds(50));
        Assert.True(built.PreVote);
        Assert.True(built.CheckQuorum);
    }

    [Theory]
    [InlineData("raft.pre-vote = off", false, true)]
    [InlineData("raft.check-quorum = off", true, false)]
    [InlineData("raft { pre-vote = false, check-quorum = off }", false, false)]
    [InlineData("raft { pre-vote = on, check-quorum = true }", true, true)]
    public void PreVoteAndCheckQuorum_AreRead(string hocon, bool preVote, bool checkQuorum)
    {
        var settings = Parse(hocon);

        Assert.Equal(preVote, settings.PreVote);
        Assert.Equal(checkQuorum, settings.CheckQuorum);
    }

    [Theory]
    [InlineData("raft.pre-vote")]
    [InlineData("raft.check-quorum")]
    public void PreVoteAndCheckQuorum_NotASwitch_FailNamingTheKey(string key)
    {
        Assert.Equal(key, Fails($"{key} = maybe").Key);
        Assert.Equal(key, Fails($"{key} = 2").Key);
    }

    // Lease reads rely on clocks: off unless asked for, and only with CheckQuorum, which they rest on.
    [Theory]
    [InlineData("", false)]
    [InlineData("raft.lease-reads = on", true)]
    [InlineData("raft { lease-reads = on, check-quorum = on }", true)]
    public void LeaseReads_AreOffByDefault_AndRead(string hocon, bool leaseReads) =>
        Assert.Equal(leaseReads, Parse(hocon).LeaseReads);

    [Theory]
    [InlineData("raft { lease-reads = on, check-quorum = off }")]
    [InlineData("raft.lease-reads = sometimes")]
    public void LeaseReads_WithoutCheckQuorumOrNotASwitch_FailNamingTheKey(string hocon) =>
        Assert.Equal("raft.lease-reads", Fails(hocon).Key);

    // A leader hands over on CoordinatedShutdown for up to 2 s unless told otherwise; settings built
    // in code (tests, in-process clusters) hand over only when asked to.
    [Theory]
    [InlineData("", 2000)]
    [InlineData("raft.transfer-leadership-on-shutdown = 500ms", 500)]
    [InlineData("raft.transfer-leadership-on-shutdown = off", 0)]
    [InlineData("raft.transfer-leadership-on-shutdown = 0s", 0)]
    public void TransferLeadershipOnShutdown_IsRead(string hocon, int milliseconds)
    {
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), Parse(hocon).TransferLeadershipOnShutdown);
        Assert.Equal(TimeSpan.Zero, new RaftSettings(TimeSpan.FromMilliseconds(150), TimeSpan.FromMilliseconds(300), TimeSpan.FromMilliseconds(50)).TransferLeadershipOnShutdown);
    }

    [Theory]
    [InlineData("maybe")]
    [InlineData("-1s")]
    public void TransferLeadershipOnShutdown_NotADurationOrOff_FailsNamingTheKey(string value) =>
        Assert.Equal("raft.transfer-leadership-on-shutdown", Fails($"raft.transfer-leadership-on-shutdown = {value}").Key);

    // The same checks guard settings built in code.
    [Fact]
    public void Constructor_ValidatesLikeFromConfig()
    {
        static TimeSpan ms(int milliseconds) => TimeSpan.FromMilliseconds(milliseconds);

        Assert.Equal("raft.election-timeout-min", Assert.Throws<RaftConfigurationException>(() => new RaftSettings(ms(0), ms(300), ms(50))).Key);
        Assert.Equal("raft.election-timeout-max", Assert.Throws<RaftConfigurationException>(() => new RaftSettings(ms(300), ms(150), ms(50))).Key);
        Assert.Equal("raft.heartbeat-interval", Assert.Throws<RaftConfigurationException>(() => new RaftSettings(ms(150), ms(300), ms(100))).Key);
        Assert.Equal(9, new RaftSettings(ms(150), ms(300), ms(75), randomSeed: 9).RandomSeed);
    }

    [Fact]
    public void A_shared_configured_seed_gives_each_node_its_own_reproducible_election_seed()
    {
        var settings = new RaftSettings(TimeSpan.FromMilliseconds(150), TimeSpan.FromMilliseconds(300), TimeSpan.FromMilliseconds(50), randomSeed: 42);

        Assert.Equal(settings.ElectionSeedFor("n1"), settings.ElectionSeedFor("n1"));
        Assert.NotEqual(settings.ElectionSeedFor("n1"), settings.ElectionSeedFor("n2"));
        Assert.NotEqual(settings.ElectionSeedFor("n2"), settings.ElectionSeedFor("n3"));
    }
}
