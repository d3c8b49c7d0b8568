using System.Runtime.Serialization;
using Akka.Actor;

namespace RaftActors.Coordination.Tests;

public sealed class LeaseMessageSerializerTests : Akka.TestKit.Xunit2.TestKit
{
    public LeaseMessageSerializerTests()
        : base(LeaseMessageSerializer.Config)
    {
    }

    public static TheoryData<object> Messages() => new()
    {
        new AcquireLease("lease", "owner@host:1", TimeSpan.FromSeconds(120)),
        new ReleaseLease("lease", "owner"),
        new ReadLease("lease"),
        new LeaseRecord("lease", "owner", 42, DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_123)),
        new LeaseResult(true, new LeaseRecord("lease", "owner", 42, DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_123))),
        new LeaseResult(false, null),
    };

    [Theory]
    [MemberData(nameof(Messages))]
    public void Each_message_is_bound_to_the_lease_serializer_and_round_trips(object message)
    {
        var serializer = Sys.Serialization.FindSerializerFor(message);
        Assert.IsType<LeaseMessageSerializer>(serializer);
        var bytes = serializer.ToBinary(message);

        Assert.Equal(message, Sys.Serialization.Deserialize(bytes, serializer.Identifier, Akka.Serialization.Serialization.ManifestFor(serializer, message)));
    }

    [Fact]
    public void Truncated_bytes_fail_with_a_SerializationException()
    {
        var serializer = (LeaseMessageSerializer)Sys.Serialization.FindSerializerForType(typeof(AcquireLease));
        var bytes = serializer.ToBinary(new AcquireLease("lease", "owner", TimeSpan.FromSeconds(1)));

        Assert.Throws<SerializationException>(() => serializer.FromBinary(bytes[..^2], "A"));
    }

    [Fact]
    public async Task Register_adds_it_to_a_running_system()
    {
        using var system = ActorSystem.Create("plain");
        LeaseMessageSerializer.Register(system);

        Assert.IsType<LeaseMessageSerializer>(system.Serialization.FindSerializerForType(typeof(LeaseResult)));
        await system.Terminate();
    }
}
