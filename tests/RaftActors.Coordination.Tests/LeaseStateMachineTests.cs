namespace RaftActors.Coordination.Tests;

/// <summary>The lease's rules, applied as a node would apply committed commands, at the times the entries carry.</summary>
public sealed class LeaseStateMachineTests
{
    private static readonly DateTimeOffset T0 = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000);
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(10);
    private readonly LeaseStateMachine _machine = new();

    [Fact]
    public void A_free_lease_is_granted_with_the_grants_index_as_fencing_token_until_the_time_to_live_after_the_entrys_time()
    {
        var granted = Acquire(5, "a", T0);

        Assert.Equal(new LeaseResult(true, new LeaseRecord("l", "a", 5, T0 + Ttl)), granted);
        Assert.Equal(granted, _machine.Query(new ReadLease("l")));
    }

    [Fact]
    public void The_holder_renews_it_with_the_same_token_and_a_later_expiry()
    {
        Acquire(5, "a", T0);

        var renewed = Acquire(9, "a", T0 + TimeSpan.FromSeconds(4));

        Assert.Equal(new LeaseResult(true, new LeaseRecord("l", "a", 5, T0 + TimeSpan.FromSeconds(4) + Ttl)), renewed);
    }

    [Fact]
    public void Another_owner_is_refused_until_the_expiry_and_granted_from_it_with_a_higher_token()
    {
        var first = Acquire(5, "a", T0).Holder;

        Assert.Equal(new LeaseResult(false, first), Acquire(6, "b", T0 + Ttl - TimeSpan.FromMilliseconds(1)));
        Assert.Equal(new LeaseResult(true, new LeaseRecord("l", "b", 7, T0 + Ttl + Ttl)), Acquire(7, "b", T0 + Ttl));
    }

    [Fact]
    public void A_holder_whose_grant_expired_gets_a_new_grant_not_a_renewal()
    {
        Acquire(5, "a", T0);

        Assert.Equal(8, Acquire(8, "a", T0 + Ttl)!.Holder!.FencingToken);
    }

    [Fact]
    public void Release_by_the_holder_frees_it_at_once_and_by_anyone_else_changes_nothing()
    {
        var first = Acquire(5, "a", T0).Holder;

        Assert.Equal(new LeaseResult(false, first), _machine.Apply(6, new ReleaseLease("l", "b"), T0));
        Assert.Equal(new LeaseResult(true, null), _machine.Apply(7, new ReleaseLease("l", "a"), T0));
        Assert.Equal(new LeaseResult(false, null), _machine.Query(new ReadLease("l")));
        Assert.Equal(8, Acquire(8, "b", T0)!.Holder!.FencingToken);
    }

    [Fact]
    public void Leases_of_different_names_are_independent()
    {
        Acquire(5, "a", T0);

        Assert.True(((LeaseResult)_machine.Apply(6, new AcquireLease("other", "b", Ttl), T0)!).Succeeded);
    }

    [Fact]
    public void A_read_sees_expiry_by_the_time_of_the_last_entry_applied()
    {
        Acquire(5, "a", T0);
        _machine.Apply(6, new ReleaseLease("x", "nobody"), T0 + Ttl);

        Assert.Equal(new LeaseResult(false, null), _machine.Query(new ReadLease("l")));
    }

    [Fact]
    public void Without_time_in_the_log_an_acquire_fails_rather_than_grant_a_lease_that_cannot_expire()
    {
        var failure = Assert.Throws<InvalidOperationException>(() => _machine.Apply(1, new AcquireLease("l", "a", Ttl), time: null));
        Assert.Contains("time stamps", failure.Message);
    }

    [Fact]
    public async Task A_snapshot_restores_the_records_and_the_time()
    {
        Acquire(5, "a", T0);
        using var stream = new MemoryStream();
        await _machine.WriteSnapshotAsync(stream, CancellationToken.None);
        stream.Position = 0;

        var restored = new LeaseStateMachine();
        await restored.RestoreAsync(stream, CancellationToken.None);

        Assert.Equal(new LeaseResult(true, new LeaseRecord("l", "a", 5, T0 + Ttl)), restored.Query(new ReadLease("l")));
        Assert.Equal(new LeaseResult(false, new LeaseRecord("l", "a", 5, T0 + Ttl)), restored.Apply(6, new AcquireLease("l", "b", Ttl), T0));
    }

    private LeaseResult Acquire(long index, string owner, DateTimeOffset time) =>
        (LeaseResult)_machine.Apply(index, new AcquireLease("l", owner, Ttl), time)!;
}
