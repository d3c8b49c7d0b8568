using RaftActors.Core;
using RaftActors.Storage;

namespace RaftActors.Tests.Storage;

public class InMemoryRaftStorageTests
{
    [Fact]
    public void NewStore_HoldsTheInitialState_OrTheGivenOne()
    {
        Assert.Equal(HardState.Initial, new InMemoryRaftStorage().HardState);
        Assert.Equal(new HardState(4, "n2"), new InMemoryRaftStorage(new HardState(4, "n2")).HardState);
    }

    [Theory]
    [InlineData(0, null)]
    [InlineData(1, "n2")]
    [InlineData(long.MaxValue, "n3")]
    public async Task HardState_RoundTrips(long term, string? votedFor)
    {
        var store = new InMemoryRaftStorage();

        await store.SaveHardStateAsync(new HardState(term, votedFor));

        Assert.Equal(new HardState(term, votedFor), store.HardState);
    }

    // The same instance handed to a restarted node is its "disk": it returns the last save.
    [Fact]
    public async Task SameInstance_ReturnsTheLastSavedState()
    {
        IRaftStorage store = new InMemoryRaftStorage();

        await store.SaveHardStateAsync(new HardState(1, "n1"));
        await store.SaveHardStateAsync(new HardState(2, null));
        var save = store.SaveHardStateAsync(new HardState(2, "n3"));

        Assert.True(save.IsCompletedSuccessfully);
        Assert.Equal(new HardState(2, "n3"), store.HardState);
    }
}
