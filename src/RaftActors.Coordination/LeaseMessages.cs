namespace RaftActors.Coordination;

/// <summary>A command, query or answer of <see cref="LeaseStateMachine"/>: written on the wire and in the log by <see cref="LeaseMessageSerializer"/>.</summary>
public interface ILeaseMessage;

/// <summary>
/// Takes the lease <paramref name="Name"/> for <paramref name="Owner"/> until
/// <paramref name="TimeToLive"/> after the cluster's time at this command, or renews it when
/// <paramref name="Owner"/> holds it already. Answered with <see cref="LeaseResult"/>.
/// </summary>
public sealed record AcquireLease(string Name, string Owner, TimeSpan TimeToLive) : ILeaseMessage;

/// <summary>Gives the lease <paramref name="Name"/> up if <paramref name="Owner"/> holds it. Answered with <see cref="LeaseResult"/>.</summary>
public sealed record ReleaseLease(string Name, string Owner) : ILeaseMessage;

/// <summary>A query: who holds the lease <paramref name="Name"/>, as of the last entry applied. Answered with <see cref="LeaseResult"/>.</summary>
public sealed record ReadLease(string Name) : ILeaseMessage;

/// <summary>
/// Who holds a lease: <see cref="Owner"/> since the grant at log index <see cref="FencingToken"/>
/// (a renewal keeps it, every new grant has a higher one), until <see cref="ExpiresAt"/> by the
/// cluster's time unless renewed.
/// </summary>
public sealed record LeaseRecord(string Name, string Owner, long FencingToken, DateTimeOffset ExpiresAt) : ILeaseMessage;

/// <summary>
/// The answer to a lease command or query. <see cref="Succeeded"/>: granted or renewed
/// (<see cref="AcquireLease"/>), given up (<see cref="ReleaseLease"/>), held by someone
/// (<see cref="ReadLease"/>). <see cref="Holder"/>: the record in force after the command, null
/// when nobody holds the lease.
/// </summary>
public sealed record LeaseResult(bool Succeeded, LeaseRecord? Holder) : ILeaseMessage;
