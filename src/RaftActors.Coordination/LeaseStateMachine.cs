using RaftActors.StateMachine;

namespace RaftActors.Coordination;

/// <summary>
/// The leases a Raft cluster keeps: one <see cref="LeaseRecord"/> per lease name. Run it on the
/// Raft nodes (<c>RaftNode.Props(..., () => new LeaseStateMachine())</c>, with
/// <see cref="LeaseMessageSerializer.Config"/> in their configuration); <see cref="RaftLease"/>
/// sends it commands.
/// </summary>
/// <remarks>
/// <para>Time is the cluster's (<see cref="ITimedStateMachine"/>): cluster time as the Raft leaders
/// stamp it into the entries, never a replica's own clock, so every replica grants and refuses the same.
/// A record is in force while that time is before its expiry; an expired record is free.</para>
/// <list type="bullet">
/// <item><see cref="AcquireLease"/>: a free lease is granted, with the command's log index as its
/// fencing token; its holder renews it (same token, new expiry); anyone else is refused while it
/// is in force.</item>
/// <item><see cref="ReleaseLease"/>: its holder gives it up at once; anyone else changes nothing.</item>
/// </list>
/// <para>As commands are applied one at a time in log order, at most one owner holds a lease at
/// any time the leader stamps.</para>
/// </remarks>
public sealed class LeaseStateMachine : ITimedStateMachine, ISnapshotStateMachine
{
    private const byte SnapshotFormat = 1;

    private readonly Dictionary<string, LeaseRecord> _leases = new(StringComparer.Ordinal);

    // The cluster's time at the last entry applied: what a read sees.
    private DateTimeOffset? _now;

    public object? Apply(long index, object command, DateTimeOffset? time)
    {
        _now = time;
        return command switch
        {
            AcquireLease acquire => Acquire(index, acquire, time ?? throw NoTime()),
            ReleaseLease release => Release(release),
            _ => throw new InvalidOperationException($"{command.GetType().Name} is not a lease command"),
        };
    }

    public object? Query(object query) => query switch
    {
        ReadLease read => InForce(read.Name, _now) is { } holder ? new LeaseResult(true, holder) : new LeaseResult(false, null),
        _ => throw new InvalidOperationException($"{query.GetType().Name} is not a lease query"),
    };

    private LeaseResult Acquire(long index, AcquireLease acquire, DateTimeOffset now)
    {
        if (acquire.TimeToLive <= TimeSpan.Zero)
            throw new ArgumentException($"a lease's time to live must be positive, got {acquire.TimeToLive}");
        var holder = InForce(acquire.Name, now);
        if (holder is not null && holder.Owner != acquire.Owner)
            return new LeaseResult(false, holder);
        var granted = new LeaseRecord(acquire.Name, acquire.Owner, holder?.FencingToken ?? index, now + acquire.TimeToLive);
        _leases[acquire.Name] = granted;
        return new LeaseResult(true, granted);
    }

    private LeaseResult Release(ReleaseLease release)
    {
        var holder = InForce(release.Name, _now);
        if (holder is null || holder.Owner != release.Owner)
            return new LeaseResult(false, holder);
        _leases.Remove(release.Name);
        return new LeaseResult(true, null);
    }

    /// <summary>The record of <paramref name="name"/> if it is in force at <paramref name="now"/>; without a time yet, none has been granted.</summary>
    private LeaseRecord? InForce(string name, DateTimeOffset? now) =>
        _leases.TryGetValue(name, out var record) && now < record.ExpiresAt ? record : null;

    private static InvalidOperationException NoTime() =>
        new("the log carries no leader time stamps yet (a cluster still being upgraded from a release without them), and a lease cannot expire without time");

    public Task WriteSnapshotAsync(Stream destination, CancellationToken cancellationToken)
    {
        using var writer = new BinaryWriter(destination, System.Text.Encoding.UTF8, leaveOpen: true);
        writer.Write(SnapshotFormat);
        writer.Write(_now?.ToUnixTimeMilliseconds() ?? -1);
        writer.Write(_leases.Count);
        foreach (var record in _leases.Values)
            LeaseMessageSerializer.Write(writer, record);
        return Task.CompletedTask;
    }

    public Task RestoreAsync(Stream source, CancellationToken cancellationToken)
    {
        using var reader = new BinaryReader(source, System.Text.Encoding.UTF8, leaveOpen: true);
        var format = reader.ReadByte();
        if (format != SnapshotFormat)
            throw new InvalidDataException($"lease snapshot format {format} is not one this version reads ({SnapshotFormat})");
        var now = reader.ReadInt64();
        var count = reader.ReadInt32();
        _leases.Clear();
        for (var i = 0; i < count; i++)
        {
            var record = LeaseMessageSerializer.ReadRecord(reader);
            _leases[record.Name] = record;
        }

        _now = now < 0 ? null : DateTimeOffset.FromUnixTimeMilliseconds(now);
        return Task.CompletedTask;
    }
}
